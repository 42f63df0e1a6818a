//! A killed run (SIGKILL, OOM, node eviction) keeps every completed second in its
//! interval log, and `gatebench report` rebuilds its summary from the folder.
//! End to end through the CLI against the embedded target (no Ceph needed).

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use common::*;
use gatebench::report::series::Series;
use gatebench::results::hlog::complete_lines;

/// Seconds after the end of a second within which it must be in the interval log.
const WRITTEN_WITHIN_S: f64 = 1.0;

/// Starts `gatebench run` on `scenario`, SIGKILLs it after `after`, and returns the
/// results folder and the moment of the kill.
fn run_and_kill(tmp: &Path, scenario: &str, after: Duration) -> (std::path::PathBuf, SystemTime) {
    let file = write_scenario(tmp, "killed.toml", scenario);
    let out_dir = tmp.join("run");
    let mut child = gatebench()
        .args(["run", file.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gatebench starts");
    std::thread::sleep(after);
    let killed_at = SystemTime::now();
    // `Child::kill` is SIGKILL on Unix: no handler runs, nothing is flushed on the way out.
    child.kill().expect("kill by pid");
    child.wait().expect("reaped");
    assert!(
        !out_dir.join("summary.json").exists(),
        "killed before the end"
    );
    (out_dir, killed_at)
}

/// The `StartTime` header of an interval log.
fn log_start(log: &str) -> SystemTime {
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("#[StartTime: "))
        .expect("StartTime header");
    let secs: f64 = line.split(' ').next().unwrap().parse().unwrap();
    SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs)
}

/// Requests per second since the run start, all targets together, from an interval log.
fn requests_per_second(dir: &Path, log: &str) -> std::collections::BTreeMap<u64, u64> {
    let bytes = std::fs::read(dir.join(log)).unwrap();
    let series = Series::read(&bytes).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for t in series.targets.values() {
        for (i, s) in t.seconds.iter().enumerate() {
            *out.entry(t.first_second + i as u64).or_default() += s.requests;
        }
    }
    out
}

/// Asserts that every steady second from the first one to those that ended more than
/// [`WRITTEN_WITHIN_S`] before the kill is in `histograms.hlog` with requests, and that
/// there are at least `at_least` of them.
fn assert_completed_seconds_kept(dir: &Path, killed_at: SystemTime, at_least: u64) {
    let log = std::fs::read_to_string(dir.join("histograms.hlog")).unwrap();
    let alive = killed_at
        .duration_since(log_start(&log))
        .unwrap()
        .as_secs_f64();
    let steady = requests_per_second(dir, "histograms.hlog");
    let Some(&first) = steady.keys().next() else {
        panic!("the steady log holds no second after {alive:.1} s:\n{log}");
    };
    // Second s ends at s + 1.
    let last_due = (alive - 1.0 - WRITTEN_WITHIN_S).floor() as u64;
    for s in first..=last_due {
        assert!(
            steady.get(&s).is_some_and(|&n| n > 0),
            "second {s} (ended {:.1} s before the kill at {alive:.1} s) is not in the \
             interval log; it holds {steady:?}",
            alive - (s + 1) as f64
        );
    }
    assert!(
        last_due + 1 - first >= at_least,
        "only seconds {first}..={last_due} of the steady phase completed before the kill \
         at {alive:.1} s: {steady:?}"
    );
}

#[test]
fn a_killed_closed_loop_run_keeps_every_completed_second() {
    let tmp = tempdir();
    let (dir, killed_at) = run_and_kill(
        tmp.path(),
        r#"
name = "killed-closed"
[run]
duration = "20s"
warmup = "1s"
[load]
executor = "closed-loop"
concurrency = 3
[data]
buckets = ["gatebench-killed"]
objects = 20
size = "1KiB"
[mix]
get = 1
[targets.direct]
kind = "embedded"
"#,
        Duration::from_secs(7),
    );
    assert_completed_seconds_kept(&dir, killed_at, 4);
    // The warm-up second(s) are kept too, in their own log.
    assert!(!requests_per_second(&dir, "warmup.hlog").is_empty());
}

#[test]
fn a_killed_open_loop_run_with_idle_workers_keeps_every_completed_second() {
    // 4 requests a second for 64 workers: most workers (and recording shards) stay idle
    // for seconds at a time.
    let tmp = tempdir();
    let (dir, killed_at) = run_and_kill(
        tmp.path(),
        r#"
name = "killed-open"
[run]
duration = "20s"
warmup = "0s"
[load]
executor = "constant-arrival-rate"
rate = 4
max_in_flight = 64
[data]
buckets = ["gatebench-killed"]
objects = 20
size = "1KiB"
[mix]
get = 1
[targets.direct]
kind = "embedded"
"#,
        Duration::from_secs(7),
    );
    assert_completed_seconds_kept(&dir, killed_at, 4);
}

