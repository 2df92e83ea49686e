//! `--app-log`: the application's own access log, tailed, as passive health.
//!
//! Every interval the agent reads what the log gained, parses each line
//! ([`parse`]: nginx `combined` plus `$request_time`, or JSON lines) and
//! feeds a [`Window`], whose requests/s, error rate (5xx) and p90 go out in
//! the report. It follows rotation: when the path names a new file (rename
//! and reopen, as logrotate does) it finishes the old one and starts the new
//! one from its beginning; when the file shrank (copytruncate) it starts
//! over. The first file is read from its end: history is not news.
//!
//! Cost is bounded however fast the log grows: each interval reads at most
//! [`MAX_READ`] bytes (the newest, when more arrived: error rate and p90 are
//! then those of a sample, and rps counts the lines read), lines longer than
//! [`MAX_LINE`] are skipped, and the window is a fixed set of counters.

pub mod parse;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use signpost_shared::LoadReport;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

pub use parse::Format;

use crate::app_report::AppReports;
use crate::window::{self, Window};

/// The most bytes read per interval.
pub const MAX_READ: u64 = 1024 * 1024;

/// The longest line parsed; a longer one is skipped whole.
pub const MAX_LINE: usize = 16 * 1024;

/// Follows one log path across rotations.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    /// The file being read, its (device, inode) and the offset read to.
    open: Option<(File, (u64, u64), u64)>,
    /// The start of a line whose end has not been written yet.
    partial: Vec<u8>,
    /// The partial line is too long and is being skipped.
    skipping: bool,
}

// === impl Tail ===

impl Tail {
    /// Starts following `path` from the end of the file it names now (or
    /// from the beginning of the first one to appear).
    pub fn new(path: &Path) -> Self {
        let mut tail = Tail {
            path: path.to_owned(),
            open: None,
            partial: Vec::new(),
            skipping: false,
        };
        if let Ok(file) = File::open(path)
            && let Ok(meta) = file.metadata()
        {
            tail.open = Some((file, (meta.dev(), meta.ino()), meta.len()));
        }
        tail
    }

    /// Hands every complete line written since the last call to `line`.
    pub fn read(&mut self, line: &mut impl FnMut(&[u8])) -> io::Result<()> {
        let current = std::fs::metadata(&self.path).ok();
        let id = current.as_ref().map(|m| (m.dev(), m.ino()));
        if let Some((file, open_id, offset)) = &mut self.open {
            if Some(*open_id) == id && current.as_ref().is_some_and(|m| m.len() < *offset) {
                // Truncated in place: start over.
                *offset = 0;
                self.partial.clear();
            }
            drain(file, offset, &mut self.partial, &mut self.skipping, line)?;
            if Some(*open_id) == id {
                return Ok(());
            }
        }
        // Rotated (or appeared): the old file is finished, read the new one
        // from its beginning.
        self.open = None;
        self.partial.clear();
        self.skipping = false;
        if let Some(id) = id
            && let Ok(file) = File::open(&self.path)
        {
            let (mut file, mut offset) = (file, 0);
            drain(
                &mut file,
                &mut offset,
                &mut self.partial,
                &mut self.skipping,
                line,
            )?;
            self.open = Some((file, id, offset));
        }
        Ok(())
    }
}

/// Reads `file` from `offset` to its end (at most [`MAX_READ`] bytes, the
/// newest), handing complete lines to `line`.
fn drain(
    file: &mut File,
    offset: &mut u64,
    partial: &mut Vec<u8>,
    skipping: &mut bool,
    line: &mut impl FnMut(&[u8]),
) -> io::Result<()> {
    let len = file.metadata()?.len();
    if len <= *offset {
        return Ok(());
    }
    if len - *offset > MAX_READ {
        // Too far behind: jump to the newest bytes, mid-line.
        *offset = len - MAX_READ;
        partial.clear();
        *skipping = true;
    }
    file.seek(SeekFrom::Start(*offset))?;
    let mut chunk = Vec::with_capacity((len - *offset) as usize);
    file.take(len - *offset).read_to_end(&mut chunk)?;
    *offset += chunk.len() as u64;
    let mut rest = chunk.as_slice();
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let (head, tail) = (&rest[..end], &rest[end + 1..]);
        if !*skipping {
            if partial.is_empty() && head.len() <= MAX_LINE {
                line(head);
            } else if partial.len() + head.len() <= MAX_LINE {
                partial.extend_from_slice(head);
                line(partial);
            }
        }
        partial.clear();
        *skipping = false;
        rest = tail;
    }
    if !*skipping && partial.len() + rest.len() <= MAX_LINE {
        partial.extend_from_slice(rest);
    } else {
        partial.clear();
        *skipping = true;
    }
    Ok(())
}

/// Reads `tail` every `interval`, writing the figures of the last ten
/// seconds into `reports` (they go out with the next sample). Runs until
/// cancelled; an unreadable log is logged once and retried.
pub async fn run(
    mut tail: Tail,
    format: Format,
    reports: watch::Sender<LoadReport>,
    apps: Arc<AppReports>,
    interval: Duration,
) {
    let path = tail.path.clone();
    let mut window = Window::new(interval);
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        let now = Instant::now();
        let mut record = |line: &[u8]| {
            if let Some(outcome) = format.parse(line) {
                window.record(outcome.ok, outcome.latency, now);
            }
        };
        match (tail.read(&mut record), failing) {
            (Err(err), false) => {
                tracing::warn!(path = %path.display(), error = %err, "cannot read --app-log");
                failing = true;
            }
            (Ok(()), true) => failing = false,
            _ => {}
        }
        let figures = window.figures(now);
        reports.send_if_modified(|report| {
            window::apply(report, figures);
            apps.overlay(report, now);
            false
        });
    }
}

#[cfg(test)]
mod tests;
