//! End-to-end scenarios: the real binaries on ephemeral loopback ports.
//! One test target, one module per theme; each imports the harness
//! (`signpost_e2e`) only, never another scenario.

mod access_log;
mod access_log_drop;
mod admin;
mod agent;
mod browser;
mod certs;
mod dashboard;
mod deploy;
mod discovery;
mod eligibility;
mod exposition;
mod fleet;
mod head_limits;
mod health;
mod ingest;
mod lifecycle;
mod limits;
mod passive;
mod recovery;
mod redirect;
mod reload;
mod request_cap;
mod security;
mod shedding;
mod shutdown_fresh;
mod sticky;
mod tls;
mod tls_resume;
