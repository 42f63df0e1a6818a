//! Bad servers and signals end in a results folder that says what happened: a server
//! that never answers, Ctrl-C in setup, a token endpoint that echoes the secret, a
//! target that never succeeds.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::servers::{Behaviour, TestServer, echoing_token_endpoint, scenario, silent_server};
use common::*;

/// A two-worker, 2 s GET scenario against `endpoint` with extra `[run]` lines.
fn s3_scenario(endpoint: &str, run: &str) -> String {
    scenario(
        "robust",
        endpoint,
        &format!("duration = \"2s\"\n{run}"),
        "executor = \"closed-loop\"\nconcurrency = 2",
    )
}

/// Runs `scenario_text` against a server that never answers; returns the exit code and
/// the summary, and checks the run ended within `limit`.
fn run_against_silence(run: &str, limit: Duration) -> (Option<i32>, serde_json::Value) {
    let tmp = tempdir();
    let addr = silent_server();
    let path = write_scenario(
        tmp.path(),
        "silent.toml",
        &s3_scenario(&format!("http://{addr}"), run),
    );
    let out_dir = tmp.path().join("run");
    let started = Instant::now();
    let out = run_scenario(&path, &out_dir, &[]);
    assert!(started.elapsed() < limit, "hung: {}", text(&out));
    (out.status.code(), summary(&out_dir))
}

#[test]
fn a_server_that_never_answers_fails_setup_at_its_budget() {
    // Setup (2 s) and the clean-up attempt (2 s) each stop at the budget.
    let (code, s) = run_against_silence("setup_timeout = \"2s\"", Duration::from_secs(15));
    assert_eq!(code, Some(1), "{s:#}");
    assert_eq!(s["status"], "failed");
    let error = s["error"].as_str().unwrap();
    assert!(
        error.contains("setup failed") && error.contains("run.setup_timeout"),
        "{s:#}"
    );
}

#[test]
fn ctrl_c_during_setup_stops_within_a_second_and_writes_the_summary() {
    let tmp = tempdir();
    let addr = silent_server();
    let path = write_scenario(
        tmp.path(),
        "hang.toml",
        &s3_scenario(&format!("http://{addr}"), ""),
    );
    let out_dir = tmp.path().join("run");
    let child = gatebench()
        .args([
            "run",
            path.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Setup is waiting on the silent server (60 s request timeout by default).
    std::thread::sleep(Duration::from_secs(2));
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    signal("-INT");
    let stopped = Instant::now();
    // The first signal stops setup; clean-up then waits on the silent server too, and
    // the second signal abandons it.
    std::thread::sleep(Duration::from_millis(500));
    signal("-INT");
    let out = child.wait_with_output().unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "took {:?} to stop",
        stopped.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    let s = summary(&out_dir);
    assert_eq!(s["status"], "interrupted", "{s:#}");
    assert!(
        s["error"]
            .as_str()
            .unwrap()
            .contains("interrupted during setup"),
        "{s:#}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("clean-up abandoned"), "{err}");
}

#[test]
fn a_token_endpoint_echoing_the_secret_leaks_it_nowhere() {
    let tmp = tempdir();
    let secret = "Ech0ed-Cl1ent+Secret/Value";
    let token_url = echoing_token_endpoint();
    let scenario = format!(
        r#"name = "echo"
[run]
duration = "1s"
[load]
executor = "closed-loop"
concurrency = 1
[data]
buckets = ["echo"]
objects = 1
size = "2B"
[mix]
get = 1
[targets.store]
kind = "embedded"
[targets.gw]
kind = "gateway"
base_url = "http://127.0.0.1:9/storage"
setup_via = "store"
oauth2 = {{ token_url = "{token_url}", client_id = "bench", client_secret = "${{ECHO_SECRET}}" }}
"#
    );
    let path = write_scenario(tmp.path(), "echo.toml", &scenario);
    let out_dir = tmp.path().join("run");
    let out = gatebench()
        .args([
            "run",
            path.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .env("ECHO_SECRET", secret)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let s = summary(&out_dir);
    let error = s["error"].as_str().unwrap();
    // The server's words are kept, with the secret masked.
    assert!(
        error.contains("invalid_client") && error.contains("<redacted>"),
        "{error}"
    );
    let encoded: String = serde_urlencoded::to_string([("", secret)])
        .unwrap()
        .trim_start_matches('=')
        .to_string();
    let leaks = |body: &str| body.contains(secret) || body.contains(&encoded);
    assert!(!leaks(&text(&out)), "secret in the console: {}", text(&out));
    let mut files = vec![out_dir.clone()];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if let Ok(body) = std::fs::read_to_string(&p) {
            assert!(!leaks(&body), "secret in {}", p.display());
        }
    }
}

#[test]
fn a_target_with_no_successful_request_fails_the_run_unless_failures_are_expected() {
    let tmp = tempdir();
    let server = TestServer::start(Behaviour {
        fail_gets: true,
        ..Behaviour::default()
    });
    for (name, run_extra, code) in [
        ("failing", "", 1),
        ("expected", "expect_failures = true", 0),
    ] {
        let path = write_scenario(
            tmp.path(),
            &format!("{name}.toml"),
            &s3_scenario(&server.endpoint(), run_extra),
        );
        let out_dir = tmp.path().join(name);
        let out = run_scenario(&path, &out_dir, &["--keep-data"]);
        assert_eq!(out.status.code(), Some(code), "{name}: {}", text(&out));
        let s = summary(&out_dir);
        assert!(op(&s, "server", "get")["outcomes"]["server_error"].as_u64() > Some(0));
        if code == 1 {
            assert_eq!(s["status"], "failed");
            let error = s["error"].as_str().unwrap();
            assert!(
                error.contains("target server: no request succeeded"),
                "{error}"
            );
        } else {
            assert_eq!(s["status"], "complete");
        }
    }
}
