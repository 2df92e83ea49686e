use std::time::Duration;

use signpost_shared::{BackendState, LoadReport, NodeState};
use tokio::time::Instant;

use super::*;
use crate::backend::{Backend, Members};
use crate::config::HealthConfig;
use crate::load::Metric;
use signpost_shared::BackendView;

const STALE: Duration = Duration::from_secs(3);
const FORGET: Duration = Duration::from_secs(300);

fn settings() -> Settings {
    Settings {
        stale_after: STALE,
        forget_after: FORGET,
        mem_high_water: 85.0,
        slow_start: Duration::ZERO,
        health: HealthConfig::default(),
        max_nodes: usize::MAX,
        outlier: OutlierConfig::default(),
    }
}

/// The projected load at the report's own instant, against its own figure
/// (no fading towards a pool mean): report + redirects since × cost.
fn projected(backend: &Backend) -> f64 {
    let p = backend.load.projection();
    p.load(backend.load.redirects(), p.at, p.base)
}

fn new_registry(backends: &[BackendConfig]) -> Registry {
    Registry::new(backends, settings(), None)
}

/// A ready report of node `id` at 10% CPU, numbered `seq`.
pub(crate) fn report(id: &str, seq: u64) -> LoadReport {
    LoadReport {
        node_id: id.into(),
        url: Some(format!("http://{id}.test:8000")),
        cpu_percent: 10.0,
        mem_percent: 20.0,
        cores: 1,
        seq,
        sampled_at_ms: seq * 1000,
        agent_version: "test".into(),
        ..LoadReport::default()
    }
}

fn configured(id: Option<&str>, agent: Option<&str>, backup: bool) -> BackendConfig {
    BackendConfig {
        id: id.map(Into::into),
        url: None,
        agent: agent.map(Into::into),
        weight: 1.0,
        backup,
        health: HealthConfig::default(),
    }
}

fn pool_ids(registry: &mut Registry, now: Instant) -> Vec<String> {
    let members = registry.members(now, Metric::Cpu);
    let mut ids: Vec<String> = members.active.iter().map(|b| b.id.to_string()).collect();
    ids.sort();
    ids
}

fn view(registry: &mut Registry, id: &str, now: Instant) -> BackendView {
    registry.members(now, Metric::Cpu);
    let views = registry.views(now, &|_| false);
    views.into_iter().find(|v| v.id == id).unwrap()
}

fn state_of(registry: &mut Registry, id: &str, now: Instant) -> BackendState {
    view(registry, id, now).state
}

#[test]
fn staleness_is_judged_by_receipt_time() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    registry.observe(Source::Push, report("a", 1), t0).unwrap();
    assert_eq!(pool_ids(&mut registry, t0), ["a"]);
    assert_eq!(
        pool_ids(&mut registry, t0 + STALE - Duration::from_millis(1)),
        ["a"]
    );
    assert!(pool_ids(&mut registry, t0 + STALE).is_empty());
    assert_eq!(
        state_of(&mut registry, "a", t0 + STALE),
        BackendState::Stale
    );

    // A fresh report revives it.
    registry
        .observe(Source::Push, report("a", 2), t0 + STALE)
        .unwrap();
    assert_eq!(pool_ids(&mut registry, t0 + STALE), ["a"]);
}

#[test]
fn agent_wall_clock_is_ignored() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    let mut skewed = report("a", 1);
    skewed.sampled_at_ms = 1; // an agent whose clock is decades behind
    registry.observe(Source::Push, skewed, t0).unwrap();
    assert_eq!(pool_ids(&mut registry, t0 + Duration::from_secs(1)), ["a"]);
}

#[test]
fn replays_and_reordering_are_ignored_but_restarts_are_not() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    assert_eq!(
        registry.observe(Source::Push, report("a", 5), t0),
        Ok(Observed::Accepted(Change::Membership))
    );
    assert_eq!(
        registry.observe(Source::Push, report("a", 5), t0),
        Ok(Observed::Replay { seq: 5, latest: 5 })
    );
    assert_eq!(
        registry.observe(Source::Push, report("a", 4), t0),
        Ok(Observed::Replay { seq: 4, latest: 5 })
    );
    // A replay does not refresh freshness.
    assert!(pool_ids(&mut registry, t0 + STALE).is_empty());

    // The agent restarted: seq starts over, but it sampled later.
    let mut restarted = report("a", 1);
    restarted.sampled_at_ms = 10_000;
    assert_eq!(
        registry.observe(Source::Push, restarted, t0),
        Ok(Observed::Accepted(Change::Load))
    );

    // Unsequenced (seed-style) reports are always taken.
    let mut unsequenced = report("a", 0);
    unsequenced.sampled_at_ms = 0;
    assert_eq!(
        registry.observe(Source::Push, unsequenced.clone(), t0),
        Ok(Observed::Accepted(Change::Load))
    );
    assert_eq!(
        registry.observe(Source::Push, unsequenced, t0),
        Ok(Observed::Accepted(Change::Load))
    );
}

