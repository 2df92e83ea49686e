//! # signpost-bench
//!
//! Benchmarks of signpost that never run in CI (see `bench/README.md`):
//!
//! - [`sim`]: the balance simulator of issue #5 part 4. Simulated FIFO
//!   servers feed synthetic [`LoadReport`](signpost_shared::LoadReport)s
//!   through the dispatcher's real `Registry::observe` and
//!   `Registry::snapshot`, and every decision is the real
//!   [`Pool::pick`](signpost_dispatcher::pool::Pool::pick) — only the two
//!   baselines the dispatcher does not ship (greedy arg-min and plain power
//!   of two choices on the bare report) live here, in [`balancer`].
//! - [`harness`]: the few lines that build a dispatcher pool the way the
//!   dispatcher does, shared by the simulator and the criterion benches.
//! - [`ingest`]: a load generator pushing reports from many node ids, and
//!   a probe timing report-to-pool visibility, for `bench/ingest.sh`.
//! - [`table`]: the grid of simulations behind `bench/RESULTS.md`, and the
//!   goal checks.
//!
//! Time in the simulator is in mean service times; the registry's clock is
//! a `tokio::time::Instant` advanced by exactly that many seconds.
//!
//! Built with `cargo doc --document-private-items`, like the dispatcher's
//! docs: links to private items are intended.
#![allow(rustdoc::private_intra_doc_links)]

pub mod balancer;
pub mod harness;
pub mod ingest;
pub mod queue;
pub mod sim;
pub mod table;
pub mod testbed;
