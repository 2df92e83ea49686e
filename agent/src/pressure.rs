//! CPU contention figures that keep counting past 100% busy: pressure
//! stall information (PSI) and the run queue.
//!
//! CPU% saturates: a node at 100% with two requests waiting and one with two
//! hundred look the same. PSI's `some avg10` is the share of the last ten
//! seconds in which at least one runnable task waited for a CPU, and the
//! number of runnable tasks grows with the queue itself. Parsers here are
//! pure functions over file contents; [`source`] picks the file to read.

use std::path::{Path, PathBuf};

use crate::cgroup::Cgroup;

/// The host's CPU pressure (Linux 4.20+, `CONFIG_PSI`).
pub const PROC_PRESSURE_CPU: &str = "/proc/pressure/cpu";
/// Load averages and the run queue: `0.82 0.51 0.40 3/412 9876`.
pub const PROC_LOADAVG: &str = "/proc/loadavg";

/// Where this agent reads CPU pressure: its cgroup v2 group's
/// `cpu.pressure` when that reads as PSI (a container's own contention),
/// else the host's `/proc/pressure/cpu`; `None` when neither does (a kernel
/// without PSI, or booted with `psi=0`, where the files fail to read).
pub fn source(cgroup: Option<&Cgroup>, host: &Path) -> Option<PathBuf> {
    let group = match cgroup {
        Some(Cgroup::V2(dir)) => Some(dir.join("cpu.pressure")),
        _ => None,
    };
    group
        .into_iter()
        .chain([host.to_owned()])
        .find(|path| read_some_avg10(path).is_some())
}

/// The `some avg10` figure of a pressure file, in percent.
pub fn read_some_avg10(path: &Path) -> Option<f64> {
    parse_some_avg10(&std::fs::read_to_string(path).ok()?)
}

/// Reads `some avg10=4.84 avg60=11.25 avg300=8.25 total=38777907` (the
/// first line of a pressure file) into 4.84. A figure outside 0–100 is not
/// PSI and reads as `None`.
pub fn parse_some_avg10(text: &str) -> Option<f64> {
    let some = text.lines().find_map(|line| line.strip_prefix("some "))?;
    let avg10: f64 = some
        .split_whitespace()
        .find_map(|field| field.strip_prefix("avg10="))?
        .parse()
        .ok()?;
    (0.0..=100.0).contains(&avg10).then_some(avg10)
}

/// The one-minute load average and the tasks runnable right now from
/// `/proc/loadavg`. The fourth field's numerator is the kernel's
/// `nr_running()`, the very counter `/proc/stat` prints as
/// `procs_running`; this file is a few bytes where `/proc/stat` is one
/// line per CPU plus every interrupt counter.
pub fn parse_loadavg(text: &str) -> Option<(f64, u32)> {
    let mut fields = text.split_whitespace();
    let load1 = fields.next()?.parse().ok()?;
    let (running, _total) = fields.nth(2)?.split_once('/')?;
    Some((load1, running.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pressure")
            .join(name)
    }

    #[test]
    fn pressure_files_parse() {
        let cases = [
            ("host-cpu", Some(4.84)),
            ("group/cpu.pressure", Some(97.31)),
            ("full-only", None),
            ("garbage", None),
            ("out-of-range", None),
            ("missing", None),
        ];
        for (name, want) in cases {
            assert_eq!(read_some_avg10(&fixture(name)), want, "{name}");
        }
    }

    #[test]
    fn the_groups_pressure_wins_over_the_hosts() {
        let host = fixture("host-cpu");
        let v2 = |dir: &str| Cgroup::V2(fixture(dir));
        let cases = [
            (Some(v2("group")), Some(fixture("group/cpu.pressure"))),
            // A v2 group without PSI of its own (the root group has none).
            (Some(v2("no-group")), Some(host.clone())),
            (None, Some(host.clone())),
        ];
        for (cgroup, want) in cases {
            assert_eq!(source(cgroup.as_ref(), &host), want, "{cgroup:?}");
        }
        // No PSI anywhere: the field stays absent.
        assert_eq!(source(Some(&v2("no-group")), &fixture("missing")), None);
    }

    #[test]
    fn loadavg_parses() {
        let cases = [
            ("0.82 0.51 0.40 3/412 9876\n", Some((0.82, 3))),
            ("12.50 9.1 8.0 130/2048 1\n", Some((12.5, 130))),
            ("0.00 0.00 0.00 1/99\n", Some((0.0, 1))),
            ("0.82 0.51 0.40\n", None),
            ("0.82 0.51 0.40 x/412 1\n", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_loadavg(text), want, "{text:?}");
        }
    }
}