/// Found by chaos/faults.py ("restart with the clock 1 h behind"): the
/// restarted agent's reports were replays until its seq caught up.
#[test]
fn a_restart_with_the_clock_set_back_rejoins_once_the_node_is_stale() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    let mut before = report("a", 500);
    before.sampled_at_ms = 3_600_000 + 10_000;
    registry.observe(Source::Push, before.clone(), t0).unwrap();
    let mut restarted = report("a", 1);
    restarted.sampled_at_ms = 10_500;
    // While the node is fresh, a lower seq sampled earlier is reordering.
    assert_eq!(
        registry.observe(Source::Push, restarted.clone(), t0 + STALE / 2),
        Ok(Observed::Replay {
            seq: 1,
            latest: 500
        })
    );
    // Once it is stale, it is the agent starting over.
    let later = t0 + STALE;
    assert_eq!(
        registry.observe(Source::Push, restarted, later),
        Ok(Observed::Accepted(Change::Membership))
    );
    assert_eq!(pool_ids(&mut registry, later), ["a"]);
    // A stuck sampler repeating its last report is still a replay.
    let mut stuck = report("a", 1);
    stuck.sampled_at_ms = 10_500;
    assert_eq!(
        registry.observe(Source::Push, stuck, later + STALE * 2),
        Ok(Observed::Replay { seq: 1, latest: 1 })
    );
}

#[test]
fn states_follow_the_report_worst_first() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    let cases = [
        ("ready", NodeState::Ready, true, BackendState::Ready),
        (
            "draining",
            NodeState::Draining,
            true,
            BackendState::Draining,
        ),
        (
            "maintenance",
            NodeState::Maintenance,
            true,
            BackendState::Maintenance,
        ),
        ("unhealthy", NodeState::Ready, false, BackendState::Down),
        (
            "unhealthy-draining",
            NodeState::Draining,
            false,
            BackendState::Down,
        ),
    ];
    for (id, node_state, healthy, _) in cases {
        let mut r = report(id, 1);
        r.state = node_state;
        r.healthy = healthy;
        registry.observe(Source::Push, r, t0).unwrap();
    }
    for (id, _, _, want) in cases {
        assert_eq!(state_of(&mut registry, id, t0), want, "{id}");
        // Stale trumps everything.
        assert_eq!(
            state_of(&mut registry, id, t0 + STALE),
            BackendState::Stale,
            "{id}"
        );
    }
    assert_eq!(pool_ids(&mut registry, t0), ["ready"]);
}

#[test]
fn backups_serve_only_while_no_primary_is_eligible() {
    let t0 = Instant::now();
    let backends = [
        configured(Some("primary"), None, false),
        configured(Some("spare"), None, true),
    ];
    let mut registry = new_registry(&backends);
    registry
        .observe(Source::Push, report("spare", 1), t0)
        .unwrap();
    // The primary has not reported: the backup serves.
    assert_eq!(pool_ids(&mut registry, t0), ["spare"]);
    assert!(registry.members(t0, Metric::Cpu).on_backups);

    registry
        .observe(Source::Push, report("primary", 1), t0)
        .unwrap();
    assert_eq!(pool_ids(&mut registry, t0), ["primary"]);

    // The primary drains: backups again.
    let mut draining = report("primary", 2);
    draining.state = NodeState::Draining;
    registry.observe(Source::Push, draining, t0).unwrap();
    assert_eq!(pool_ids(&mut registry, t0), ["spare"]);
}

#[test]
fn pushed_nodes_are_forgotten_configured_ones_are_not() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[configured(Some("kept"), None, false)]);
    registry
        .observe(Source::Push, report("kept", 1), t0)
        .unwrap();
    registry
        .observe(Source::Push, report("pushed", 1), t0)
        .unwrap();
    assert!(!registry.expire(t0 + FORGET - Duration::from_millis(1)));
    assert!(registry.expire(t0 + FORGET));
    let views = registry.views(t0 + FORGET, &|_| false);
    let ids: Vec<&str> = views.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["kept"]);
    // The forgotten node can come back.
    registry
        .observe(Source::Push, report("pushed", 9), t0 + FORGET)
        .unwrap();
    assert_eq!(pool_ids(&mut registry, t0 + FORGET), ["pushed"]);
}

