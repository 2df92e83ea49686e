//! Parse cost of one pushed report (issue #15): `LoadReport::from_json`,
//! which since the duplicate-key check reads the body's keys a second
//! time, against its anchor measured in the same run — the typed parse and
//! validation alone, which is all the push path did before. Run with
//! `cargo bench -p signpost-bench --bench report`.

use std::hint::black_box;

use criterion::Criterion;
use signpost_shared::LoadReport;

/// A full report as the agent pushes it.
const BODY: &[u8] = br#"{"node_id":"web-1","url":"http://10.0.0.11:8000","cpu_percent":37.5,"mem_percent":61.2,"load1":0.82,"cores":4,"connections":118,"weight":1.0,"state":"ready","healthy":true,"seq":4411,"sampled_at_ms":1763700000000,"agent_version":"0.1.0"}"#;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("report");
    group.bench_function("typed parse + validate (anchor)", |b| {
        b.iter(|| {
            let report: LoadReport = serde_json::from_slice(black_box(BODY)).expect("valid report");
            black_box(report.validate().expect("valid report"))
        })
    });
    group.bench_function("from_json (with key check)", |b| {
        b.iter(|| black_box(LoadReport::from_json(black_box(BODY)).expect("valid report")))
    });
    group.finish();
    c.final_summary();
}
