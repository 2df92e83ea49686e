//! Refused control requests: every one is counted by reason in
//! `signpost_control_refused_total{endpoint,reason}` and logged with the
//! peer's address, so a stolen or guessed token shows up — but through a
//! token bucket, so a flood of bad requests cannot flood the log. Lines
//! the bucket holds back are counted and the next line says how many.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::ApiError;
use crate::app::App;

/// Log lines allowed in a burst.
const BURST: u32 = 10;

/// One more line is allowed every this long once the burst is spent.
const REFILL: Duration = Duration::from_millis(100);

/// The process's budget of refusal log lines.
static BUDGET: LogBudget = LogBudget::new();

/// A token bucket of log lines, fed by the clock passed in.
#[derive(Debug)]
pub struct LogBudget(Mutex<Bucket>);

#[derive(Debug)]
struct Bucket {
    /// Lines that may be written now.
    tokens: u32,
    /// When `tokens` was last topped up; `None` before the first line.
    at: Option<Instant>,
    /// Lines held back since the last one written.
    suppressed: u64,
}

/// Counts a refused request to `endpoint` from `peer` and logs it, unless
/// the log budget is spent.
pub fn refused(app: &App, endpoint: &'static str, peer: SocketAddr, err: &ApiError) {
    app.metrics.refuse_control(endpoint, err.reason());
    if let Some(suppressed) = BUDGET.take(Instant::now()) {
        tracing::warn!(
            %peer,
            endpoint,
            reason = err.reason(),
            error = %err,
            suppressed,
            "control request refused"
        );
    }
}

// === impl LogBudget ===

impl LogBudget {
    /// A full bucket.
    pub const fn new() -> Self {
        LogBudget(Mutex::new(Bucket {
            tokens: BURST,
            at: None,
            suppressed: 0,
        }))
    }

    /// Whether a line may be written at `now`: `Some(lines held back since
    /// the last one)`, or `None` (and the line is counted as held back).
    pub fn take(&self, now: Instant) -> Option<u64> {
        let mut bucket = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let at = *bucket.at.get_or_insert(now);
        let earned = now.saturating_duration_since(at).as_nanos() / REFILL.as_nanos();
        if earned >= u128::from(BURST) {
            (bucket.tokens, bucket.at) = (BURST, Some(now));
        } else if earned > 0 {
            let earned = earned as u32;
            bucket.tokens = BURST.min(bucket.tokens + earned);
            bucket.at = Some(at + REFILL * earned);
        }
        if bucket.tokens == 0 {
            bucket.suppressed += 1;
            return None;
        }
        bucket.tokens -= 1;
        Some(std::mem::take(&mut bucket.suppressed))
    }
}

impl Default for LogBudget {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_line_per_refill_and_the_count_of_the_rest() {
        let budget = LogBudget::new();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(budget.take(t0), Some(0));
        }
        for _ in 0..5 {
            assert_eq!(budget.take(t0 + REFILL / 2), None);
        }
        assert_eq!(budget.take(t0 + REFILL), Some(5));
        assert_eq!(budget.take(t0 + REFILL), None);
        // A long quiet spell refills the burst, never more.
        let later = t0 + REFILL * 1000;
        for _ in 0..BURST {
            assert!(budget.take(later).is_some());
        }
        assert_eq!(budget.take(later), None);
    }
}
