//! Journeys run by goose (`executor = "journeys"`), end to end through the CLI: the
//! exact request counts of a 3-step journey on the embedded target and on RGW, and a
//! single-op journey agreeing with the native closed loop on a fixed-delay server.

mod common;

use std::path::Path;
use std::time::Duration;

use common::servers::{Behaviour, TestServer};
use common::*;
use serde_json::Value;

/// Users × iterations of the 3-step journeys below.
const USERS: u64 = 4;
const ITERATIONS: u64 = 5;

/// A scenario whose one journey lists, GETs 3 of the listed keys and PUTs, against the
/// target table `target`.
fn browse(target: &str) -> String {
    format!(
        r#"name = "journey-test"
thresholds = ["local.journey.p99 < 30s"]
[run]
seed = 3
duration = "60s"
[load]
executor = "journeys"
users = {USERS}
hatch_rate = 100
iterations = {ITERATIONS}
[data]
buckets = ["journeys"]
objects = 20
size = "1KiB"
[journeys.browse]
think_time = "0ms..2ms"
steps = [
  {{ op = "list", max_keys = 10 }},
  {{ op = "get", from = "listed", count = 3 }},
  {{ op = "put", size = "2KiB" }},
]
{target}
"#
    )
}

fn requests(s: &Value, target: &str, op: &str) -> u64 {
    common::op(s, target, op)["requests"].as_u64().unwrap()
}

/// The per-step counts of `browse` add up to the journeys sent, every request was ok,
/// and goose's report lies beside ours.
fn assert_browse_counts(out: &Path, s: &Value) {
    let journeys = USERS * ITERATIONS;
    assert_eq!(requests(s, "local", "journey"), journeys, "{s:#}");
    assert_eq!(requests(s, "local", "list"), journeys, "{s:#}");
    assert_eq!(requests(s, "local", "get"), 3 * journeys, "{s:#}");
    assert_eq!(requests(s, "local", "put"), journeys, "{s:#}");
    for op in ["journey", "list", "get", "put"] {
        let o = common::op(s, "local", op);
        assert_eq!(o["outcomes"]["ok"], o["requests"], "{op}: {o:#}");
    }
    // The listed GETs fetched seeded 1 KiB objects (not a 404 body).
    let get = common::op(s, "local", "get");
    assert_eq!(
        get["bytes_down"].as_u64(),
        Some(3 * journeys * 1024),
        "{get:#}"
    );
    let goose = std::fs::read_to_string(out.join("goose.html")).expect("goose.html");
    assert!(goose.contains("browse"), "goose's report names the journey");
}

#[test]
fn a_three_step_journey_on_the_embedded_target_sends_exactly_its_steps() {
    let dir = tempdir();
    let path = write_scenario(
        dir.path(),
        "j.toml",
        &browse("[targets.local]\nkind = \"embedded\""),
    );
    let out = dir.path().join("out");
    let ran = run_scenario(&path, &out, &[]);
    assert!(ran.status.success(), "{}", text(&ran));
    let s = summary(&out);
    assert_browse_counts(&out, &s);
    assert_eq!(s["thresholds"][0]["passed"], true, "{s:#}");
}

#[test]
fn a_three_step_journey_on_rgw_sends_exactly_its_steps() {
    let Some(r) = common::ceph::rgw() else {
        return;
    };
    let dir = tempdir();
    let path = write_scenario(
        dir.path(),
        "j.toml",
        &browse(
            "[targets.local]\nkind = \"s3\"\nendpoint = \"${RGW_ENDPOINT}\"\n\
             access_key = \"${RGW_ACCESS_KEY}\"\nsecret_key = \"${RGW_SECRET_KEY}\"",
        ),
    );
    let out = dir.path().join("out");
    let ran = gatebench()
        .args(["run", path.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out)
        .envs(r.env())
        .output()
        .unwrap();
    assert!(ran.status.success(), "{}", text(&ran));
    assert_browse_counts(&out, &summary(&out));
}

/// p50 of `op` on target `server`, µs.
fn p50(s: &Value, op: &str) -> f64 {
    common::op(s, "server", op)["latency_us"]["p50"]
        .as_u64()
        .unwrap() as f64
}

#[test]
fn a_single_get_journey_agrees_with_the_native_closed_loop_at_p50() {
    let server = TestServer::start(Behaviour {
        delay: Duration::from_millis(20),
        ..Behaviour::default()
    });
    let dir = tempdir();
    let target = format!(
        "[targets.server]\nkind = \"s3\"\nendpoint = \"{}\"\naccess_key = \"test\"\nsecret_key = \"test\"\n",
        server.endpoint()
    );
    let data = "[data]\nbuckets = [\"fidelity\"]\nobjects = 1\nsize = \"2B\"\n";
    let journey = format!(
        "name = \"journey-p50\"\n[run]\nduration = \"60s\"\n[load]\nexecutor = \"journeys\"\n\
         users = 8\nhatch_rate = 1000\niterations = 40\n{data}\
         [journeys.read]\nsteps = [{{ op = \"get\" }}]\n{target}"
    );
    let native = format!(
        "name = \"native-p50\"\n[run]\nops = 320\n[load]\nexecutor = \"closed-loop\"\n\
         concurrency = 8\n{data}[mix]\nget = 1\n{target}"
    );
    let mut p50s = Vec::new();
    for (name, text_) in [("journey", journey), ("native", native)] {
        let path = write_scenario(dir.path(), &format!("{name}.toml"), &text_);
        let out = dir.path().join(name);
        let ran = run_scenario(&path, &out, &[]);
        assert!(ran.status.success(), "{}", text(&ran));
        let s = summary(&out);
        assert_eq!(requests(&s, "server", "get"), 320, "{name}: {s:#}");
        p50s.push(p50(&s, "get"));
    }
    let (journey, native) = (p50s[0], p50s[1]);
    assert!(
        (journey - native).abs() <= 0.05 * native,
        "p50 journey {journey} µs vs native {native} µs"
    );
    assert!(
        native >= 20_000.0,
        "the server's delay is in the p50: {native}"
    );
}

#[test]
fn a_bad_step_is_named_by_file_line_and_field() {
    let dir = tempdir();
    let text_ = browse("[targets.local]\nkind = \"embedded\"").replace(
        "{ op = \"put\", size = \"2KiB\" }",
        "{ op = \"put\", count = 2 }",
    );
    let path = write_scenario(dir.path(), "bad.toml", &text_);
    let out = run(&["validate", path.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:20:")
            && err.contains("journeys.browse.steps[2].count")
            && err.contains("applies to get and head only"),
        "{err}"
    );
}

#[test]
fn ctrl_c_stops_the_journeys_and_the_run_as_interrupted() {
    let dir = tempdir();
    let text_ = browse("[targets.local]\nkind = \"embedded\"")
        .replace(&format!("iterations = {ITERATIONS}"), "iterations = 100000");
    let path = write_scenario(dir.path(), "long.toml", &text_);
    let out_dir = dir.path().join("out");
    let child = gatebench()
        .args(["run", path.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Journeys are under way once the interval log has a line.
    let log = out_dir.join("histograms.hlog");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&log).map_or(true, |t| !t.contains("Tag=")) {
        assert!(std::time::Instant::now() < deadline, "no journeys started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    let s = summary(&out_dir);
    assert_eq!(s["status"], "interrupted", "{s:#}");
    let journeys = requests(&s, "local", "journey");
    assert!(journeys > 0 && journeys < USERS * 100000, "{journeys}");
}