/// `expire` skips its scan until the earliest node may be due; what
/// happens meanwhile — a node reporting again, a new one appearing, a
/// shorter `forget_after` — must not make it forget too early or too late.
#[test]
fn expiry_scans_are_skipped_only_while_nobody_can_be_due() {
    let ms = Duration::from_millis;
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    registry.observe(Source::Push, report("a", 1), t0).unwrap();
    registry.observe(Source::Push, report("b", 1), t0).unwrap();
    // Scanned: "a" and "b" are due at t0 + FORGET.
    assert!(!registry.expire(t0 + ms(1)));
    // "a" reports again and "c" appears after that scan.
    registry
        .observe(Source::Push, report("a", 2), t0 + ms(10))
        .unwrap();
    registry
        .observe(Source::Push, report("c", 1), t0 + ms(20))
        .unwrap();
    assert!(!registry.expire(t0 + FORGET - ms(1)));
    // Only "b" was silent for FORGET.
    assert!(registry.expire(t0 + FORGET));
    let ids = |r: &Registry| -> Vec<String> {
        r.views(t0, &|_| false).into_iter().map(|v| v.id).collect()
    };
    assert_eq!(ids(&registry), ["a", "c"]);
    assert!(!registry.expire(t0 + FORGET + ms(9)));
    assert!(registry.expire(t0 + FORGET + ms(10)));
    assert_eq!(ids(&registry), ["c"]);
    assert!(!registry.expire(t0 + FORGET + ms(19)));
    assert!(registry.expire(t0 + FORGET + ms(20)));
    assert!(ids(&registry).is_empty());

    // A shorter forget_after counts at once, whatever the last scan said.
    let at = t0 + FORGET * 2;
    registry.observe(Source::Push, report("d", 1), at).unwrap();
    assert!(!registry.expire(at + ms(1)));
    let shorter = Settings {
        forget_after: ms(100),
        ..settings()
    };
    registry.reconfigure(&[], shorter, None);
    assert!(registry.expire(at + ms(100)));
    assert!(ids(&registry).is_empty());
}
#[test]
fn next_deadline_is_the_earliest_staleness_or_forgetting() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    assert_eq!(registry.next_deadline(t0), None);
    registry.observe(Source::Push, report("a", 1), t0).unwrap();
    let t1 = t0 + Duration::from_secs(1);
    registry.observe(Source::Push, report("b", 1), t1).unwrap();
    assert_eq!(registry.next_deadline(t1), Some(t0 + STALE));
    assert_eq!(registry.next_deadline(t0 + STALE), Some(t1 + STALE));
    assert_eq!(registry.next_deadline(t1 + STALE), Some(t0 + FORGET));
}

#[test]
fn polled_nodes_learn_their_id_and_seed_reports_take_the_agents_address() {
    let t0 = Instant::now();
    let backends = [
        configured(None, Some("http://127.0.0.1:9101"), false),
        configured(None, Some("http://127.0.0.1:9102"), false),
    ];
    let mut registry = new_registry(&backends);
    let slots: Vec<(usize, String)> = registry.agents().map(|(s, a)| (s, a.into())).collect();
    assert_eq!(slots.len(), 2);

    registry
        .observe(Source::Poll(0), report("web-1", 1), t0)
        .unwrap();
    let mut seed = report("", 0);
    seed.url = Some("http://127.0.0.1:8002".into());
    registry.observe(Source::Poll(1), seed, t0).unwrap();
    assert_eq!(pool_ids(&mut registry, t0), ["127.0.0.1:9102", "web-1"]);

    // Another backend claiming an id already taken is refused.
    let mut registry = new_registry(&backends);
    registry
        .observe(Source::Poll(0), report("web-1", 1), t0)
        .unwrap();
    assert_eq!(
        registry.observe(Source::Poll(1), report("web-1", 1), t0),
        Err(IngestError::IdConflict("web-1".into()))
    );
}

#[test]
fn reports_without_any_url_are_refused_without_a_trace() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    let mut no_url = report("a", 1);
    no_url.url = None;
    assert_eq!(
        registry.observe(Source::Push, no_url.clone(), t0),
        Err(IngestError::NoUrl("a".into()))
    );
    assert!(registry.views(t0, &|_| false).is_empty());

    // A configured url makes the same report acceptable.
    let mut with_url = configured(Some("a"), None, false);
    with_url.url = Some("http://a.test/".into());
    let mut registry = new_registry(&[with_url]);
    registry.observe(Source::Push, no_url, t0).unwrap();
    let members = registry.members(t0, Metric::Cpu);
    assert_eq!(&*members.active[0].base_url, "http://a.test");

    let mut registry = new_registry(&[]);
    assert_eq!(
        registry.observe(Source::Push, report("", 1), t0),
        Err(IngestError::MissingNodeId)
    );
}

#[test]
fn memory_pressure_halves_weight() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    let mut pressed = report("a", 1);
    pressed.mem_percent = 90.0;
    pressed.weight = 2.0;
    registry.observe(Source::Push, pressed, t0).unwrap();
    registry.observe(Source::Push, report("b", 1), t0).unwrap();
    let members = registry.members(t0, Metric::Cpu);
    let weight = |id: &str| members.active.iter().find(|b| &*b.id == id).unwrap().weight;
    assert_eq!(weight("a"), 1.0);
    assert_eq!(weight("b"), 1.0);
}

/// A registry holding node "a", reported at 10% at `t0`, and the snapshot
/// taken then.
fn one_node(t0: Instant) -> (Registry, Members) {
    let mut registry = new_registry(&[]);
    registry.observe(Source::Push, report("a", 1), t0).unwrap();
    let members = registry.members(t0, Metric::Cpu);
    assert!((projected(&members.active[0]) - 0.10).abs() < 1e-9);
    (registry, members)
}

