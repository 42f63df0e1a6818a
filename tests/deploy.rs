//! The deployment files stay valid and agree with each other:
//!
//! - docker-compose.yml passes `docker-compose config -q` (Debian's docker-compose; no
//!   Docker engine is needed to validate), with and without its `distributed` profile,
//!   whose shards and merge share one run id and shard count;
//! - every manifest under deploy/k8s passes the Kubernetes API schemas of a pinned
//!   version (the `kubernetes-validate` Python package, installed into a venv under
//!   `target/` on demand; no cluster needed), kustomization.yaml lists them all and
//!   copies the shards Job's name (the run id) into the merge Job, the shard count is the
//!   same everywhere, and the scenario in the ConfigMap validates with exactly the
//!   environment a pod gets, its secrets coming from the Secret only;
//! - ceph-up.sh's daemon helpers (deploy/ceph/daemons.sh) take a daemon that has not
//!   exec'd yet for alive and one that has ended for dead.
//!
//! That every shipped scenario validates is checked in `docs.rs`, with the list of
//! scenarios.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use serde_yaml::Value;

use common::*;

/// The Kubernetes version whose API schemas the manifests must pass: the oldest we
/// support (the Job's `batch.kubernetes.io/job-name` pod label needs 1.27 or later).
const KUBERNETES_VERSION: &str = "1.30.0";

/// The validator and its version (its schemas go up to Kubernetes 1.37).
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn has(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `docker-compose ARGS` in the repository, installing Debian's docker-compose if
/// it is missing (once: the tests calling this run in parallel, apt-get must not).
fn docker_compose(args: &[&str]) -> Output {
    static INSTALL: Mutex<()> = Mutex::new(());
    let installing = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !has("docker-compose") {
        let install = Command::new("sh")
            .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose"])
            .output()
            .expect("apt-get runs");
        assert!(
            install.status.success(),
            "cannot install docker-compose: {}",
            text(&install)
        );
    }
    drop(installing);
    Command::new("docker-compose")
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn docker_compose_file_is_valid_with_and_without_the_distributed_profile() {
    for args in [
        &["config", "-q"][..],
        &["--profile", "distributed", "config", "-q"],
    ] {
        let out = docker_compose(args);
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}",
            text(&out)
        );
    }
}

#[test]
fn compose_distributed_profile_runs_four_shards_of_one_run_and_merges_them() {
    let out = docker_compose(&["--profile", "distributed", "config"]);
    assert!(out.status.success(), "{}", text(&out));
    let config: Value = serde_yaml::from_slice(&out.stdout).expect("config prints YAML");
    let services = &config["services"];
    let args = |service: &str| -> Vec<String> {
        strings(&services[service]["command"])
            .unwrap_or_else(|| panic!("{service} has no command: {:?}", services[service]))
    };
    let flag = |args: &[String], name: &str| -> String {
        let at = args.iter().position(|a| a == name);
        at.and_then(|i| args.get(i + 1))
            .unwrap_or_else(|| panic!("no {name} in {args:?}"))
            .clone()
    };

    let first = args("shard-0");
    let (run_id, results_to) = (flag(&first, "--run-id"), flag(&first, "--results-to"));
    assert!(
        results_to.starts_with("s3://") && results_to.ends_with(&format!("/{run_id}/")),
        "shards upload to {results_to}, not under their run id {run_id}"
    );
    for i in 0..4 {
        let service = format!("shard-{i}");
        let shard = &services[service.as_str()];
        assert_eq!(
            shard["environment"]["GATEBENCH_SHARD"].as_str(),
            Some(format!("{i}/4").as_str()),
            "{service}"
        );
        assert_eq!(args(&service), first, "{service} runs another command");
        assert_eq!(
            strings(&shard["profiles"]),
            Some(vec!["distributed".into()])
        );
    }
    assert!(services["shard-4"].is_null(), "a fifth shard in a run of 4");

    let merge = args("merge");
    assert_eq!(merge[0], "merge");
    assert_eq!(merge[1], results_to, "merge reads where the shards upload");
    assert_eq!(flag(&merge, "--shards"), "4");
    assert_eq!(
        flag(&merge, "--scenario"),
        first[1],
        "merge reads the shards' scenario"
    );
    assert!(
        !services["gatebench"].is_null(),
        "the default run is still there"
    );
}

