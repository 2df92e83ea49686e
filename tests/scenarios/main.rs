//! End-to-end scenarios: the real binaries on ephemeral loopback ports.
//! One test target, one module per binary.

mod agent;
mod browser;
mod deploy;
mod dispatcher;
mod exposition;
mod fleet;
mod operations;
mod recovery;
mod sticky;
mod tls;
