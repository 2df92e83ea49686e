//! The one door for load reports, pushed (`http/control.rs`) or polled
//! (`poll.rs`): each read its body its own way, then hands the report —
//! or why there is none — to [`receive`], which files it and counts what
//! became of it. This is the only place `signpost_reports_accepted_total`
//! and `signpost_reports_rejected_total{reason}` are counted, so a reason
//! is counted once, the same way, whichever way the report came.

use signpost_shared::{LoadReport, MAX_REPORT_BYTES, ReportError};
use tokio::time::Instant;

use crate::app::App;
use crate::registry::{IngestError, Observed, Source};

/// Why a report was refused; each variant is one `reason` label.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The body exceeds [`MAX_REPORT_BYTES`].
    #[error("report body exceeds {MAX_REPORT_BYTES} bytes")]
    TooLarge,
    /// The body could not be read.
    #[error("could not read body: {0}")]
    Body(String),
    /// The body is not a valid report.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The report is valid but cannot be filed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

// === impl Refusal ===

impl Refusal {
    /// The short, fixed label of `signpost_reports_rejected_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::TooLarge => "too_large",
            Refusal::Body(_) => "body",
            Refusal::Report(err) => err.reason(),
            Refusal::Ingest(err) => err.reason(),
        }
    }
}

/// Files `report`, received from `source` at `now` (or the reason it could
/// not be had), and counts the outcome: accepted, a replay (ignored, and
/// counted as rejected with reason `replay`), or refused with its reason.
pub fn receive(
    app: &App,
    source: Source,
    report: Result<LoadReport, Refusal>,
    now: Instant,
) -> Result<Observed, Refusal> {
    let outcome = report.and_then(|report| Ok(app.ingest(source, report, now)?));
    match &outcome {
        Ok(Observed::Accepted(_) | Observed::Ejected(..)) => {
            app.metrics.reports_accepted.inc();
        }
        Ok(Observed::Replay { .. }) => app.metrics.reject("replay"),
        Err(refusal) => app.metrics.reject(refusal.reason()),
    }
    outcome
}
