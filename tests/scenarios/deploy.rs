//! deploy/ checked against the real binaries, without Docker or a cluster:
//! every YAML file parses and every Kubernetes object is well-formed, every
//! flag and `SIGNPOST_*` variable that deploy/ uses exists in the
//! binary's `--help`, every sample dispatcher config passes
//! `check-config`, the systemd units pass `systemd-analyze verify`, and
//! deploy/REFERENCE.md is exactly what `--help` prints today
//! (`SIGNPOST_BLESS=1` rewrites it).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use signpost_e2e::binary;
use yaml_rust2::{Yaml, YamlLoader};

const DISPATCHER: &str = "signpost-dispatcher";
const AGENT: &str = "signpost-agent";

/// Variables the systemd units define for themselves (extra flags spliced
/// into ExecStart), not read by a binary.
const UNIT_VARIABLES: [&str; 2] = ["SIGNPOST_DISPATCHER_OPTS", "SIGNPOST_AGENT_OPTS"];

/// The `--help` pages the reference is made of, as argument lists.
const REFERENCE_PAGES: [(&str, &[&str]); 4] = [
    (DISPATCHER, &["--help"]),
    (DISPATCHER, &["check-config", "--help"]),
    (AGENT, &["--help"]),
    (AGENT, &["once", "--help"]),
];