#[test]
fn a_load_only_report_reaches_the_snapshot_without_a_rebuild() {
    let t0 = Instant::now();
    let (mut registry, members) = one_node(t0);
    let a = &members.active[0];

    let mut busier = report("a", 2);
    busier.cpu_percent = 70.0;
    let observed = registry.observe(Source::Push, busier, t0 + Duration::from_secs(1));
    assert_eq!(observed, Ok(Observed::Accepted(Change::Load)));
    // The snapshot taken before the report already projects from it.
    assert!((projected(a) - 0.70).abs() < 1e-9, "{}", projected(a));
}

#[test]
fn reports_that_change_who_takes_clients_ask_for_a_rebuild() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    let accepted = |registry: &mut Registry, report, at| {
        let Ok(Observed::Accepted(change)) = registry.observe(Source::Push, report, at) else {
            panic!("report refused");
        };
        change
    };
    // Before any snapshot, and for a node never seen, nothing is published.
    assert_eq!(
        accepted(&mut registry, report("a", 1), t0),
        Change::Membership
    );
    registry.members(t0, Metric::Cpu);
    assert_eq!(
        accepted(&mut registry, report("b", 1), t0),
        Change::Membership
    );
    registry.members(t0, Metric::Cpu);
    assert_eq!(accepted(&mut registry, report("a", 2), t0), Change::Load);

    let mut draining = report("a", 3);
    draining.state = NodeState::Draining;
    assert_eq!(accepted(&mut registry, draining, t0), Change::Membership);
    let mut sick = report("a", 4);
    sick.healthy = false;
    assert_eq!(accepted(&mut registry, sick, t0), Change::Membership);
    assert_eq!(
        accepted(&mut registry, report("a", 5), t0),
        Change::Membership
    );
    let mut heavier = report("a", 6);
    heavier.weight = 2.0;
    assert_eq!(accepted(&mut registry, heavier, t0), Change::Membership);
    let mut pressed = report("a", 7);
    pressed.weight = 2.0;
    pressed.mem_percent = 99.0;
    assert_eq!(accepted(&mut registry, pressed, t0), Change::Membership);
    let mut moved = report("a", 8);
    moved.url = Some("http://elsewhere.test".into());
    assert_eq!(accepted(&mut registry, moved, t0), Change::Membership);
    // Back from stale: it rejoins the pool.
    let later = t0 + STALE + Duration::from_secs(1);
    let mut back = report("a", 9);
    back.url = Some("http://elsewhere.test".into());
    assert_eq!(accepted(&mut registry, back, later), Change::Membership);
}

#[test]
fn projection_starts_from_the_report_and_counts_redirects_since() {
    let t0 = Instant::now();
    let (mut registry, members) = one_node(t0);
    let a = &members.active[0];
    for _ in 0..10 {
        a.load.add_redirect();
    }
    assert!(projected(a) > 0.10);
    // A new report resets the projection to the reported figure.
    registry.observe(Source::Push, report("a", 2), t0).unwrap();
    let members = registry.members(t0, Metric::Cpu);
    assert!((projected(&members.active[0]) - 0.10).abs() < 1e-9);
    assert_eq!(
        members.active[0].load.redirects(),
        10,
        "counters survive rebuilds"
    );
}

#[test]
fn admin_overrides_win_until_cleared_with_ready() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    registry.observe(Source::Push, report("a", 1), t0).unwrap();
    registry.set_admin("a", Some(NodeState::Draining)).unwrap();
    assert_eq!(state_of(&mut registry, "a", t0), BackendState::Draining);
    // The agent keeps saying ready: the override still wins.
    registry.observe(Source::Push, report("a", 2), t0).unwrap();
    assert_eq!(state_of(&mut registry, "a", t0), BackendState::Draining);
    registry
        .set_admin("a", Some(NodeState::Maintenance))
        .unwrap();
    assert_eq!(state_of(&mut registry, "a", t0), BackendState::Maintenance);
    registry.set_admin("a", None).unwrap();
    assert_eq!(state_of(&mut registry, "a", t0), BackendState::Ready);
    assert_eq!(
        registry.set_admin("nope", None),
        Err(UnknownNode("nope".into()))
    );
}

#[test]
fn failing_health_checks_take_a_node_down_and_passing_ones_bring_it_back() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    registry.observe(Source::Push, report("a", 1), t0).unwrap();
    let fail = CheckResult::Fail("500".into());
    let pass = CheckResult::Pass(Duration::from_millis(5));
    assert_eq!(registry.observe_health("a", &fail), Some(false));
    assert_eq!(state_of(&mut registry, "a", t0), BackendState::Down);
    assert_eq!(
        view(&mut registry, "a", t0).health,
        signpost_shared::Health::Failing
    );
    assert!(pool_ids(&mut registry, t0).is_empty());
    // rise = 2 by default.
    assert_eq!(registry.observe_health("a", &pass), None);
    assert_eq!(registry.observe_health("a", &pass), Some(true));
    assert_eq!(pool_ids(&mut registry, t0), ["a"]);
    assert_eq!(registry.observe_health("unknown", &pass), None);
}

