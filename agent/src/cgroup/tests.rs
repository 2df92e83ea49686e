//! Discovery and parsing on fixture trees under `agent/tests/fixtures/cgroup`.

use super::*;

const V1_PROC: &str = "9:name=systemd:/\n4:memory:/kubepods/pod1\n3:cpuacct:/kubepods/pod1\n\
                       2:cpu:/kubepods/pod1\n0::/\n";
const V1_PROC_COMBINED: &str = "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n";
const V2_PROC: &str = "0::/kubepods/pod1\n";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cgroup")
        .join(name)
}

struct Case {
    fixture: &'static str,
    proc_self_cgroup: &'static str,
    cpu_limit: Option<f64>,
    cpu_usage: Option<Duration>,
    memory: Option<Memory>,
}

#[test]
fn fixture_table() {
    let cases = [
        Case {
            fixture: "v1-limits",
            proc_self_cgroup: V1_PROC,
            cpu_limit: Some(1.5),
            cpu_usage: Some(Duration::from_secs(5)),
            memory: Some(Memory {
                used: 128 << 20,
                limit: 512 << 20,
            }),
        },
        Case {
            // The listed path is the host's; the files sit at the controller
            // roots, as in a container without a cgroup namespace.
            fixture: "v1-nolimit",
            proc_self_cgroup: V1_PROC_COMBINED,
            cpu_limit: None,
            cpu_usage: Some(Duration::from_nanos(110_547_767_800)),
            memory: None,
        },
        Case {
            fixture: "v2-limits",
            proc_self_cgroup: V2_PROC,
            cpu_limit: Some(2.0),
            cpu_usage: Some(Duration::from_micros(7_250_000)),
            memory: Some(Memory {
                used: 512 << 20,
                limit: 1 << 30,
            }),
        },
        Case {
            fixture: "v2-max",
            proc_self_cgroup: "0::/\n",
            cpu_limit: None,
            cpu_usage: Some(Duration::from_micros(42)),
            memory: None,
        },
    ];
    for case in cases {
        let cgroup = Cgroup::discover(&fixture(case.fixture), case.proc_self_cgroup)
            .unwrap_or_else(|| panic!("{}: no cgroup found", case.fixture));
        assert_eq!(
            cgroup.cpu_limit(),
            case.cpu_limit,
            "{}: cpu limit",
            case.fixture
        );
        assert_eq!(
            cgroup.cpu_usage(),
            case.cpu_usage,
            "{}: cpu usage",
            case.fixture
        );
        assert_eq!(cgroup.memory(), case.memory, "{}: memory", case.fixture);
    }
}

#[test]
fn discovery_picks_the_listed_group_directory() {
    let root = fixture("v2-limits");
    assert_eq!(
        Cgroup::discover(&root, V2_PROC),
        Some(Cgroup::V2(root.join("kubepods/pod1")))
    );
    let root = fixture("v1-limits");
    let Some(Cgroup::V1 { cpu, memory, .. }) = Cgroup::discover(&root, V1_PROC) else {
        panic!("v1 fixture not recognised as v1");
    };
    assert_eq!(cpu, root.join("cpu/kubepods/pod1"));
    assert_eq!(memory, root.join("memory/kubepods/pod1"));
}

#[test]
fn discovery_needs_the_controllers_listed() {
    assert_eq!(
        Cgroup::discover(&fixture("v1-limits"), "4:memory:/\n"),
        None
    );
    assert_eq!(Cgroup::discover(&fixture("v2-max"), "4:memory:/\n"), None);
}

#[test]
fn quota_parsing_table() {
    let cases = [
        ("max 100000", None),
        ("max", None),
        ("200000 100000", Some(2.0)),
        ("50000 100000\n", Some(0.5)),
        ("150000", Some(1.5)),
        ("garbage", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_cpu_max(text), want, "{text:?}");
    }
    assert_eq!(parse_cfs_quota("-1\n", "100000\n"), None);
    assert_eq!(parse_cfs_quota("400000\n", "100000\n"), Some(4.0));
    assert_eq!(parse_cfs_quota("100000", "0"), None);
}

#[test]
fn limit_parsing_table() {
    let cases = [
        ("max\n", None),
        ("9223372036854771712\n", None),
        ("536870912\n", Some(536_870_912)),
        ("", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_limit(text), want, "{text:?}");
    }
}

#[test]
fn stat_fields_match_whole_keys() {
    let stat = "inactive_file 10\ntotal_inactive_file 20\nusage_usec 30\n";
    assert_eq!(stat_field(stat, "inactive_file"), Some(10));
    assert_eq!(stat_field(stat, "total_inactive_file"), Some(20));
    assert_eq!(stat_field(stat, "usage_usec"), Some(30));
    assert_eq!(stat_field(stat, "usage"), None);
}
