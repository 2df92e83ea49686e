//! Driving a real `signpost-agent`: one on an ephemeral loopback port,
//! sampling fast enough that a scenario takes about a second.

use crate::Proc;

/// The agent binary.
pub const BIN: &str = "signpost-agent";

/// Short enough that each scenario takes about a second.
pub const INTERVAL: &str = "200ms";

/// Starts an agent on an ephemeral port, node id `e2e-node`, sampling
/// every [`INTERVAL`], plus `args`.
pub async fn agent(args: &[&str]) -> Proc {
    let base = [
        "--listen",
        "127.0.0.1:0",
        "--interval",
        INTERVAL,
        "--node-id",
        "e2e-node",
    ];
    Proc::command(BIN).args(&base).args(args).spawn().await
}