#[test]
fn health_targets_need_a_path_and_a_url() {
    let t0 = Instant::now();
    let mut with_path = configured(Some("checked"), None, false);
    with_path.health.path = Some("/healthz".into());
    with_path.url = Some("http://checked.test/app/".into());
    let mut registry = new_registry(&[with_path, configured(Some("unchecked"), None, false)]);
    registry
        .observe(Source::Push, report("unchecked", 1), t0)
        .unwrap();
    let targets = registry.health_targets();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].url, "http://checked.test/app/healthz");
}

#[test]
fn slow_start_ramps_weight_after_joining_and_after_draining() {
    let t0 = Instant::now();
    let ramp = Duration::from_secs(10);
    let mut registry = Registry::new(
        &[],
        Settings {
            slow_start: ramp,
            stale_after: Duration::from_secs(60),
            ..settings()
        },
        None,
    );
    registry.observe(Source::Push, report("a", 1), t0).unwrap();
    let weight =
        |registry: &mut Registry, at| registry.members(at, Metric::Cpu).active[0].draw_weight();
    assert!(weight(&mut registry, t0) <= 0.011);
    assert!((weight(&mut registry, t0 + ramp / 2) - 0.5).abs() < 1e-9);
    assert_eq!(weight(&mut registry, t0 + ramp), 1.0);
    // The ramp schedules rebuilds while it runs.
    assert!(registry.next_deadline(t0 + ramp / 2).unwrap() <= t0 + ramp / 2 + ramp / 20);

    // Draining, then ready again: a fresh ramp.
    let t1 = t0 + ramp;
    registry.set_admin("a", Some(NodeState::Draining)).unwrap();
    assert!(registry.members(t1, Metric::Cpu).active.is_empty());
    registry.set_admin("a", None).unwrap();
    assert!(weight(&mut registry, t1 + Duration::from_secs(1)) < 0.2);
}

#[test]
fn reconfigure_keeps_what_is_known_about_remaining_backends() {
    let t0 = Instant::now();
    let backends = [
        configured(Some("stays"), None, false),
        configured(Some("goes"), None, false),
    ];
    let mut registry = new_registry(&backends);
    registry
        .observe(Source::Push, report("stays", 1), t0)
        .unwrap();
    registry
        .observe(Source::Push, report("goes", 1), t0)
        .unwrap();
    registry
        .observe(Source::Push, report("pushed", 1), t0)
        .unwrap();
    registry.members(t0, Metric::Cpu).active[0]
        .load
        .add_redirect();
    let sent_before = view(&mut registry, "stays", t0).redirects_total;

    let mut weighted = configured(Some("stays"), None, true);
    weighted.weight = 3.0;
    registry.reconfigure(
        &[weighted, configured(Some("new"), None, false)],
        settings(),
        None,
    );
    let ids: Vec<String> = registry
        .views(t0, &|_| false)
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(ids, ["new", "pushed", "stays"]);
    let stays = view(&mut registry, "stays", t0);
    assert_eq!(
        stays.redirects_total, sent_before,
        "counters survive a reload"
    );
    assert_eq!(
        stays.state,
        BackendState::Ready,
        "its report survives a reload"
    );
    assert!(stays.backup && stays.weight == 3.0, "new settings apply");
}

#[test]
fn a_checked_node_takes_no_clients_until_its_first_check_passes() {
    let t0 = Instant::now();
    let mut checked = configured(Some("a"), None, false);
    checked.health.path = Some("/healthz".into());
    let mut registry = new_registry(&[checked, configured(Some("b"), None, false)]);
    registry.observe(Source::Push, report("a", 1), t0).unwrap();
    registry.observe(Source::Push, report("b", 1), t0).unwrap();
    // Its agent reports, but nothing has reached the backend yet: down,
    // health unknown. A node without checks is ready at once.
    let a = view(&mut registry, "a", t0);
    assert_eq!(
        (a.state, a.health),
        (BackendState::Down, signpost_shared::Health::Unknown)
    );
    assert_eq!(pool_ids(&mut registry, t0), ["b"]);
    let pass = CheckResult::Pass(Duration::from_millis(5));
    registry.observe_health("a", &pass);
    let a = view(&mut registry, "a", t0);
    assert_eq!(
        (a.state, a.health),
        (BackendState::Ready, signpost_shared::Health::Passing)
    );
    assert_eq!(pool_ids(&mut registry, t0), ["a", "b"]);
}

#[test]
fn a_new_advertised_url_takes_effect_at_the_next_report() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    registry.observe(Source::Push, report("a", 1), t0).unwrap();
    let mut moved = report("a", 2);
    moved.url = Some("http://a.moved:9000/".into());
    registry.observe(Source::Push, moved, t0).unwrap();
    let members = registry.members(t0, Metric::Cpu);
    assert_eq!(&*members.active[0].base_url, "http://a.moved:9000");
}

