//! Decision cost (issue #5 part 2): `Pool::pick` for every strategy at 10,
//! 1 000 and 10 000 backends, and the O(N) `Registry::snapshot` rebuild
//! that keeps picks O(1). Run with `cargo bench -p signpost-bench`.
//!
//! Each measured pick also records the redirect on the backend's counter,
//! as the request path does; hash strategies see a different client
//! address every iteration, so the ring lookup is not always the same.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use http::HeaderMap;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use signpost_bench::harness;
use signpost_dispatcher::backend::{Backend, Members};
use signpost_dispatcher::config::StrategyKind;
use signpost_dispatcher::load::Projection;
use signpost_dispatcher::pool::Pool;
use signpost_dispatcher::registry::Source;
use signpost_dispatcher::select::Request;
use signpost_shared::LoadReport;
use tokio::time::Instant;

const SIZES: [usize; 3] = [10, 1_000, 10_000];

const STRATEGIES: [StrategyKind; 8] = [
    StrategyKind::LeastLoad,
    StrategyKind::RoundRobin,
    StrategyKind::WeightedRoundRobin,
    StrategyKind::Random,
    StrategyKind::LeastConnections,
    StrategyKind::Fastest,
    StrategyKind::IpHash,
    StrategyKind::ConsistentHash,
];

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    pick(&mut c);
    snapshot(&mut c);
    c.final_summary();
}

/// `n` backends with varied weights and loads.
fn backends(n: usize) -> Vec<Backend> {
    (0..n)
        .map(|i| {
            // A utilisation report with every term of the projection live:
            // drain, trust horizon and age.
            let projection = Projection {
                drain: 0.01,
                horizon: 0.16,
                age_at_report: 0.5,
                ..Projection::counting((i % 97) as f64 / 100.0, 0, 0.001)
            };
            Backend::new(
                &format!("node-{i}"),
                &format!("http://10.0.{}.{}:8000", i / 256, i % 256),
                1.0 + (i % 3) as f64,
                projection,
            )
        })
        .collect()
}

fn pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick");
    for kind in STRATEGIES {
        let strategy = harness::strategy(kind);
        for n in SIZES {
            let members = Members {
                active: backends(n),
                epoch: Some(Instant::now()),
                ..Members::default()
            };
            let pool = Pool::new(members, &strategy, harness::policy());
            let mut rng = SmallRng::seed_from_u64(1);
            let mut headers = HeaderMap::new();
            headers.insert("x-user", http::HeaderValue::from_static("alice"));
            let mut client = 0u32;
            group.bench_function(BenchmarkId::new(strategy.name(), n), |b| {
                b.iter(|| {
                    client = client.wrapping_add(1);
                    let request = Request {
                        client: IpAddr::V4(Ipv4Addr::from(client)),
                        headers: &headers,
                    };
                    let chosen = pool.pick(black_box(&request), Instant::now(), &mut rng);
                    if let Some(backend) = chosen {
                        backend.load.add_redirect();
                    }
                    black_box(chosen.map(|b| &b.base_url));
                });
            });
        }
    }
    group.finish();
}

fn report(i: usize) -> LoadReport {
    LoadReport {
        node_id: format!("node-{i}"),
        url: Some(format!("http://10.0.{}.{}:8000", i / 256, i % 256)),
        cpu_percent: (i % 97) as f64,
        mem_percent: 30.0,
        cores: 4,
        connections: (i % 50) as u64,
        seq: 1,
        sampled_at_ms: 1,
        agent_version: "bench".into(),
        ..LoadReport::default()
    }
}

fn snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    let policy = harness::policy();
    let now = Instant::now();
    for kind in [
        StrategyKind::LeastLoad,
        StrategyKind::WeightedRoundRobin,
        StrategyKind::ConsistentHash,
    ] {
        let strategy = harness::strategy(kind);
        for n in SIZES {
            let mut registry = harness::registry(Duration::from_secs(3));
            for i in 0..n {
                registry
                    .observe(Source::Push, report(i), now)
                    .expect("bench reports are valid");
            }
            group.bench_function(BenchmarkId::new(strategy.name(), n), |b| {
                b.iter(|| black_box(harness::snapshot(&mut registry, now, &strategy, &policy)));
            });
        }
    }
    group.finish();
}
