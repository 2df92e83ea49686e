//! The process's own cgroup: CPU quota and usage, memory limit and use.
//!
//! sysinfo reports the host, and applies no CPU quota at all, so an agent in
//! a container limited to 2 of 64 CPUs would report 3% while the container is
//! saturated. This module reads the cgroup files itself, v2 (`cpu.max`,
//! `cpu.stat`, `memory.max`, `memory.current`) or v1 (`cpu.cfs_quota_us`,
//! `cpuacct.usage`, `memory.limit_in_bytes`, ...). Parsers are pure functions
//! over file contents, and [`Cgroup::discover`] takes the mount root as a
//! path, so tests run on fixture trees.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where cgroup file systems are mounted on Linux.
pub const MOUNT_ROOT: &str = "/sys/fs/cgroup";
/// Lists the cgroup of each hierarchy the process belongs to.
pub const PROC_SELF_CGROUP: &str = "/proc/self/cgroup";

/// Limits at or above this many bytes mean "no limit" (cgroup v1 writes
/// `i64::MAX` rounded down to a page for an unlimited group).
const UNLIMITED_BYTES: u64 = 1 << 60;

/// The directories holding this process's cgroup files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroup {
    /// cgroup v1: one directory per controller.
    V1 {
        /// The `cpu` controller's directory (CFS quota and period).
        cpu: PathBuf,
        /// The `cpuacct` controller's directory (usage in nanoseconds).
        cpuacct: PathBuf,
        /// The `memory` controller's directory.
        memory: PathBuf,
    },
    /// cgroup v2: one unified directory.
    V2(PathBuf),
}

/// Memory charged to the cgroup, and the limit it is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Bytes in use, not counting reclaimable inactive page cache (the
    /// "working set" that kubelet and `docker stats` report).
    pub used: u64,
    /// The hard limit in bytes.
    pub limit: u64,
}

// === impl Cgroup ===

impl Cgroup {
    /// Finds this process's cgroup directories under `mount` from the text of
    /// `/proc/self/cgroup`. A unified (v2) mount is recognised by its
    /// `cgroup.controllers` file; otherwise v1 controllers are looked up.
    ///
    /// Inside a container the listed path is often the host's, while the
    /// container's own group is mounted at the controller's root; so a
    /// listed path that does not exist falls back to that root.
    pub fn discover(mount: &Path, proc_self_cgroup: &str) -> Option<Self> {
        if mount.join("cgroup.controllers").exists() {
            let path = group_path(proc_self_cgroup, "")?;
            return Some(Cgroup::V2(existing_or_root(mount, path)));
        }
        let dir = |controller: &str| {
            let path = group_path(proc_self_cgroup, controller)?;
            Some(existing_or_root(&mount.join(controller), path))
        };
        Some(Cgroup::V1 {
            cpu: dir("cpu")?,
            cpuacct: dir("cpuacct")?,
            memory: dir("memory")?,
        })
    }

    /// The CPU quota in CPUs (2.0 for "two CPUs"), or `None` when unlimited.
    pub fn cpu_limit(&self) -> Option<f64> {
        match self {
            Cgroup::V1 { cpu, .. } => parse_cfs_quota(
                &read(cpu, "cpu.cfs_quota_us")?,
                &read(cpu, "cpu.cfs_period_us")?,
            ),
            Cgroup::V2(dir) => parse_cpu_max(&read(dir, "cpu.max")?),
        }
    }

    /// CPU time consumed by the group since it was created.
    pub fn cpu_usage(&self) -> Option<Duration> {
        match self {
            Cgroup::V1 { cpuacct, .. } => {
                let nanos = read(cpuacct, "cpuacct.usage")?.trim().parse().ok()?;
                Some(Duration::from_nanos(nanos))
            }
            Cgroup::V2(dir) => {
                let micros = stat_field(&read(dir, "cpu.stat")?, "usage_usec")?;
                Some(Duration::from_micros(micros))
            }
        }
    }

    /// Memory use against the limit, or `None` when the group has no limit.
    pub fn memory(&self) -> Option<Memory> {
        let (dir, limit, usage, inactive) = match self {
            Cgroup::V1 { memory, .. } => (
                memory,
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
                "total_inactive_file",
            ),
            Cgroup::V2(dir) => (dir, "memory.max", "memory.current", "inactive_file"),
        };
        let limit = parse_limit(&read(dir, limit)?)?;
        let usage: u64 = read(dir, usage)?.trim().parse().ok()?;
        let inactive = read(dir, "memory.stat")
            .and_then(|stat| stat_field(&stat, inactive))
            .unwrap_or(0);
        Some(Memory {
            used: usage.saturating_sub(inactive),
            limit,
        })
    }
}

/// Reads v2 `cpu.max` ("200000 100000", or "max 100000" when unlimited)
/// into CPUs.
pub fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut fields = text.split_whitespace();
    let quota = fields.next()?;
    let period = fields.next().unwrap_or("100000");
    parse_cfs_quota(quota, period)
}

/// Reads v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` into CPUs; a quota
/// of -1 (or v2's "max") means unlimited.
pub fn parse_cfs_quota(quota: &str, period: &str) -> Option<f64> {
    let quota: f64 = quota.trim().parse().ok()?;
    let period: f64 = period.trim().parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// Reads a memory limit file into bytes; "max" and v1's near-`i64::MAX`
/// values mean unlimited.
pub fn parse_limit(text: &str) -> Option<u64> {
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < UNLIMITED_BYTES).then_some(bytes)
}

/// Finds `key value` in a flat-keyed stat file (`cpu.stat`, `memory.stat`).
pub fn stat_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok())?
    })
}

/// The group path for `controller` in `/proc/self/cgroup` lines
/// (`hierarchy-id:controller,list:path`); `""` selects the v2 line `0::path`.
fn group_path<'a>(proc_self_cgroup: &'a str, controller: &str) -> Option<&'a str> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let matches = if controller.is_empty() {
            controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == controller)
        };
        matches.then_some(path)
    })
}

fn existing_or_root(root: &Path, group: &str) -> PathBuf {
    let dir = root.join(group.trim_start_matches('/'));
    if dir.is_dir() { dir } else { root.to_owned() }
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

#[cfg(test)]
mod tests;