#[test]
fn a_saturated_node_projects_the_backlog_its_report_hides() {
    let t0 = Instant::now();
    let at = |secs: u64| t0 + Duration::from_secs(secs);
    let mut registry = new_registry(&[]);
    let push = |registry: &mut Registry, cpu_percent: f64, secs: u64| {
        let mut r = report("a", secs + 1);
        r.cpu_percent = cpu_percent;
        registry.observe(Source::Push, r, at(secs)).unwrap();
    };
    push(&mut registry, 50.0, 0);
    let live = registry.members(at(0), Metric::Cpu).active[0].load.clone();
    // 10 redirects a second at 50%: 0.05 busy seconds each.
    for secs in 1..=10 {
        (0..10).for_each(|_| live.add_redirect());
        push(&mut registry, 50.0, secs);
    }
    // Then 30 a second, and the node reports 100% five times: 150
    // redirects at 0.05 s (plus 10% while saturated) is 8.25 s of work,
    // only 5 s of it done.
    for secs in 11..=15 {
        (0..30).for_each(|_| live.add_redirect());
        push(&mut registry, 100.0, secs);
    }
    let a = registry.members(at(15), Metric::Cpu).active[0].clone();
    let service = 0.055;
    // 150 - 5 / 0.055 = 59 redirects still queued.
    assert!((projected(&a) - (1.0 + 59.0 * service)).abs() < 1e-9);
    // Two seconds on, the node has worked through two more seconds of it:
    // the projection drains with the clock of each pick, no rebuild needed.
    let p = a.load.projection();
    let two_s_later = p.load(a.load.redirects(), p.at + 2.0, p.base);
    assert!((two_s_later - (1.0 + 59.0 * service - 2.0)).abs() < 1e-9);
    assert_eq!(registry.next_deadline(at(17)), Some(at(15) + STALE));
    // A report below saturation ends the run and the backlog.
    push(&mut registry, 50.0, 18);
    let a = registry.members(at(18), Metric::Cpu).active[0].clone();
    assert_eq!(a.load.projection().sent_at_report, a.load.redirects());
}

#[test]
fn the_view_shows_the_capacity_learnt_for_a_slow_node() {
    let t0 = Instant::now();
    let at = |secs: u64| t0 + Duration::from_secs(secs);
    let mut registry = new_registry(&[]);
    // Two machines sent alike, one at 40% and one saturated: the slow one
    // is cut within its first reports, the other stays the median.
    for secs in 0..=6 {
        for (id, cpu_percent) in [("fast", 40.0), ("slow", 100.0)] {
            let mut r = report(id, secs + 1);
            r.cpu_percent = cpu_percent;
            registry.observe(Source::Push, r, at(secs)).unwrap();
        }
        for backend in &registry.members(at(secs), Metric::Cpu).active {
            (0..20).for_each(|_| backend.load.add_redirect());
        }
    }
    let (fast, slow) = (
        view(&mut registry, "fast", at(6)),
        view(&mut registry, "slow", at(6)),
    );
    assert_eq!(fast.learnt_capacity, 1.0, "{fast:?}");
    assert!(slow.learnt_capacity < 0.75, "{slow:?}");
    // The view shows the factor least-load's cycle weights the node by.
    let members = registry.members(at(6), Metric::Cpu);
    let capacity_of = |id: &str| {
        members
            .active
            .iter()
            .find(|b| &*b.id == id)
            .unwrap()
            .capacity
    };
    assert_eq!(capacity_of("slow"), slow.learnt_capacity);
    assert_eq!(capacity_of("fast"), fast.learnt_capacity);
}

/// Two machines, "fast" and "slow", at `speeds(second)` jobs a second,
/// run as fluid queues under `least-load`'s shares for `secs` one-second
/// reports: each second the pool is sent `clients` split by the shares the
/// registry's members give, each node completes what its speed allows, and
/// reports its busy fraction and its backlog as connections (one per client
/// in flight). Returns, after every report, each node's learnt capacity and
/// the slow one's backlog.
fn fluid_pool(secs: u64, clients: f64, speeds: impl Fn(u64) -> [f64; 2]) -> Vec<(f64, f64, f64)> {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    let mut backlog = [0.0f64; 2];
    let mut sent = [0.0f64; 2];
    let mut learnt = Vec::new();
    for secs in 0..secs {
        let now = t0 + Duration::from_secs(secs);
        let [fast, slow] = speeds(secs);
        let nodes = [("fast", fast), ("slow", slow)];
        for (k, &(id, speed)) in nodes.iter().enumerate() {
            let done = backlog[k].min(speed);
            backlog[k] -= done;
            let mut r = report(id, secs + 1);
            r.cpu_percent = 100.0 * done / speed;
            r.connections = backlog[k].round() as u64;
            registry.observe(Source::Push, r, now).unwrap();
        }
        let members = registry.members(now, Metric::Cpu);
        let total: f64 = members.active.iter().map(|b| b.capacity).sum();
        for (k, &(id, _)) in nodes.iter().enumerate() {
            let backend = members.active.iter().find(|b| &*b.id == id).unwrap();
            // Whole clients, the fraction carried to the next second.
            sent[k] += clients * backend.capacity / total;
            let whole = sent[k].floor();
            sent[k] -= whole;
            backlog[k] += whole;
            (0..whole as u64).for_each(|_| backend.load.add_redirect());
        }
        let mut capacity = |id| view(&mut registry, id, now).learnt_capacity;
        learnt.push((capacity("fast"), capacity("slow"), backlog[1]));
    }
    learnt
}

