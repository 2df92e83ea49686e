//! The dashboard's view of the nodes: what each one reported, how the
//! dispatcher judges it, and what it was sent.

use signpost_shared::BackendView;
use tokio::time::Instant;

use super::node::Node;
use super::{Registry, UnknownNode};
use crate::load::{Metric, Projector};

// === impl Registry ===

impl Registry {
    /// Every node as the dashboard shows it, ordered by id. `eligible` are
    /// the ids in the current pool.
    pub fn views(&self, now: Instant, eligible: &dyn Fn(&str) -> bool) -> Vec<BackendView> {
        let cpu = self.view_projector(now);
        let mut views: Vec<BackendView> = self
            .nodes
            .iter()
            .map(|node| self.view(node, now, eligible, &cpu))
            .collect();
        views.sort_by(|a, b| a.id.cmp(&b.id));
        views
    }

    /// Node `id` as the dashboard shows it, without building the rest.
    pub fn view_of(
        &self,
        id: &str,
        now: Instant,
        eligible: &dyn Fn(&str) -> bool,
    ) -> Result<BackendView, UnknownNode> {
        let index = *self
            .by_id
            .get(id)
            .ok_or_else(|| UnknownNode(id.to_owned()))?;
        Ok(self.view(&self.nodes[index], now, eligible, &self.view_projector(now)))
    }

    /// The dashboard shows the CPU projection, whatever the strategy.
    fn view_projector(&self, now: Instant) -> Projector {
        Projector::new(
            Metric::Cpu,
            self.nodes.iter().map(|n| (&n.models, n.share)),
            std::iter::empty(),
            self.epoch.unwrap_or(now),
        )
    }

    fn view(
        &self,
        node: &Node,
        now: Instant,
        eligible: &dyn Fn(&str) -> bool,
        cpu: &Projector,
    ) -> BackendView {
        let state = node.state(self.settings.stale_after, now);
        let report = node.last.as_ref().map(|last| &last.report);
        let id = node.display_id();
        let in_pool = eligible(&id);
        let ramp = node.ramp(self.settings.slow_start, now);
        BackendView {
            url: node.url().unwrap_or_default().to_owned(),
            state,
            eligible: in_pool,
            backup: node.backup,
            cpu_percent: report.map_or(0.0, |r| r.cpu_percent),
            mem_percent: report.map_or(0.0, |r| r.mem_percent),
            connections: report.map_or(0, |r| r.connections),
            cpu_pressure: report.and_then(|r| r.cpu_pressure),
            runnable: report.and_then(|r| r.runnable),
            error_rate: node.outlier.error_rate(),
            latency_p90_ms: node.outlier.latency_p90_ms(),
            outlier: (node.outlier.ejected(now))
                .or_else(|| node.outlier.verdict(&self.settings.outlier))
                .map(|reason| reason.to_string()),
            ejections_total: node.outlier.total(),
            weight: node.weight * report.map_or(1.0, |r| r.weight),
            effective_weight: if in_pool {
                node.effective_weight(self.settings.mem_high_water) * ramp
            } else {
                0.0
            },
            learnt_capacity: node.models.capacity.factor(),
            turns_owed: node.load.turns_owed(),
            // The node's own projection, not faded towards the pool's mean.
            projected_load: node.projection(cpu).map_or(0.0, |p| {
                p.load(node.load.redirects(), cpu.seconds(now), p.base)
            }),
            report_age_ms: node
                .last
                .as_ref()
                .map(|last| now.saturating_duration_since(last.at).as_millis() as u64),
            redirects_total: node.load.redirects(),
            health: node.health_view(),
            agent_version: report.map(|r| r.agent_version.clone()).unwrap_or_default(),
            id: id.to_string(),
        }
    }
}
