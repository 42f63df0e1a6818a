//! End-to-end tests of the CLI against the embedded target (no Ceph needed).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;

#[test]
fn quickstart_writes_a_complete_and_consistent_results_folder() {
    let tmp = tempdir();
    let out_dir = tmp.path().join("run");
    let out = run(&[
        "run",
        "scenarios/quickstart.toml",
        "--duration",
        "3s",
        "--quiet",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("measure gatebench and this machine, not storage"),
        "{stdout}"
    );

    let s = summary(&out_dir);
    assert_eq!(s["schema"], "gatebench.summary/1");
    assert_eq!(s["status"], "complete");
    // The same workload through the in-process gateway: no auth failures, cache at work.
    for name in ["put", "get", "head", "list"] {
        let o = op(&s, "gateway", name);
        assert_eq!(o["requests"], ok_count(o), "gateway {name}: {o:#}");
    }
    assert!(
        op(&s, "gateway", "get")["cache_hit_ratio"]
            .as_f64()
            .unwrap()
            > 0.5
    );
    assert_eq!(s["comparisons"][0]["candidate"], "gateway");
    assert_eq!(s["targets"][1]["auth"]["token_fetch_failures"], 0);
    for file in [
        "report.html",
        "summary.md",
        "charts/latency-spectrum.png",
        "charts/overhead.svg",
    ] {
        assert!(out_dir.join(file).exists(), "{file}");
    }
    for name in ["put", "get", "head", "list"] {
        let o = op(&s, "direct", name);
        assert!(ok_count(o) > 0, "{name}: {o:#}");
        assert_eq!(
            o["requests"],
            o["outcomes"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>()
        );
        assert!(
            o["latency_us"]["p50"].as_u64().unwrap() <= o["latency_us"]["p99"].as_u64().unwrap()
        );
    }
    assert!(
        op(&s, "direct", "get")["bytes_down"].as_u64().unwrap()
            >= 4096 * ok_count(op(&s, "direct", "get"))
    );
    assert!(
        op(&s, "direct", "put")["bytes_up"].as_u64().unwrap()
            >= 4096 * ok_count(op(&s, "direct", "put"))
    );

    // The interval log, read by an independent HdrHistogram implementation, merges to
    // exactly the summary's counts.
    let hlog = read_hlog(&out_dir.join("histograms.hlog"));
    let mut merged: BTreeMap<String, u64> = BTreeMap::new();
    for (tag, v) in hlog.as_object().unwrap() {
        let parts: Vec<&str> = tag.split('/').collect();
        assert_eq!(parts.len(), 5, "tag {tag}");
        if parts[4] == "latency" {
            *merged
                .entry(format!("{}/{}", parts[0], parts[1]))
                .or_default() += v["count"].as_u64().unwrap();
        }
    }
    for name in ["put", "get", "head", "list"] {
        assert_eq!(
            merged[&format!("direct/{name}")],
            op(&s, "direct", name)["requests"].as_u64().unwrap(),
            "{name}"
        );
    }
    let ok_get = &hlog["direct/get/ok/none/latency"];
    // Percentile rank rounding differs between implementations; the maximum does not.
    let max = op(&s, "direct", "get")["latency_us"]["max"]
        .as_u64()
        .unwrap();
    let ratio = ok_get["max"].as_f64().unwrap() / max as f64;
    assert!(
        (0.999..=1.001).contains(&ratio),
        "python {ok_get} vs summary max {max}"
    );

    let scenario = std::fs::read_to_string(out_dir.join("scenario.resolved.toml")).unwrap();
    assert!(scenario.contains("quickstart"));
    let prov: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("provenance.json")).unwrap())
            .unwrap();
    assert!(prov["cpus"].as_u64().unwrap() >= 1);
    assert!(prov["peak_rss_bytes"].as_u64().unwrap() > 0);
    assert!(out_dir.join("warmup.hlog").exists());
}

