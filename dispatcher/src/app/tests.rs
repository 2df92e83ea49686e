//! The app's assembly: listeners, shutdown and the tasks it starts.

use std::time::Duration;

use super::*;
use crate::config::Args;
use crate::registry::Change;
use tokio::time::sleep;

fn report(seq: u64, cpu_percent: f64, state: NodeState) -> LoadReport {
    LoadReport {
        cpu_percent,
        state,
        ..crate::registry::tests::report("a", seq)
    }
}

fn ingest(app: &App, report: LoadReport) -> Change {
    match app.ingest(Source::Push, report, Instant::now()) {
        Ok(Observed::Accepted(change)) => change,
        other => panic!("report not accepted: {other:?}"),
    }
}

/// Sleeps `ms` of paused time, during which the maintenance loop runs.
async fn after_ms(ms: u64) {
    sleep(Duration::from_millis(ms)).await;
}

/// A default app whose maintenance loop is running, and how to stop it.
async fn maintained() -> (Arc<App>, impl AsyncFnOnce()) {
    let app = Arc::new(App::new(Config::load(&Args::default()).unwrap()));
    let shutdown = CancellationToken::new();
    let maintain = tokio::spawn({
        let (app, shutdown) = (app.clone(), shutdown.clone());
        async move { app.maintain(shutdown).await }
    });
    after_ms(1).await;
    let stop = async move || {
        shutdown.cancel();
        maintain.await.unwrap();
    };
    (app, stop)
}

#[tokio::test(start_paused = true)]
async fn membership_changes_rebuild_soon_and_load_changes_count_at_once() {
    let (app, stop) = maintained().await;

    // A new node: in the pool after one (paused, so minimal) gap.
    assert_eq!(
        ingest(&app, report(1, 10.0, NodeState::Ready)),
        Change::Membership
    );
    after_ms(MIN_REBUILD_GAP.as_millis() as u64 + 1).await;
    let pool = app.pool.load_full();
    assert_eq!(pool.backends().len(), 1);

    // A load-only report counts in the same snapshot at once...
    assert_eq!(
        ingest(&app, report(2, 70.0, NodeState::Ready)),
        Change::Load
    );
    assert!((pool.backends()[0].load.projection().base - 0.70).abs() < 1e-9);
    // ...and the lazy rebuild that refreshes the draw weights follows.
    after_ms(1).await;
    assert!(
        Arc::ptr_eq(&pool, &app.pool.load_full()),
        "rebuilt too early"
    );
    after_ms(MIN_REBUILD_GAP.as_millis() as u64 + 1).await;
    assert!(!Arc::ptr_eq(&pool, &app.pool.load_full()), "never rebuilt");

    // Leaving the pool is a membership change.
    assert_eq!(
        ingest(&app, report(3, 70.0, NodeState::Draining)),
        Change::Membership
    );
    after_ms(MIN_REBUILD_GAP.as_millis() as u64 + 1).await;
    assert!(app.pool().backends().is_empty());

    stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_reports_neither_postpones_nor_loses_a_rebuild() {
    let (app, stop) = maintained().await;
    ingest(&app, report(1, 10.0, NodeState::Ready));
    after_ms(MIN_REBUILD_GAP.as_millis() as u64 + 1).await;
    let before = app.pool.load_full();

    // A report every millisecond: the first one's gap decides when
    // the pool is rebuilt, however many follow.
    let mut seq = 2;
    let mut rebuilt_after = None;
    for ms in 1..=3 * MIN_REBUILD_GAP.as_millis() as u64 {
        ingest(&app, report(seq, 50.0, NodeState::Ready));
        seq += 1;
        after_ms(1).await;
        if rebuilt_after.is_none() && !Arc::ptr_eq(&before, &app.pool.load_full()) {
            rebuilt_after = Some(ms);
        }
    }
    let gap = MIN_REBUILD_GAP.as_millis() as u64;
    assert!(
        rebuilt_after.is_some_and(|ms| ms <= gap + 1),
        "rebuilt after {rebuilt_after:?} ms of a flood, the gap is {gap} ms"
    );

    // A membership change in the middle of load-only reports still
    // gets its own, earliest, rebuild.
    let pool = app.pool.load_full();
    ingest(&app, report(seq, 50.0, NodeState::Maintenance));
    after_ms(MIN_REBUILD_GAP.as_millis() as u64 + 1).await;
    assert!(app.pool().backends().is_empty(), "left the pool late");
    assert!(!Arc::ptr_eq(&pool, &app.pool.load_full()));

    // The last report of a flood is in a rebuild after the flood.
    seq += 1;
    let last = report(seq, 20.0, NodeState::Ready);
    ingest(&app, last);
    after_ms(3 * MIN_REBUILD_GAP.as_millis() as u64).await;
    assert_eq!(app.pool().backends().len(), 1);
    assert!((app.pool().backends()[0].load.projection().base - 0.20).abs() < 1e-9);

    stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_joining_node_or_a_reload_wakes_the_health_checker() {
    use tokio::time::timeout;
    let app = App::new(Config::load(&Args::default()).unwrap());
    let woken = async || timeout(Duration::from_millis(1), app.targets_changed()).await;
    // A node that joins may need its first check before it takes clients.
    assert_eq!(
        ingest(&app, report(1, 10.0, NodeState::Ready)),
        Change::Membership
    );
    woken().await.expect("a new node wakes the checker");
    // A load-only report does not.
    app.rebuild(Instant::now());
    assert_eq!(
        ingest(&app, report(2, 20.0, NodeState::Ready)),
        Change::Load
    );
    assert!(woken().await.is_err(), "woken by a load report");
    // A reload may change every target.
    app.reload(Config::load(&Args::default()).unwrap());
    woken().await.expect("a reload wakes the checker");
}
