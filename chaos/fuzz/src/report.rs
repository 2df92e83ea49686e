//! The load report, pushed or polled: JSON from anyone who can reach the
//! control listener (or who answers a poll).

use std::cell::RefCell;
use std::rc::Rc;

use signpost_dispatcher::app::App;
use signpost_dispatcher::config::{Args, Config};
use signpost_dispatcher::intake::{self, Refusal};
use signpost_dispatcher::registry::{Observed, Source};
use signpost_shared::{LoadReport, MAX_WEIGHT, validate_node_id, validate_url};
use tokio::time::Instant;

/// Parses `data` as a report, checks what an accepted one promises, and
/// files it into a dispatcher that already knows a node: if the report is
/// refused (by the parser or by the registry), the dashboard must read the
/// same before and after.
pub fn check(data: &[u8]) {
    let parsed = LoadReport::from_json(data);
    if let Ok(report) = &parsed {
        in_range(report);
        round_trip(report);
    }
    let app = app();
    let now = Instant::now();
    let before = app.dashboard(now);
    let outcome = intake::receive(&app, Source::Push, parsed.map_err(Refusal::from), now);
    if matches!(outcome, Err(_) | Ok(Observed::Replay { .. })) {
        assert_eq!(
            app.dashboard(now),
            before,
            "a refused report changed the pool: {outcome:?}"
        );
    }
}

/// An accepted report, written out and read again, is the same report:
/// exactly, but for its floats, which may move by an ulp or two, because
/// serde_json's default float parsing is only nearly correctly rounded for
/// numbers of more than 17 digits (exact parsing, `float_roundtrip`,
/// doubles the cost of reading a report; AFL++ found the difference).
fn round_trip(report: &LoadReport) {
    let text = serde_json::to_vec(report).expect("a report serializes");
    let mut again = LoadReport::from_json(&text).expect("an accepted report reads back");
    for (field, read, written) in [
        ("cpu_percent", &mut again.cpu_percent, report.cpu_percent),
        ("mem_percent", &mut again.mem_percent, report.mem_percent),
        ("load1", &mut again.load1, report.load1),
        ("weight", &mut again.weight, report.weight),
    ]
    .into_iter()
    .chain(
        again
            .cpu_pressure
            .as_mut()
            .zip(report.cpu_pressure)
            .map(|(read, written)| ("cpu_pressure", read, written)),
    ) {
        let ulps = 4.0 * f64::EPSILON * written.abs().max(f64::MIN_POSITIVE);
        assert!(
            (*read - written).abs() <= ulps,
            "{field}: {written} read back as {read}"
        );
        *read = written;
    }
    assert_eq!(
        &again, report,
        "an accepted report must read back as itself"
    );
}

/// What `from_json` promises about every report it returns.
fn in_range(report: &LoadReport) {
    for (field, value) in [("cpu", report.cpu_percent), ("mem", report.mem_percent)] {
        assert!(
            (0.0..=100.0).contains(&value),
            "{field} {value} out of range"
        );
    }
    if let Some(pressure) = report.cpu_pressure {
        assert!((0.0..=100.0).contains(&pressure), "pressure {pressure}");
    }
    assert!(report.load1.is_finite() && report.load1 >= 0.0);
    assert!(report.weight > 0.0 && report.weight <= MAX_WEIGHT);
    if !report.node_id.is_empty() {
        assert_eq!(validate_node_id(&report.node_id), Ok(()));
    }
    if let Some(url) = &report.url {
        assert_eq!(validate_url(url), Ok(()));
    }
}

/// How many inputs one dispatcher takes before a fresh one replaces it:
/// building one per input would be most of the cost, and one for the whole
/// run would fill up with nodes and make every dashboard slower.
const INPUTS_PER_APP: u32 = 256;

thread_local! {
    static APP: RefCell<(Rc<App>, u32)> = RefCell::new((Rc::new(seeded()), 0));
}

/// The current dispatcher, replaced every [`INPUTS_PER_APP`] inputs.
fn app() -> Rc<App> {
    APP.with_borrow_mut(|(app, used)| {
        *used += 1;
        if *used > INPUTS_PER_APP {
            *app = Rc::new(seeded());
            *used = 1;
        }
        app.clone()
    })
}

/// A dispatcher that knows node `a`, so that "changes nothing" is about a
/// pool with something in it.
fn seeded() -> App {
    let app = App::new(Config::load(&Args::default()).expect("the default config loads"));
    let seed =
        br#"{"node_id":"a","url":"http://a:8000","cpu_percent":10,"mem_percent":20,"seq":5}"#;
    let report = LoadReport::from_json(seed).expect("the seed report is valid");
    app.ingest(Source::Push, report, Instant::now())
        .expect("the seed report is filed");
    app
}
