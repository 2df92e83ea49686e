//! The overload-shedding controller: a loop that, ten times a second while
//! `--overload shed` is in force, reads the pool's least projected load,
//! and whether every eligible backend reports itself full, and hands them
//! to the public listener's shedder ([`crate::edge`]). Like
//! `health.rs`, it is only the loop: the policy is `edge::shed`'s, and
//! keeping the loop here keeps `edge` below `app`.

use std::sync::Arc;

use signpost_shared::DashboardView;
use tokio::time::{Instant, MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::Overload;
use crate::edge::shed::{EVERY, FULL, Reading};

/// The least projected load among eligible backends, and whether all of
/// them report at least [`FULL`]; `None` without an eligible backend.
fn read(view: &DashboardView) -> Option<Reading> {
    let eligible = || view.backends.iter().filter(|b| b.eligible);
    let least = eligible()
        .map(|b| b.projected_load)
        .min_by(f64::total_cmp)?;
    let full = eligible().all(|b| b.cpu_percent / 100.0 >= FULL);
    Some(Reading { least, full })
}

/// The controller: updates `app`'s shedder every [`EVERY`] while
/// `--overload shed` is in force (a reload may switch it), until
/// `shutdown`. It reads the whole dashboard view each time, so with shedding
/// on it costs what a dashboard poll ten times a second costs.
pub async fn run(app: Arc<App>, shutdown: CancellationToken) {
    let mut tick = interval(EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let on = app.config().overload == Overload::Shed;
        let reading = match on {
            true => read(&app.dashboard(Instant::now())),
            false => None,
        };
        app.edge.update_shedding(on, reading);
    }
}