#[test]
fn once_the_figure_is_seen_linear_capacities_are_the_measured_speeds() {
    // A machine a quarter as fast is learnt so: the controller alone
    // overshot to 0.21 while the slow one's backlog drained, and stayed.
    let learnt = fluid_pool(120, 400.0, |_| [400.0, 100.0]);
    assert_eq!(
        learnt.last().map(|l| (l.0, l.1)),
        Some((1.0, 0.25)),
        "{learnt:?}"
    );
    // One that slows down again is followed by its measured speed, at
    // every snapshot: two steps of the three within 15 reports, all of
    // them as its window forgets the old speed.
    let learnt = fluid_pool(150, 400.0, |second| {
        [400.0, if second < 60 { 100.0 } else { 50.0 }]
    });
    assert_eq!(
        learnt.last().map(|l| (l.0, l.1)),
        Some((1.0, 0.125)),
        "{learnt:?}"
    );
    let followed = learnt[60..].iter().position(|&(_, slow, _)| slow < 0.15);
    assert!(
        followed.is_some_and(|after| after <= 15),
        "{:?}",
        &learnt[60..]
    );
}

#[test]
fn a_node_that_slows_down_in_an_equal_pool_is_cut_to_what_it_completes() {
    // Two equal machines at 60%, until another tenant takes 60% of one
    // (250 → 100 jobs a second): sent 150, it queues 50 more each second.
    // Its shares never changed, so no speed is lent; but its own speed,
    // steady until then, changed: it is cut at its next report (9 s
    // after on the backlog its connections show, and 15 s after by the
    // controller alone, queueing all the while), and the backlog drains:
    // what is left is the last second's clients.
    let learnt = fluid_pool(200, 300.0, |second| {
        [250.0, if second < 60 { 250.0 } else { 100.0 }]
    });
    assert!(
        learnt[..60].iter().all(|l| (l.0, l.1) == (1.0, 1.0)),
        "{learnt:?}"
    );
    let cut = learnt[60..].iter().position(|&(_, slow, _)| slow <= 0.5);
    assert_eq!(cut, Some(0), "{:?}", &learnt[60..]);
    let (_, slow, backlog) = *learnt.last().unwrap();
    assert!(slow < 0.5 && backlog < 100.0, "{:?}", &learnt[60..]);
}

#[test]
fn a_hot_node_whose_turns_least_load_gives_away_is_cut_to_what_it_takes() {
    // Two machines sent 10 clients a second, one reading 40%, the other
    // 90% — hot, but never saturated: `least-load` steers off it before
    // it reads 100% (a queue length hovering under its cap), and it takes
    // 2 of the 5 turns its share names it for. Its share follows what it
    // takes at the first snapshot where the turns given away are past
    // noise (the 12th), not after the controller's two windows, and at
    // once: to the step nearest 2 of 5. (The first interval, before the
    // dispatcher has a pace, counts as named what it was sent; counted as
    // none named, its 2 redirects read as taken past the share, and the
    // cut came a snapshot later.)
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    let mut capacities = Vec::new();
    for secs in 0..16 {
        let now = t0 + Duration::from_secs(secs);
        for (id, cpu_percent) in [("cool", 40.0), ("hot", 90.0)] {
            let mut r = report(id, secs + 1);
            r.cpu_percent = cpu_percent;
            registry.observe(Source::Push, r, now).unwrap();
        }
        for backend in &registry.members(now, Metric::Cpu).active {
            let taken = if &*backend.id == "hot" { 2 } else { 8 };
            (0..taken).for_each(|_| backend.load.add_redirect());
        }
        capacities.push(view(&mut registry, "hot", now).learnt_capacity);
    }
    let cut = capacities.iter().position(|&c| c < 1.0);
    assert_eq!(cut, Some(11), "{capacities:?}");
    assert!(
        capacities[11..]
            .iter()
            .all(|&c| c == (-5.0f64 / 4.0).exp2()),
        "{capacities:?}"
    );
    assert_eq!(view(&mut registry, "cool", t0).learnt_capacity, 1.0);
}

#[test]
fn agents_in_phase_are_corrected_at_the_first_report_that_tells_them_apart() {
    // Two machines twice as fast as the other two, sent alike after a
    // start, all reporting together every 2 s (50 service times of 40 ms).
    // The first report reads the fast ones near idle and the slow ones
    // saturated, their backlog growing past noise but not yet far enough
    // to cut them on it. The rebuild after that report steps the fast
    // ones up an octave, so the slow ones get half their share. Corrected
    // at the report itself, against the survey of the rebuild before
    // (which had no figures yet), nothing moved until the next report.
    let t0 = Instant::now();
    let at = |secs: u64| t0 + Duration::from_secs(secs);
    let mut registry = new_registry(&[]);
    let nodes = [
        ("fast1", 5.0, 2),
        ("fast2", 5.0, 2),
        ("slow1", 100.0, 40),
        ("slow2", 100.0, 40),
    ];
    for (id, _, _) in nodes {
        let mut r = report(id, 1);
        r.cpu_percent = 0.0;
        registry.observe(Source::Push, r, at(0)).unwrap();
    }
    for backend in &registry.members(at(0), Metric::Cpu).active {
        (0..140).for_each(|_| backend.load.add_redirect());
    }
    for (id, cpu_percent, connections) in nodes {
        let mut r = report(id, 2);
        r.cpu_percent = cpu_percent;
        r.connections = connections;
        registry.observe(Source::Push, r, at(2)).unwrap();
    }
    registry.members(at(2), Metric::Cpu);
    let learnt = nodes.map(|(id, _, _)| view(&mut registry, id, at(2)).learnt_capacity);
    assert_eq!(learnt, [1.0, 1.0, 0.5, 0.5]);
}