#[test]
fn every_yaml_file_parses_and_kubernetes_objects_are_complete() {
    let files = yaml_files();
    assert!(files.len() >= 8, "too few YAML files found: {files:?}");
    for (path, docs) in &files {
        let in_kubernetes = path.components().any(|c| c.as_os_str() == "kubernetes");
        for doc in docs.iter().filter(|doc| !doc.is_null()) {
            if !in_kubernetes {
                continue;
            }
            let kind = doc["kind"].as_str().unwrap_or("");
            assert!(
                !kind.is_empty(),
                "{}: an object without kind",
                path.display()
            );
            assert!(
                doc["apiVersion"].as_str().is_some(),
                "{}: {kind} without apiVersion",
                path.display()
            );
            // A Kustomization is a file, not an object: it has no name.
            if kind != "Kustomization" {
                assert!(
                    doc["metadata"]["name"].as_str().is_some(),
                    "{}: {kind} without metadata.name",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn every_kustomization_lists_files_that_exist() {
    for (path, docs) in yaml_files() {
        if path
            .file_name()
            .is_none_or(|name| name != "kustomization.yaml")
        {
            continue;
        }
        let dir = path.parent().expect("a file has a folder");
        for resource in docs[0]["resources"].as_vec().expect("resources list") {
            let resource = resource.as_str().expect("a resource is a path");
            assert!(
                dir.join(resource).exists(),
                "{}: {resource} does not exist",
                path.display()
            );
        }
    }
}

#[test]
fn every_flag_used_in_deploy_exists() {
    let mut used = 0;
    for (path, docs) in yaml_files() {
        for doc in &docs {
            for (bin, flag) in yaml_flags(doc) {
                assert_flag(bin, &flag, &path);
                used += 1;
            }
        }
    }
    for unit in unit_files() {
        let text = read(&unit);
        for line in text.lines().filter(|line| line.starts_with("Exec")) {
            for (bin, word) in command_line_flags(line) {
                assert_flag(bin, &word, &unit);
                used += 1;
            }
        }
    }
    assert!(used >= 6, "only {used} flags found: is the walk broken?");
}

#[test]
fn every_environment_variable_used_in_deploy_exists() {
    let mut seen = BTreeSet::new();
    for path in deploy_files() {
        let name = path.to_string_lossy();
        if name.ends_with(".md") {
            continue;
        }
        for var in signpost_variables(&read(&path)) {
            // `SIGNPOST_AGENT_*` in a comment names a family, not a variable.
            if UNIT_VARIABLES.contains(&var.as_str()) || var.ends_with('_') {
                continue;
            }
            let bin = if var.starts_with("SIGNPOST_AGENT_") {
                AGENT
            } else {
                DISPATCHER
            };
            let listed = [format!("[env: {var}="), format!("[env: {var}]")];
            assert!(
                listed.iter().any(|marker| help(bin).contains(marker)),
                "{}: {var} is not a variable of {bin} (see {bin} --help)",
                path.display()
            );
            seen.insert(var);
        }
    }
    for must in [
        "SIGNPOST_TOKEN",
        "SIGNPOST_COOKIE_SECRET",
        "SIGNPOST_AGENT_NODE_ID",
        "SIGNPOST_AGENT_ADVERTISE",
        "SIGNPOST_AGENT_DISPATCHER",
        "SIGNPOST_AGENT_TOKEN",
    ] {
        assert!(seen.contains(must), "deploy/ never sets {must}: {seen:?}");
    }
}

#[test]
fn every_sample_dispatcher_config_passes_check_config() {
    let dir = tempfile::tempdir().expect("create a temp folder");
    let mut configs = vec![deploy_dir().join("examples/dispatcher.toml")];
    for (path, docs) in yaml_files() {
        for doc in docs
            .iter()
            .filter(|doc| doc["kind"].as_str() == Some("ConfigMap"))
        {
            let Some(data) = doc["data"].as_hash() else {
                continue;
            };
            for (key, value) in data {
                let (Some(key), Some(toml)) = (key.as_str(), value.as_str()) else {
                    continue;
                };
                if key.ends_with(".toml") {
                    let name = format!("{}-{key}", configs.len());
                    let extracted = dir.path().join(name);
                    std::fs::write(&extracted, toml).expect("write the extracted config");
                    eprintln!("{}: {key} -> {}", path.display(), extracted.display());
                    configs.push(extracted);
                }
            }
        }
    }
    assert!(configs.len() >= 2, "no ConfigMap holds a dispatcher.toml");
    for config in configs {
        let out = run(DISPATCHER, &["check-config", &config.to_string_lossy()]);
        assert!(
            out.status.success(),
            "check-config {} failed ({}):\n{}",
            config.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn agents_push_to_every_dispatcher_replica() {
    // A Deployment of any size: the agents push to a headless Service,
    // whose name resolves to every dispatcher pod.
    let dispatcher = kubernetes_object("Deployment", DISPATCHER);
    let labels = &dispatcher["spec"]["template"]["metadata"]["labels"];
    let service = kubernetes_object("Service", "signpost-control-pods");
    assert_eq!(service["spec"]["clusterIP"].as_str(), Some("None"));
    let selector = service["spec"]["selector"].as_hash().expect("a selector");
    for (key, value) in selector {
        assert_eq!(&labels[key.as_str().expect("a label name")], value);
    }
    let agent = kubernetes_object("DaemonSet", AGENT);
    let env = &agent["spec"]["template"]["spec"]["containers"][0]["env"];
    let var = |name: &str| {
        env.as_vec()
            .expect("env list")
            .iter()
            .find(|var| var["name"].as_str() == Some(name))
            .and_then(|var| var["value"].as_str())
            .map(str::to_owned)
    };
    assert_eq!(
        var("SIGNPOST_AGENT_DISPATCHER").as_deref(),
        Some("http://signpost-control-pods:9100")
    );
    assert!(var("SIGNPOST_AGENT_DISPATCHER_REFRESH").is_some());
}

#[test]
fn systemd_units_are_hardened_and_verify() {
    for unit in unit_files() {
        let text = read(&unit);
        let name = unit.file_stem().expect("a unit name").to_string_lossy();
        let mut want = vec![
            "DynamicUser=yes".to_owned(),
            format!("EnvironmentFile=-/etc/default/{name}"),
            "Restart=on-failure".to_owned(),
            "NoNewPrivileges=yes".to_owned(),
            "ProtectSystem=strict".to_owned(),
            "ProtectHome=yes".to_owned(),
            "PrivateTmp=yes".to_owned(),
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX".to_owned(),
            "SystemCallArchitectures=native".to_owned(),
        ];
        if name == DISPATCHER {
            want.push(format!(
                "ExecStartPre=/usr/local/bin/{name} check-config /etc/signpost/dispatcher.toml"
            ));
            want.push("ExecReload=/bin/kill -HUP $MAINPID".to_owned());
        }
        for line in want {
            assert!(
                text.lines().any(|l| l == line),
                "{}: no `{line}`",
                unit.display()
            );
        }
        // The agent needs /proc/net and /proc/stat: ProcSubset=pid hides them.
        if name == AGENT {
            assert!(
                !text.lines().any(|l| l.starts_with("ProcSubset=")),
                "{}",
                unit.display()
            );
        }
        let defaults = deploy_dir().join(format!("systemd/{name}.default"));
        assert!(defaults.exists(), "{} is missing", defaults.display());
    }
    systemd_analyze_verify(&unit_files());
}

#[test]
fn reference_matches_help() {
    let path = deploy_dir().join("REFERENCE.md");
    let want = reference();
    if std::env::var_os("SIGNPOST_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write deploy/REFERENCE.md");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let diff = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
        panic!(
            "deploy/REFERENCE.md is out of date from line {}; regenerate it with\n  \
             SIGNPOST_BLESS=1 cargo test -p signpost-e2e --test scenarios reference_matches_help\n\
             have: {:?}\nwant: {:?}",
            diff + 1,
            have.lines().nth(diff),
            want.lines().nth(diff)
        );
    }
}

/// deploy/REFERENCE.md: every `--help` page, verbatim.
fn reference() -> String {
    let mut out = String::from(
        "# signpost configuration reference\n\n\
         Generated from the binaries' `--help` by `tests/scenarios/deploy.rs`\n\
         (`SIGNPOST_BLESS=1 cargo test -p signpost-e2e --test scenarios\n\
         reference_matches_help`); CI fails when it and `--help` differ. Every\n\
         flag is also an environment variable (`[env: ...]`) and, for the\n\
         dispatcher, a key of the `--config` TOML file: see\n\
         `deploy/examples/dispatcher.toml`.\n",
    );
    for (bin, args) in REFERENCE_PAGES {
        let page = String::from_utf8(run(bin, args).stdout).expect("help is UTF-8");
        let _ = write!(
            out,
            "\n## `{bin} {}`\n\n```text\n{}\n```\n",
            args.join(" "),
            page.trim_end()
        );
    }
    out
}

/// Runs `bin` with `args`, without any `SIGNPOST_*` variable of the test's
/// environment (help would show their values).
fn run(bin: &str, args: &[&str]) -> Output {
    let mut command = Command::new(binary(bin));
    command.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SIGNPOST_") {
            command.env_remove(key);
        }
    }
    command.output().expect("run the binary")
}

/// `bin --help`, run once per test process.
fn help(bin: &str) -> &'static str {
    static PAGES: OnceLock<[String; 2]> = OnceLock::new();
    let page = |bin| {
        let out = run(bin, &["--help"]);
        assert!(out.status.success(), "{bin} --help failed");
        String::from_utf8(out.stdout).expect("help is UTF-8")
    };
    let [dispatcher, agent] = PAGES.get_or_init(|| [page(DISPATCHER), page(AGENT)]);
    if bin == AGENT { agent } else { dispatcher }
}

/// Panics unless `flag` (`--name` or `--name=value`) or subcommand is one
/// of `bin`'s, naming `file`.
fn assert_flag(bin: &str, flag: &str, file: &Path) {
    let name = flag.split('=').next().unwrap_or(flag);
    let listed = if name.starts_with("--") {
        help(bin)
            .lines()
            .any(|line| line.trim_start().split([' ', ',']).any(|word| word == name))
    } else {
        help(bin)
            .lines()
            .any(|line| line.split_whitespace().next() == Some(name))
    };
    assert!(
        listed,
        "{}: `{name}` is not in `{bin} --help`",
        file.display()
    );
}

/// The flags (and subcommands) of the signpost binary an `Exec*=` line runs.
fn command_line_flags(line: &str) -> Vec<(&'static str, String)> {
    let mut words = line
        .split_once('=')
        .map_or("", |(_, cmd)| cmd)
        .split_whitespace();
    let Some(program) = words.next() else {
        return Vec::new();
    };
    let Some(bin) = [DISPATCHER, AGENT]
        .into_iter()
        .find(|bin| program.ends_with(&format!("/{bin}")))
    else {
        return Vec::new();
    };
    let mut flags = Vec::new();
    for (i, word) in words.enumerate() {
        // The first bare word is a subcommand, such as check-config.
        let is_subcommand = i == 0 && word.chars().all(|c| c.is_ascii_lowercase() || c == '-');
        if word.starts_with("--") || is_subcommand {
            flags.push((bin, word.to_owned()));
        }
    }
    flags
}

/// The flags in `args` and `command` of every mapping in `node` whose image
/// (or build target) is a signpost binary: Kubernetes containers and
/// Compose services.
fn yaml_flags(node: &Yaml) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    match node {
        Yaml::Hash(map) => {
            let image = node["image"].as_str().unwrap_or("");
            let target = node["build"]["target"].as_str().unwrap_or("");
            let bin = [AGENT, DISPATCHER]
                .into_iter()
                .find(|bin| image.contains(bin) || target == bin.trim_start_matches("signpost-"));
            if let Some(bin) = bin {
                for key in ["args", "command"] {
                    for word in node[key].as_vec().into_iter().flatten() {
                        if let Some(word) = word.as_str().filter(|w| w.starts_with("--")) {
                            found.push((bin, word.to_owned()));
                        }
                    }
                }
            }
            for value in map.values() {
                found.extend(yaml_flags(value));
            }
        }
        Yaml::Array(items) => items.iter().for_each(|item| found.extend(yaml_flags(item))),
        _ => {}
    }
    found
}

/// Every `SIGNPOST_*` name in `text`.
fn signpost_variables(text: &str) -> Vec<String> {
    let is_name = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("SIGNPOST_") {
        let preceded = rest[..at].chars().next_back().is_some_and(is_name);
        let tail = &rest[at..];
        let end = tail.find(|c: char| !is_name(c)).unwrap_or(tail.len());
        if !preceded {
            names.push(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    names
}

/// The one Kubernetes object of `kind` named `name` under deploy/.
fn kubernetes_object(kind: &str, name: &str) -> Yaml {
    yaml_files()
        .into_iter()
        .flat_map(|(_, docs)| docs)
        .find(|doc| {
            doc["kind"].as_str() == Some(kind) && doc["metadata"]["name"].as_str() == Some(name)
        })
        .unwrap_or_else(|| panic!("no {kind} {name} under deploy/"))
}

/// `systemd-analyze verify` of `units`, in a scratch root holding a copy of
/// the standard units and stand-ins for the programs they run. It prints problems as
/// warnings with exit 0, so any output fails. Skipped, saying so, where
/// systemd-analyze is not installed.
fn systemd_analyze_verify(units: &[PathBuf]) {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze not installed: unit files checked by parsing only");
        return;
    }
    let root = tempfile::tempdir().expect("create a scratch root");
    let dir = |path: &str| {
        let dir = root.path().join(path);
        std::fs::create_dir_all(&dir).expect("create a scratch folder");
        dir
    };
    // Links out of the root would not resolve inside it: empty executables.
    let stand_in = |path: PathBuf| {
        std::fs::write(&path, "#!/bin/sh\n").expect("write a stand-in");
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&path, mode).expect("make it executable");
    };
    let units_dir = dir("etc/systemd/system");
    stand_in(dir("usr/local/bin").join(DISPATCHER));
    stand_in(dir("usr/local/bin").join(AGENT));
    stand_in(dir("bin").join("kill"));
    // A copy, not a link: the units' own links must resolve inside the root.
    let copied = Command::new("cp")
        .args(["-a", "/usr/lib/systemd/system"])
        .arg(dir("usr/lib/systemd"))
        .status()
        .expect("run cp");
    assert!(copied.success(), "copy the standard units: {copied}");
    let mut args = vec![
        "verify".to_owned(),
        "--man=no".to_owned(),
        format!("--root={}", root.path().display()),
    ];
    for unit in units {
        let copy = units_dir.join(unit.file_name().expect("a unit file name"));
        std::fs::copy(unit, &copy).expect("copy the unit");
        args.push(copy.to_string_lossy().into_owned());
    }
    let out = Command::new("systemd-analyze")
        .args(&args)
        .output()
        .expect("run systemd-analyze");
    let said = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify ({}):\n{said}",
        out.status
    );
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every file under deploy/, sorted.
fn deploy_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![deploy_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("list a deploy folder") {
            let path = entry.expect("read a folder entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every YAML file under deploy/, with its documents.
fn yaml_files() -> Vec<(PathBuf, Vec<Yaml>)> {
    deploy_files()
        .into_iter()
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .map(|path| {
            let docs = YamlLoader::load_from_str(&read(&path))
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            (path, docs)
        })
        .collect()
}

/// The systemd unit files.
fn unit_files() -> Vec<PathBuf> {
    let units: Vec<_> = deploy_files()
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "service"))
        .collect();
    assert_eq!(units.len(), 2, "expected two units: {units:?}");
    units
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("read {}: {err}", path.display()))
}
