//! The sampler: turns the node's live figures into the published
//! [`LoadReport`], once per interval.
//!
//! One long-lived `sysinfo::System` gives host CPU and memory (CPU usage is a
//! difference between two readings, so the first is discarded); the cgroup
//! reader overrides both when the process runs under a quota or limit (or
//! `--cpu-limit`); the socket tables give the connection count; PSI and the
//! run queue say how far past saturation the CPU is. Each sample is written into a
//! `watch` channel, so `/load` and the push tasks read the latest report and
//! never wait for sampling.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signpost_shared::{LoadReport, VERSION};
use sysinfo::System;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use crate::app_report::AppReports;
use crate::cgroup::{self, Cgroup};
use crate::config::Config;
use crate::netstat::Counter;
use crate::pressure;

/// Reads the node's figures; one per agent, kept for its whole life because
/// CPU usage is measured between consecutive readings.
#[derive(Debug)]
pub struct Sampler {
    system: System,
    cgroup: Option<Cgroup>,
    /// `--cpu-limit`: the CPUs to report against, over any quota.
    cpu_limit: Option<f64>,
    connections: Option<Counter>,
    /// The PSI file read every sample, if the kernel has PSI.
    pressure: Option<PathBuf>,
    /// The cgroup's cumulative CPU time at the previous reading.
    last_cgroup_cpu: Option<(Instant, Duration)>,
}

/// One sample's measured figures, before they are stamped into a report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// CPU utilisation, 0–100, of the cgroup quota if there is one.
    pub cpu_percent: f64,
    /// Memory in use, 0–100, of the cgroup limit if there is one.
    pub mem_percent: f64,
    /// One-minute load average of the host.
    pub load1: f64,
    /// CPUs available: the quota rounded up, or the host's.
    pub cores: u32,
    /// Established connections to the advertised port.
    pub connections: u64,
    /// PSI `some avg10` for CPU, 0–100, when the kernel has PSI.
    pub cpu_pressure: Option<f64>,
    /// Runnable tasks on the host right now.
    pub runnable: Option<u32>,
}

/// Why sampling cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// sysinfo cannot read the system on this platform.
    #[error("cannot read system figures: {0}")]
    System(#[from] sysinfo::Error),
}

// === impl Sampler ===

impl Sampler {
    /// Takes the first (discarded) CPU reading; the next [`Sampler::sample`]
    /// should come at least `sysinfo::MINIMUM_CPU_UPDATE_INTERVAL` later.
    /// `port` is the local port whose connections are counted, and
    /// `cpu_limit` the CPU count to report against (see `--cpu-limit`).
    pub fn new(
        port: Option<u16>,
        cpu_limit: Option<f64>,
        now: Instant,
    ) -> Result<Self, SampleError> {
        let proc_self = std::fs::read_to_string(cgroup::PROC_SELF_CGROUP).unwrap_or_default();
        let cgroup = Cgroup::discover(cgroup::MOUNT_ROOT.as_ref(), &proc_self);
        let pressure = pressure::source(cgroup.as_ref(), pressure::PROC_PRESSURE_CPU.as_ref());
        let mut sampler = Sampler {
            system: System::new()?,
            last_cgroup_cpu: None,
            cgroup,
            cpu_limit,
            connections: port.map(Counter::new),
            pressure,
        };
        sampler.system.refresh_cpu_usage();
        sampler.last_cgroup_cpu = sampler.cgroup_cpu_time(now);
        Ok(sampler)
    }

    /// Reads every figure now.
    pub fn sample(&mut self, now: Instant) -> Figures {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        let quota = self.cpu_limit.or_else(|| self.cgroup.as_ref()?.cpu_limit());
        let host_cores = self.system.cpus().len();
        let loadavg = std::fs::read_to_string(pressure::PROC_LOADAVG).unwrap_or_default();
        let (load1, runnable) = pressure::parse_loadavg(&loadavg).unzip();
        Figures {
            cpu_percent: clamp_percent(self.cpu_percent(quota, host_cores, now)),
            mem_percent: clamp_percent(self.mem_percent()),
            load1: load1.unwrap_or(0.0),
            cores: quota.map_or(host_cores, |cpus| cpus.ceil() as usize) as u32,
            connections: self.connections.as_mut().map_or(0, Counter::established),
            cpu_pressure: self.pressure.as_deref().and_then(pressure::read_some_avg10),
            runnable,
        }
    }

