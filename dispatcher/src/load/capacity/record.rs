//! A node's report statistics: what a run of its reports adds up to
//! ([`Record`]) and how they scatter about their average ([`Scatter`]).
//! The controller averages these sums and judges noise by their standard
//! errors; kept apart as plain statistics, with none of its decisions.

use super::CONVEX_NOISE_MIN_REPORTS;

/// Neighbouring reports' likeness (lag-1 correlation) is counted up to
/// this: a queue's reports a few milliseconds apart are nearly the same
/// report, and clamped lower they counted as ~100 independent ones.
const MAX_LIKENESS: f64 = 0.999;

/// What a run of a node's reports adds up to.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Record {
    /// Seconds of reports it covers.
    pub(super) covered: f64,
    /// Reports it covers.
    pub(super) reports: f64,
    /// Busy seconds those reports add up to.
    pub(super) work: f64,
    /// Redirects the node was sent over those reports, and the redirects
    /// its share of the cycle named it for: `least-load` moves a
    /// saturated node's turns to others, so a node sent much less than
    /// its share is over-shared by that much, whatever its utilisation
    /// (capped at 100%) can show. An interval the dispatcher had no pace
    /// to name by (the pool's first after a start) counts as named what it
    /// was sent: counted as none named, every node of a pool read as sent
    /// twice its share a report later, and a correction started from that
    /// double share ([`CapacityStep::sent_over_named`](super::CapacityStep::sent_over_named)).
    pub(super) sent: f64,
    pub(super) named: f64,
    /// How much its connections grew over those reports: what it was sent
    /// and did not complete.
    pub(super) grew: f64,
    /// How the reports scatter about their average.
    scatter: Scatter,
}

/// The scatter of a node's reports since its last change of step, to
/// tell a deviation from the noise of the figure itself (see
/// [`NOISE_SIGNIFICANCE`](super::NOISE_SIGNIFICANCE)).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Scatter {
    /// Time-weighted squares of the utilisations reported.
    squares: f64,
    /// The previous report's utilisation, and the products of consecutive
    /// ones over that many pairs, for how alike neighbours are.
    previous: Option<f64>,
    lagged: f64,
    pairs: f64,
}

// === impl Record ===

impl Record {
    /// Folds in a report of utilisation `u` over `elapsed` seconds, over
    /// which the node was `sent` redirects of the `named` its share named.
    pub(super) fn add(&mut self, u: f64, elapsed: f64, sent: f64, named: f64) {
        self.covered += elapsed;
        self.reports += 1.0;
        self.work += u * elapsed;
        self.sent += sent;
        self.named += named;
        self.scatter.add(u, elapsed);
    }

    /// The reports' time-weighted mean utilisation.
    pub(super) fn average(&self) -> f64 {
        self.work / self.covered
    }

    /// [`Scatter::moments`] of these reports.
    pub(super) fn moments(&self) -> Option<(f64, f64)> {
        self.scatter.moments(self.work, self.covered)
    }

    /// [`Scatter::error`] of their average, counted as `reports` reports.
    pub(super) fn error(
        &self,
        reports: f64,
        likeness: Option<f64>,
        at_least: Option<f64>,
    ) -> Option<f64> {
        self.scatter
            .error(self.work, self.covered, reports, likeness, at_least)
    }

    /// The error a convex figure's record is judged with: of its average
    /// over all its reports, with `likeness` and at least the `peers`'
    /// variance; `None` before [`CONVEX_NOISE_MIN_REPORTS`].
    pub(super) fn convex_error(&self, likeness: Option<f64>, peers: Option<f64>) -> Option<f64> {
        if self.reports < CONVEX_NOISE_MIN_REPORTS {
            return None;
        }
        self.error(self.reports, likeness, peers)
    }

    /// This record less its latest `segment`: the reports before it.
    pub(super) fn before(&self, segment: &Record) -> Record {
        Record {
            covered: self.covered - segment.covered,
            reports: self.reports - segment.reports,
            work: self.work - segment.work,
            sent: self.sent - segment.sent,
            named: self.named - segment.named,
            grew: self.grew - segment.grew,
            scatter: self.scatter.less(&segment.scatter),
        }
    }
}

// === impl Scatter ===

impl Scatter {
    /// These reports' sums less a later run's of them; the pair across
    /// the boundary stays with the earlier, which says nothing of it.
    fn less(&self, later: &Scatter) -> Scatter {
        Scatter {
            squares: self.squares - later.squares,
            previous: None,
            lagged: self.lagged - later.lagged,
            pairs: self.pairs - later.pairs,
        }
    }

    /// Folds in a utilisation `u` reported over `elapsed` seconds.
    fn add(&mut self, u: f64, elapsed: f64) {
        self.squares += u * u * elapsed;
        if let Some(previous) = self.previous.replace(u) {
            self.lagged += u * previous;
            self.pairs += 1.0;
        }
    }

    /// The variance of the reports about their time-weighted mean and the
    /// covariance of neighbours, given the `work` (busy seconds) they add
    /// up to over `covered` seconds; `None` before two reports.
    fn moments(&self, work: f64, covered: f64) -> Option<(f64, f64)> {
        if self.pairs < 1.0 || covered <= 0.0 {
            return None;
        }
        let average = work / covered;
        let squared = average * average;
        Some((
            (self.squares / covered - squared).max(0.0),
            self.lagged / self.pairs - squared,
        ))
    }

    /// The standard error of the reports' time-weighted mean (`work` over
    /// `covered` seconds), counted as `reports` reports of which
    /// neighbours' likeness — `likeness` if given, else their own — leaves
    /// fewer independent ones (an AR(1) effective count), their variance
    /// taken as `at_least` where that is more; `None` when neither
    /// scatters.
    fn error(
        &self,
        work: f64,
        covered: f64,
        reports: f64,
        likeness: Option<f64>,
        at_least: Option<f64>,
    ) -> Option<f64> {
        let (own, covariance) = self.moments(work, covered)?;
        let variance = own.max(at_least.unwrap_or(0.0));
        if variance <= 0.0 {
            return None;
        }
        // Reports that do not scatter say nothing of how alike they are.
        let likeness = likeness.unwrap_or_else(|| {
            if own > 0.0 {
                self::likeness(covariance, own)
            } else {
                0.0
            }
        });
        let independent = (reports * (1.0 - likeness) / (1.0 + likeness)).max(1.0);
        Some((variance / independent).sqrt())
    }
}

/// Neighbouring reports' lag-1 correlation from their covariance and
/// variance, counted up to [`MAX_LIKENESS`].
pub(super) fn likeness(covariance: f64, variance: f64) -> f64 {
    (covariance / variance).clamp(0.0, MAX_LIKENESS)
}