/// deploy/k8s.
fn k8s_dir() -> PathBuf {
    root().join("deploy/k8s")
}

/// The manifests under deploy/k8s: every YAML file but kustomization.yaml.
fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(k8s_dir())
        .expect("deploy/k8s exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|p| p.file_name().unwrap() != "kustomization.yaml")
        .collect();
    files.sort();
    assert!(
        files.len() >= 4,
        "too few manifests in deploy/k8s: {files:?}"
    );
    files
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A YAML sequence of strings (numbers written as strings too).
fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_sequence()?
        .iter()
        .map(|s| match s {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

/// The one manifest under deploy/k8s of `kind` named `name`.
fn resource(kind: &str, name: &str) -> Value {
    let found: Vec<Value> = manifests()
        .iter()
        .map(|p| yaml(p))
        .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{kind} {name} in deploy/k8s");
    found.into_iter().next().unwrap()
}

/// The single container of a Job's pod template.
fn container(job: &Value) -> &Value {
    let containers = job["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container per pod");
    &containers[0]
}

/// What a container's `args` say after `flag`.
fn arg_after(container: &Value, flag: &str) -> String {
    let args = strings(&container["args"]).expect("args");
    let at = args.iter().position(|a| a == flag);
    at.and_then(|i| args.get(i + 1))
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"))
        .clone()
}

/// The environment a container gets: its `env` values (downward-API ones as the
/// field path) and every key of the ConfigMaps and Secrets it takes `envFrom`.
fn environment(container: &Value) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for from in container["envFrom"].as_sequence().into_iter().flatten() {
        let (kind, name, data) = if let Some(name) = from["configMapRef"]["name"].as_str() {
            ("ConfigMap", name, "data")
        } else {
            let name = from["secretRef"]["name"].as_str().expect("a secretRef");
            ("Secret", name, "stringData")
        };
        let source = resource(kind, name);
        for (k, v) in source[data].as_mapping().expect("data") {
            env.insert(k.as_str().unwrap().into(), v.as_str().unwrap().into());
        }
    }
    for var in container["env"].as_sequence().into_iter().flatten() {
        let value = var["value"]
            .as_str()
            .or(var["valueFrom"]["fieldRef"]["fieldPath"].as_str())
            .expect("a value or a field");
        env.insert(var["name"].as_str().unwrap().into(), value.into());
    }
    env
}

/// Installs `kubernetes-validate` into a venv under target/ unless it is there already;
/// returns the path of its command.
fn kubernetes_validate() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kubernetes-validate-venv");
    let tool = venv.join("bin/kubernetes-validate");
    let version = KUBERNETES_VALIDATE.split("==").nth(1).unwrap();
    let installed = Command::new(&tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(version));
    if !installed {
        let out = Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .output()
            .expect("python3 runs");
        assert!(out.status.success(), "cannot make a venv: {}", text(&out));
        let out = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(KUBERNETES_VALIDATE)
            .output()
            .expect("pip runs");
        assert!(
            out.status.success(),
            "cannot install {KUBERNETES_VALIDATE}: {}",
            text(&out)
        );
    }
    tool
}

#[test]
fn kubernetes_manifests_pass_the_api_schemas() {
    let files = manifests();
    let out = Command::new(kubernetes_validate())
        .args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
        .args(&files)
        .output()
        .expect("kubernetes-validate runs");
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    // The tool only warns (exit 0) about a kind it has no schema for: insist that every
    // file was checked against one.
    for file in &files {
        let passed = format!("{} passed for resource", file.display());
        assert!(report.contains(&passed), "{passed:?} not in {report}");
    }
}

#[test]
fn kustomization_lists_every_manifest() {
    let kustomization = yaml(&k8s_dir().join("kustomization.yaml"));
    let listed: BTreeSet<String> = strings(&kustomization["resources"])
        .expect("resources")
        .into_iter()
        .collect();
    let present: BTreeSet<String> = manifests()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(listed, present, "kustomization.yaml's resources");
}

#[test]
fn shard_job_is_indexed_and_every_shard_count_agrees() {
    let shards = resource("Job", "gatebench-shards");
    let spec = &shards["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().expect("completions");
    assert!(n >= 2, "a distributed run of {n} shard");
    assert_eq!(spec["parallelism"].as_u64(), Some(n), "parallelism");
    assert_eq!(spec["backoffLimit"].as_u64(), Some(0), "backoffLimit");
    assert!(
        spec["activeDeadlineSeconds"]
            .as_u64()
            .is_some_and(|s| s > 0)
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");

    let anti =
        &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    let selector = anti["labelSelector"]["matchLabels"]
        .as_mapping()
        .expect("matchLabels");
    for (k, v) in selector {
        assert_eq!(
            &spec["template"]["metadata"]["labels"][k], v,
            "the anti-affinity selects the shards' own pods"
        );
    }

    let shard = container(&shards);
    let env = environment(shard);
    assert_eq!(env["GATEBENCH_SHARDS"], n.to_string(), "GATEBENCH_SHARDS");
    assert_eq!(
        env["GATEBENCH_RUN_ID"],
        "metadata.labels['batch.kubernetes.io/job-name']"
    );
    let results_to = arg_after(shard, "--results-to");
    assert!(
        results_to.ends_with("/$(GATEBENCH_RUN_ID)/"),
        "{results_to}"
    );
    assert_eq!(
        shard["resources"]["requests"], shard["resources"]["limits"],
        "requests = limits (Guaranteed QoS)"
    );
    for what in ["cpu", "memory"] {
        assert!(
            !shard["resources"]["limits"][what].is_null(),
            "no {what} limit"
        );
    }

    let merge_job = resource("Job", "gatebench-merge");
    let merge = container(&merge_job);
    assert_eq!(
        arg_after(merge, "--shards"),
        n.to_string(),
        "merge --shards"
    );
    assert_eq!(strings(&merge["args"]).unwrap()[1], results_to);
    assert_eq!(
        environment(merge)["GATEBENCH_RUN_ID"],
        shards["metadata"]["name"].as_str().unwrap(),
        "merge reads the shards Job's run"
    );
    assert_eq!(
        arg_after(merge, "--scenario"),
        strings(&shard["args"]).unwrap()[1]
    );

    // Kubernetes leaves a `$(VAR)` it cannot resolve as it is: every one must be set.
    for c in [shard, merge] {
        let env = environment(c);
        for arg in strings(&c["args"]).unwrap() {
            for var in arg.split("$(").skip(1) {
                let name = var.split(')').next().unwrap();
                assert!(env.contains_key(name), "$({name}) in {arg} is not set");
            }
        }
    }
}

#[test]
fn k8s_scenario_validates_with_the_pods_environment_and_secrets_stay_in_the_secret() {
    let shards = resource("Job", "gatebench-shards");
    let shard = container(&shards);
    let scenario_path = strings(&shard["args"]).unwrap()[1].clone();
    let (mount_dir, file) = scenario_path.rsplit_once('/').unwrap();
    let mount = shard["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == mount_dir)
        .expect("the scenario's folder is mounted");
    let volume = shards["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("its volume");
    let config_map = resource("ConfigMap", volume["configMap"]["name"].as_str().unwrap());
    let scenario = config_map["data"][file]
        .as_str()
        .expect("the scenario text");

    let dir = tempdir();
    let path = write_scenario(dir.path(), file, scenario);
    let out = gatebench()
        .arg("validate")
        .arg(&path)
        .env_clear()
        .envs(environment(shard))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));

    let secret = resource("Secret", "gatebench-keys");
    let secret_keys: BTreeSet<String> = secret["stringData"]
        .as_mapping()
        .expect("stringData")
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    let toml: toml::Value = toml::from_str(scenario).unwrap();
    let targets = toml["targets"].as_table().expect("targets");
    let mut secret_fields = 0;
    for (name, target) in targets {
        let fields = [
            target.get("access_key"),
            target.get("secret_key"),
            target.get("subscription_key"),
            target.get("oauth2").and_then(|o| o.get("client_secret")),
        ];
        for value in fields.into_iter().flatten() {
            let value = value.as_str().unwrap();
            let var = value
                .strip_prefix("${")
                .and_then(|v| v.strip_suffix('}'))
                .unwrap_or_else(|| panic!("{name}: {value} is not a ${{VAR}}"));
            assert!(
                secret_keys.contains(var),
                "{name}: ${{{var}}} is not a key of the Secret"
            );
            secret_fields += 1;
        }
    }
    assert!(secret_fields >= 4, "the scenario has {secret_fields} keys");
    for config_map in manifests().iter().map(|p| yaml(p)) {
        if config_map["kind"] != "ConfigMap" {
            continue;
        }
        for key in config_map["data"].as_mapping().unwrap().keys() {
            assert!(
                !secret_keys.contains(key.as_str().unwrap()),
                "{key:?} is in a ConfigMap"
            );
        }
    }
}

#[test]
fn kustomization_copies_the_shards_job_name_into_the_merge_jobs_run_id() {
    let kustomization = yaml(&k8s_dir().join("kustomization.yaml"));
    let shards = resource("Job", "gatebench-shards");
    let merge_job = resource("Job", "gatebench-merge");
    let merge = container(&merge_job);
    let replacement = kustomization["replacements"]
        .as_sequence()
        .expect("replacements")
        .iter()
        .find(|r| r["source"]["fieldPath"] == "metadata.name")
        .expect("a replacement of the run id");
    assert_eq!(replacement["source"]["kind"], "Job");
    assert_eq!(replacement["source"]["name"], shards["metadata"]["name"]);
    let target = &replacement["targets"][0];
    assert_eq!(target["select"]["name"], merge_job["metadata"]["name"]);
    let path = format!(
        "spec.template.spec.containers.[name={}].env.[name=GATEBENCH_RUN_ID].value",
        merge["name"].as_str().unwrap()
    );
    assert_eq!(strings(&target["fieldPaths"]), Some(vec![path]));
}

/// ceph-up.sh checks that each daemon it started is still alive. A daemon is checked
/// right after it was started, often before its process has exec'd the daemon (its
/// command line is still the script's): that must not count as "exited during startup"
/// (CI once failed so). 200 starts of a daemon that lives 5 s, each checked at once;
/// then one that exits at once is reported.
#[test]
fn a_daemon_checked_before_it_has_execd_is_alive_and_one_that_exited_is_not() {
    let dir = tempdir();
    let script = format!(
        r#"set -euo pipefail
DIR={dir}; CONF="$DIR/ceph.conf"; STARTED=()
mkdir -p "$DIR/log"
log() {{ :; }}
fail() {{ echo "FAIL $1: $2"; for e in "${{STARTED[@]}}"; do kill "${{e#*:}}" 2>/dev/null || true; done; exit 1; }}
source {lib}
for i in $(seq 1 200); do
    start_daemon "d$i" bash -c 'sleep 5; :' "$CONF"
    check_alive "d$i"
done
for e in "${{STARTED[@]}}"; do kill "${{e#*:}}"; done
start_daemon quick bash -c 'exit 0; :' "$CONF"
sleep 0.5
check_alive quick
echo "not reported"
"#,
        dir = dir.path().display(),
        lib = root().join("deploy/ceph/daemons.sh").display(),
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "FAIL quick: quick exited during startup",
        "{}",
        text(&out)
    );
}