    /// CPU use against the quota (or `--cpu-limit`) when there is one:
    /// cgroup CPU time per wall-clock time, divided by the CPUs allowed, or
    /// the host's busy CPUs so divided where the cgroup keeps no CPU time.
    /// Otherwise the host's.
    fn cpu_percent(&mut self, quota: Option<f64>, host_cores: usize, now: Instant) -> f64 {
        let current = self.cgroup_cpu_time(now);
        let previous = std::mem::replace(&mut self.last_cgroup_cpu, current);
        let host = f64::from(self.system.global_cpu_usage());
        match (quota, previous, current) {
            (Some(cpus), Some((t0, used0)), Some((t1, used1))) if t1 > t0 => {
                let busy = used1.saturating_sub(used0).as_secs_f64();
                busy / (t1 - t0).as_secs_f64() / cpus * 100.0
            }
            (Some(cpus), _, _) => host * host_cores as f64 / cpus,
            (None, _, _) => host,
        }
    }

    /// Memory use against the cgroup limit when it is tighter than the host.
    fn mem_percent(&self) -> f64 {
        let total = self.system.total_memory();
        match self.cgroup.as_ref().and_then(Cgroup::memory) {
            Some(memory) if memory.limit < total => ratio(memory.used, memory.limit),
            _ => ratio(self.system.used_memory(), total),
        }
    }

    fn cgroup_cpu_time(&self, now: Instant) -> Option<(Instant, Duration)> {
        let used = self.cgroup.as_ref()?.cpu_usage()?;
        Some((now, used))
    }
}

/// Builds the first report from the configured identity and a sample.
pub fn first_report(config: &Config, figures: Figures, healthy: bool) -> LoadReport {
    let mut report = LoadReport {
        node_id: config.node_id.clone(),
        url: config.advertise.clone(),
        weight: config.weight,
        healthy,
        agent_version: VERSION.to_owned(),
        ..LoadReport::default()
    };
    record(&mut report, figures);
    report
}

/// Stamps a sample into `report`: new figures, the next `seq`, wall-clock
/// time. State and health are left as they are; they change on their own.
pub fn record(report: &mut LoadReport, figures: Figures) {
    report.cpu_percent = figures.cpu_percent;
    report.mem_percent = figures.mem_percent;
    report.load1 = figures.load1;
    report.cores = figures.cores;
    report.connections = figures.connections;
    report.cpu_pressure = figures.cpu_pressure;
    report.runnable = figures.runnable;
    report.seq += 1;
    report.sampled_at_ms = wall_clock_ms();
}

/// Samples every `interval` into `reports`; runs until cancelled.
pub async fn run(
    mut sampler: Sampler,
    reports: watch::Sender<LoadReport>,
    apps: Arc<AppReports>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = Instant::now();
        let figures = sampler.sample(now);
        reports.send_modify(|report| {
            record(report, figures);
            apps.overlay(report, now);
        });
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    part as f64 / whole as f64 * 100.0
}

/// Keeps a figure inside 0–100 so that measurement noise (a cgroup counter
/// read a little late) never makes a report the dispatcher would refuse.
fn clamp_percent(value: f64) -> f64 {
    if value.is_finite() {
        value.clamp(0.0, 100.0)
    } else {
        0.0
    }
}

fn wall_clock_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use signpost_shared::NodeState;

    use super::*;

    #[test]
    fn percentages_are_clamped_and_finite() {
        let cases = [
            (-1.0, 0.0),
            (37.5, 37.5),
            (100.2, 100.0),
            (f64::NAN, 0.0),
            (f64::INFINITY, 0.0),
        ];
        for (input, want) in cases {
            assert_eq!(clamp_percent(input), want, "{input}");
        }
        assert_eq!(ratio(1, 4), 25.0);
        assert_eq!(ratio(1, 0), 0.0);
    }

    #[test]
    fn a_sample_advances_seq_and_keeps_state_and_health() {
        let config = crate::config::Config::merge(Default::default(), Default::default(), || {
            Some("n1".into())
        })
        .unwrap();
        let figures = Figures {
            cpu_percent: 12.5,
            mem_percent: 40.0,
            load1: 0.5,
            cores: 2,
            connections: 7,
            cpu_pressure: Some(12.0),
            runnable: Some(3),
        };
        let mut report = first_report(&config, figures, false);
        assert_eq!(
            (report.seq, report.healthy, report.node_id.as_str()),
            (1, false, "n1")
        );
        report.state = NodeState::Draining;
        record(
            &mut report,
            Figures {
                cpu_percent: 90.0,
                ..figures
            },
        );
        assert_eq!(report.seq, 2);
        assert_eq!(report.cpu_percent, 90.0);
        assert_eq!(
            (report.cpu_pressure, report.runnable),
            (Some(12.0), Some(3))
        );
        assert_eq!((report.state, report.healthy), (NodeState::Draining, false));
        assert!(report.sampled_at_ms > 1_700_000_000_000);
    }
}