#[test]
fn a_slow_node_after_a_start_is_cut_at_its_first_report_and_drains() {
    // A machine a quarter as fast, at 90% load: at an equal share it is
    // sent 225 a second for 100, and queues 125 more each. What its first
    // report counts it completing cuts it to a quarter at once (it was
    // cut at the second, to 0.30, then 0.25 at the twelfth); its backlog
    // peaks at the first second's and is drained within 15 s (it peaked
    // at 381, and 200 were left after 30 s).
    let learnt = fluid_pool(30, 450.0, |_| [400.0, 100.0]);
    assert!(
        learnt[1..].iter().all(|l| (l.0, l.1) == (1.0, 0.25)),
        "{learnt:?}"
    );
    let peak = learnt.iter().map(|l| l.2).fold(0.0, f64::max);
    assert_eq!(peak, 225.0, "{learnt:?}");
    assert!(learnt[15..].iter().all(|l| l.2 <= 90.0), "{learnt:?}");
}

#[test]
fn a_node_owes_the_connections_past_its_part_of_the_pools_counted_by_agents_that_count() {
    let t0 = Instant::now();
    let mut registry = new_registry(&[]);
    let with = |id: &str, seq: u64, connections: u64| LoadReport {
        connections,
        ..report(id, seq)
    };
    for id in ["a", "b", "c", "never-counts"] {
        registry.observe(Source::Push, with(id, 1, 0), t0).unwrap();
    }
    let members = registry.members(t0, Metric::Cpu);
    let t1 = t0 + Duration::from_secs(1);
    for (id, connections) in [("a", 30), ("b", 10), ("c", 5), ("never-counts", 0)] {
        registry
            .observe(Source::Push, with(id, 2, connections), t1)
            .unwrap();
    }
    let t2 = t1 + Duration::from_secs(1);
    registry
        .observe(Source::Push, with("a", 3, 30), t2)
        .unwrap();
    // The dashboard shows what is owed before any is repaid.
    assert_eq!(view(&mut registry, "a", t2).turns_owed, 15);
    // Repaid one by one, as `least-load` does.
    let owed = |id: &str| {
        let node = members.active.iter().find(|b| &*b.id == id).unwrap();
        std::iter::from_fn(|| node.load.repay_turn().then_some(())).count()
    };
    // 45 connections over the three equal shares of agents that count
    // them: 15 each. An agent that never reported one is left out — with
    // it, "a" would owe 30 − 45/4 ≈ 19.
    assert_eq!(owed("a"), 15);
    assert_eq!(owed("b"), 0);
    assert_eq!(owed("never-counts"), 0);
    // The sums are taken afresh at a snapshot and swapped per report: the
    // same reports owe the same, whichever way they were summed.
    registry.members(t2, Metric::Cpu);
    let t3 = t2 + Duration::from_secs(1);
    registry
        .observe(Source::Push, with("a", 4, 30), t3)
        .unwrap();
    assert_eq!(owed("a"), 15);
    registry
        .observe(Source::Push, with("c", 3, 20), t3)
        .unwrap();
    // 30 + 10 + 20 over three: "c" holds 20, its part is 20.
    assert_eq!(owed("c"), 0);
    registry
        .observe(Source::Push, with("a", 5, 40), t3)
        .unwrap();
    // 40 + 10 + 20 over three: "a" holds 40 of its part's 23⅓.
    assert_eq!(owed("a"), 17);
}

#[test]
fn a_node_is_named_what_each_snapshots_pace_and_share_named_it_while_they_stood() {
    use super::node::Named;
    // Two seconds at 10 redirects a second per share, then two at 20 (its
    // peers were cut): 60 named, not the 80 that the pace at the report
    // over the whole interval says.
    let named = Named::default().after(10.0, 1.0, 2.0).after(20.0, 1.0, 2.0);
    assert_eq!(named.since(Named::default(), 4.0), 60.0);
    // The first two seconds had no pace (the pool's first reports): the
    // rest's rate stands for them.
    let late = Named::default().after(0.0, 1.0, 2.0).after(10.0, 1.0, 2.0);
    assert_eq!(late.since(Named::default(), 4.0), 40.0);
    // With no pace throughout nothing is named (it then counts as sent).
    let none = Named::default().after(0.0, 1.0, 4.0);
    assert_eq!(none.since(Named::default(), 4.0), 0.0);
    // Since an earlier report, only what came after it.
    assert_eq!(
        named.since(Named::default().after(10.0, 1.0, 2.0), 2.0),
        40.0
    );
}