#[test]
fn json_flag_prints_the_summary() {
    let tmp = tempdir();
    let out = run(&[
        "run",
        "scenarios/quickstart.toml",
        "--ops",
        "50",
        "--json",
        "--quiet",
        "--results",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is the summary");
    let total: u64 = s["targets"][0]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 50, "--ops limits measured requests");
    // The run folder was made under --results.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

const VALID: &str = r#"name = "broken"
[run]
duration = "2s"
[load]
executor = "closed-loop"
concurrency = 2
[data]
buckets = ["gatebench-broken"]
objects = 5
size = "4KiB"
[mix]
get = 10
put = 1
[targets.rgw]
kind = "s3"
endpoint = "http://127.0.0.1:1"
access_key = "${GATEBENCH_TEST_AK}"
secret_key = "${GATEBENCH_TEST_SK}"
"#;

/// Each broken variant: (replace, with, expected line, expected field).
const BROKEN: [(&str, &str, usize, &str); 8] = [
    // Values that used to validate and then crash the run (capacity overflow, abort).
    (
        "objects = 5",
        "objects = 9223372036854775807",
        9,
        "data.objects",
    ),
    ("objects = 5", "objects = 1000000000000", 9, "data.objects"),
    // A prefix that would write outside the run's prefix.
    (
        "objects = 5",
        "prefix = \"../victim/\"\nobjects = 5",
        9,
        "data.prefix",
    ),
    // Errors that had no position.
    ("duration = \"2s\"", "", 2, "run"),
    (
        "concurrency = 2",
        "concurrency = \"two\"",
        6,
        "load.concurrency",
    ),
    ("get = 10", "get = -10", 12, "mix.get.weight"),
    (
        "objects = 5",
        "objects = 5\nobject_count = 5",
        10,
        "data.object_count",
    ),
    (
        "${GATEBENCH_TEST_SK}",
        "${GATEBENCH_TEST_UNSET_SECRET}",
        18,
        "targets.rgw.secret_key",
    ),
];

#[test]
fn broken_scenarios_are_refused_with_file_line_and_field() {
    let tmp = tempdir();
    let results = tmp.path().join("results");
    for (from, to, line, field) in BROKEN {
        let path = write_scenario(tmp.path(), "broken.toml", &VALID.replace(from, to));
        let shown = path.display().to_string();
        for cmd in ["validate", "run"] {
            let mut c = gatebench();
            c.arg(cmd)
                .arg(&path)
                .env("GATEBENCH_TEST_AK", "a")
                .env("GATEBENCH_TEST_SK", "b");
            if cmd == "run" {
                c.arg("--results").arg(&results);
            }
            let out = c.output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {to}: {}", text(&out));
            let prefix = format!("{shown}:{line}:");
            assert!(
                err.contains(&prefix) && err.contains(field),
                "{cmd} {to}: expected {prefix} … {field}, got {err}"
            );
        }
    }
    assert!(
        !results.exists(),
        "no results folder for a scenario that never ran"
    );
}

#[test]
fn a_valid_scenario_validates() {
    let out = gatebench()
        .args(["validate", "scenarios/quickstart.toml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn an_unreachable_target_fails_with_a_reason_and_a_failed_summary() {
    let tmp = tempdir();
    let path = write_scenario(tmp.path(), "down.toml", VALID);
    let out_dir = tmp.path().join("run");
    let out = gatebench()
        .args([
            "run",
            path.to_str().unwrap(),
            "--quiet",
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .env("GATEBENCH_TEST_AK", "a")
        .env("GATEBENCH_TEST_SK", "super-secret-value")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    // Found by the connection check before setup: nothing is seeded or sent.
    assert!(
        err.contains("target rgw") && err.contains("cannot connect"),
        "{err}"
    );
    let s = summary(&out_dir);
    assert_eq!(s["status"], "failed");
    assert!(
        s["error"].as_str().unwrap().contains("127.0.0.1:1"),
        "{s:#}"
    );
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let path = entry.unwrap().path();
        let Ok(body) = std::fs::read_to_string(&path) else {
            continue; // charts/ and binary files
        };
        assert!(
            !body.contains("super-secret-value"),
            "secret leaked into {}",
            path.display()
        );
    }
    assert!(
        !text(&out).contains("super-secret-value"),
        "secret leaked into output"
    );
}

#[test]
fn sigterm_stops_the_run_and_keeps_what_was_gathered() {
    let tmp = tempdir();
    let out_dir = tmp.path().join("run");
    let child = gatebench()
        .args([
            "run",
            "scenarios/quickstart.toml",
            "--duration",
            "60s",
            "--quiet",
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until load is running (the warm-up log gets lines), then ask it to stop.
    let warmup = out_dir.join("warmup.hlog");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(&warmup).map_or(true, |t| !t.contains("Tag=")) {
        assert!(std::time::Instant::now() < deadline, "no load started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_secs(3));
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    let s = summary(&out_dir);
    assert_eq!(s["status"], "interrupted");
    assert!(ok_count(op(&s, "direct", "get")) > 0, "{s:#}");
    assert!(Path::new(&out_dir.join("histograms.hlog")).exists());
}

#[test]
fn a_256_mib_object_goes_up_and_down_in_bounded_memory() {
    let tmp = tempdir();
    let path = write_scenario(
        tmp.path(),
        "big.toml",
        r#"name = "big"
[run]
ops = 4
[load]
executor = "closed-loop"
concurrency = 1
[data]
buckets = ["gatebench-big"]
objects = 1
size = "256MiB"
[mix]
get = 1
put = 1
[targets.embedded]
kind = "embedded"
"#,
    );
    let out_dir = tmp.path().join("run");
    let out = run(&[
        "run",
        path.to_str().unwrap(),
        "--quiet",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let s = summary(&out_dir);
    let moved = op(&s, "embedded", "get")["bytes_down"].as_u64().unwrap()
        + op(&s, "embedded", "put")["bytes_up"].as_u64().unwrap();
    assert_eq!(moved, 4 * 256 * 1024 * 1024, "{s:#}");
    let prov: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("provenance.json")).unwrap())
            .unwrap();
    let rss = prov["peak_rss_bytes"].as_u64().unwrap();
    eprintln!(
        "peak RSS moving 4 × 256 MiB (gatebench + embedded server): {} MiB",
        rss >> 20
    );
    assert!(rss < 100 << 20, "peak RSS {} MiB", rss >> 20);
}