#[test]
fn a_killed_run_in_alternating_turns_keeps_every_completed_second() {
    let tmp = tempdir();
    let (dir, killed_at) = run_and_kill(
        tmp.path(),
        r#"
name = "killed-alternate"
[run]
duration = "20s"
warmup = "0s"
compare = "alternate"
window = "2s"
[load]
executor = "constant-arrival-rate"
rate = 50
max_in_flight = 16
[data]
buckets = ["gatebench-killed"]
objects = 20
size = "1KiB"
[mix]
get = 1
[targets.one]
kind = "embedded"
[targets.two]
kind = "embedded"
"#,
        Duration::from_secs(7),
    );
    assert_completed_seconds_kept(&dir, killed_at, 4);
}

#[test]
fn report_rebuilds_the_summary_of_a_killed_run_and_compare_refuses_it() {
    let tmp = tempdir();
    let (dir, _) = run_and_kill(
        tmp.path(),
        r#"
name = "killed-report"
thresholds = ["direct.get.p99 < 10s"]
[run]
duration = "20s"
warmup = "1s"
compare = "alternate"
window = "2s"
[load]
executor = "closed-loop"
concurrency = 2
[data]
buckets = ["gatebench-killed"]
objects = 20
size = "1KiB"
[mix]
get = 3
put = 1
[targets.direct]
kind = "embedded"
[targets.gateway]
kind = "embedded-gateway"
policy = "deploy/apim/policy.local.xml"
setup_via = "direct"
"#,
        Duration::from_secs(6),
    );
    let out = run(&["report", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("killed before it ended"), "{stdout}");

    let s = summary(&dir);
    assert_eq!(s["status"], "incomplete", "{s:#}");
    assert_eq!(s["scenario"], "killed-report");
    let first = s["recovery"]["first_second"].as_u64().unwrap();
    let last = s["recovery"]["last_second"].as_u64().unwrap();
    assert!(last >= first + 2, "{s:#}");
    assert!(
        s["thresholds"].is_null(),
        "not evaluated on part of a run: {s:#}"
    );
    // Every count equals what the interval log holds.
    let log = std::fs::read(dir.join("histograms.hlog")).unwrap();
    let series = Series::read(complete_lines(&log)).unwrap();
    let mut total = 0;
    for t in ["direct", "gateway"] {
        assert!(target(&s, t)["measured_seconds"].as_f64().unwrap() >= 1.0);
        for name in ["get", "put"] {
            let logged = series
                .merged(|id| id.target == t && id.op.name() == name)
                .map_or(0, |h| h.len());
            let o = op(&s, t, name);
            assert_eq!(o["requests"].as_u64().unwrap(), logged, "{t} {name}: {o:#}");
            assert!(ok_count(o) > 0, "{t} {name}: {o:#}");
            total += logged;
        }
    }
    assert!(total > 0);
    // Counters survive too: bytes and status codes.
    let get = op(&s, "direct", "get");
    assert!(
        get["bytes_down"].as_u64().unwrap() >= 1024 * ok_count(get),
        "{get:#}"
    );
    assert_eq!(get["status_codes"]["200"].as_u64(), Some(ok_count(get)));
    assert_eq!(target(&s, "direct")["kind"], "embedded");
    assert_eq!(s["comparisons"][0]["candidate"], "gateway");
    for file in ["report.html", "summary.md", "charts/latency-spectrum.svg"] {
        assert!(dir.join(file).exists(), "{file}");
    }
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(md.contains("incomplete"), "{md}");

    // A second report keeps the rebuilt summary as it is.
    let again = run(&["report", dir.to_str().unwrap()]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(summary(&dir), s);

    let cmp = run(&["compare", dir.to_str().unwrap(), dir.to_str().unwrap()]);
    assert_eq!(cmp.status.code(), Some(2), "{}", text(&cmp));
    assert!(
        String::from_utf8_lossy(&cmp.stderr).contains("incomplete run cannot be compared"),
        "{}",
        text(&cmp)
    );
}

#[test]
fn report_of_a_folder_with_neither_summary_nor_run_record_says_so() {
    let tmp = tempdir();
    let out = run(&["report", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no summary.json and no run.json"),
        "{}",
        text(&out)
    );
}
