//! End-to-end tests of the CI regression gate through the CLI, on the embedded target:
//! thresholds (exit 3), `run --repeat`, `compare` and `baseline save`.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::Value;

/// A small embedded scenario with the given thresholds (a TOML array body).
fn scenario_with(dir: &Path, thresholds: &str) -> String {
    let text = format!(
        r#"name = "gate-test"
thresholds = [{thresholds}]
[run]
duration = "2s"
warmup = "1s"
seed = 3
[load]
executor = "closed-loop"
concurrency = 2
[data]
buckets = ["gate-test"]
objects = 20
size = "4KiB"
[mix]
get = 3
put = 1
[targets.embedded]
kind = "embedded"
"#
    );
    write_scenario(dir, "gate.toml", &text)
        .to_str()
        .unwrap()
        .to_string()
}

fn thresholds(summary: &Value) -> &Vec<Value> {
    summary["thresholds"].as_array().expect("thresholds array")
}

#[test]
fn an_impossible_threshold_exits_3_names_the_rule_and_still_writes_results() {
    let tmp = tempdir();
    let file = scenario_with(
        tmp.path(),
        r#""embedded.get.p50 < 1us", "embedded.*.error_rate < 50%""#,
    );
    let out_dir = tmp.path().join("run");
    let out = run(&["run", &file, "--quiet", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL  embedded.get.p50") && stdout.contains("embedded.get.p50 < 1us"),
        "{stdout}"
    );
    let s = summary(&out_dir);
    assert_eq!(s["status"], "complete");
    let t = thresholds(&s);
    let p50 = t
        .iter()
        .find(|t| t["subject"] == "embedded.get.p50")
        .expect("p50 result");
    assert_eq!(p50["passed"], false);
    assert_eq!(p50["limit"], 1.0);
    assert!(p50["measured"].as_f64().unwrap() >= 1.0, "{p50}");
    let rates: Vec<&Value> = t
        .iter()
        .filter(|t| t["expression"] == "embedded.*.error_rate < 50%")
        .collect();
    assert_eq!(rates.len(), 2, "one per op: {t:?}");
    assert!(rates.iter().all(|r| r["passed"] == true), "{rates:?}");
}

#[test]
fn every_repetition_is_checked_and_indexed() {
    let tmp = tempdir();
    let file = scenario_with(tmp.path(), r#""embedded.get.p50 < 1us""#);
    let out_dir = tmp.path().join("rep");
    let out = run(&[
        "run",
        &file,
        "--quiet",
        "--repeat",
        "2",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("FAIL  embedded.get.p50").count(),
        2,
        "{stdout}"
    );
    let index: Value =
        serde_json::from_str(&fs::read_to_string(out_dir.join("repetitions.json")).unwrap())
            .unwrap();
    let reps = index["repetitions"].as_array().unwrap();
    assert_eq!(reps.len(), 2, "{index:#}");
    for (i, r) in reps.iter().enumerate() {
        assert_eq!(r["folder"], format!("rep-{}", i + 1));
        assert_eq!(r["status"], "complete");
        assert_eq!(r["thresholds_passed"], false);
        let s = summary(&out_dir.join(format!("rep-{}", i + 1)));
        assert_eq!(thresholds(&s)[0]["passed"], false);
    }
}

#[test]
fn generous_thresholds_pass_with_exit_0() {
    let tmp = tempdir();
    let file = scenario_with(
        tmp.path(),
        r#""embedded.*.p99 < 60s", "embedded.error_rate < 50%", "embedded.throughput > 1""#,
    );
    let out_dir = tmp.path().join("run");
    let out = run(&["run", &file, "--quiet", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = summary(&out_dir);
    assert!(thresholds(&s).len() >= 4, "{s:#}");
    assert!(thresholds(&s).iter().all(|t| t["passed"] == true), "{s:#}");
}

#[test]
fn validate_points_at_the_threshold_string_and_the_place_inside_it() {
    let tmp = tempdir();
    let file = scenario_with(
        tmp.path(),
        r#""embedded.get.p99 < 40ms", "embedded.get.p99 << 40ms""#,
    );
    let out = run(&["validate", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Line 2; the second string starts at column 42.
    assert!(
        stderr.contains(&format!(
            "{file}:2:42: thresholds[1]: \"embedded.get.p99 << 40ms\" at character 19: expected a number"
        )),
        "{stderr}"
    );

    let file = scenario_with(tmp.path(), r#""gateway.get.p99 < 40ms""#);
    let out = run(&["validate", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2:15: thresholds[0]") && stderr.contains("no target \"gateway\""),
        "{stderr}"
    );

    let file = scenario_with(tmp.path(), r#""overhead.get.p50 < 3ms""#);
    let out = run(&["validate", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no gateway target"), "{}", text(&out));
}

/// GETs of small hot objects, embedded directly and through the embedded gateway in
/// alternating 1 s turns; the gateway adds `GATE_ADDED_LATENCY` to every request.
const SLOWDOWN_SCENARIO: &str = r#"name = "slowdown-gate"
[run]
duration = "3s"
warmup = "1s"
seed = 5
compare = "alternate"
window = "1s"
[load]
executor = "closed-loop"
concurrency = 2
[data]
buckets = ["slowdown-gate"]
objects = 50
size = "4KiB"
[mix]
get = 1
[targets.direct]
kind = "embedded"
[targets.gateway]
kind = "embedded-gateway"
policy = "deploy/apim/policy.local.xml"
setup_via = "direct"
added_latency = "${GATE_ADDED_LATENCY}"
"#;

/// Runs the slowdown scenario `--repeat 3` into `dir` with the gateway adding `added`.
fn repeated_run(scenario: &Path, dir: &Path, added: &str) {
    let out = gatebench()
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--repeat",
            "3",
            "--quiet",
            "--out",
        ])
        .arg(dir)
        .env("GATE_ADDED_LATENCY", added)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

fn compare_json(baseline: &Path, candidate: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec![
        "compare",
        baseline.to_str().unwrap(),
        candidate.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("compare prints JSON ({e}): {}", text(&out)));
    (out.status.code(), v)
}

fn refused(baseline: &Path, candidate: &Path, expect: &str) {
    let out = run(&[
        "compare",
        baseline.to_str().unwrap(),
        candidate.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(expect),
        "expected {expect:?}: {}",
        text(&out)
    );
    assert!(!stderr.contains("panicked"), "{}", text(&out));
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The row of `target/op metric` in a compare report.
fn row<'a>(report: &'a Value, target: &str, op: &str, metric: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == target && r["op"] == op && r["metric"] == metric)
        .unwrap_or_else(|| panic!("{target}/{op} {metric} in {report:#}"))
}

fn with_verdict(report: &Value, verdict: &str) -> Vec<String> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == verdict)
        .map(|r| format!("{}/{} {}", r["target"], r["op"], r["metric"]))
        .collect()
}

fn compare_table(baseline: &Path, candidate: &Path) -> String {
    text(&run(&[
        "compare",
        baseline.to_str().unwrap(),
        candidate.to_str().unwrap(),
    ]))
}

/// Compares `baseline` with `candidate` (`--fail-on-regression`). When `false_alarm` finds
/// a verdict on what cannot have changed, runs the candidate's setup once more and compares
/// that instead: a machine-wide hiccup can make one series of repetitions an outlier, a
/// real difference shows again in a fresh run. Returns the candidate used, exit code, JSON.
fn compare_with_one_rerun(
    scenario: &Path,
    baseline: &Path,
    candidate: &Path,
    added: &str,
    false_alarm: impl Fn(&Value) -> bool,
) -> (std::path::PathBuf, Option<i32>, Value) {
    let (code, report) = compare_json(baseline, candidate, &["--fail-on-regression"]);
    if !false_alarm(&report) {
        return (candidate.to_path_buf(), code, report);
    }
    eprintln!(
        "false alarm, once more:\n{}",
        compare_table(baseline, candidate)
    );
    let again = candidate.with_file_name(format!(
        "{}-again",
        candidate.file_name().unwrap().to_string_lossy()
    ));
    repeated_run(scenario, &again, added);
    let (code, report) = compare_json(baseline, &again, &["--fail-on-regression"]);
    (again, code, report)
}

#[test]
fn repeated_runs_compare_baselines_and_refusals() {
    let tmp = tempdir();
    let scenario = write_scenario(tmp.path(), "slowdown.toml", SLOWDOWN_SCENARIO);
    let (a, b, slow) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("slow"),
    );
    repeated_run(&scenario, &a, "0ms");
    repeated_run(&scenario, &b, "0ms");
    repeated_run(&scenario, &slow, "2ms");

    // The repeated run's layout.
    let index: Value =
        serde_json::from_str(&fs::read_to_string(a.join("repetitions.json")).unwrap()).unwrap();
    assert_eq!(index["schema"], "gatebench.repetitions/1");
    assert_eq!(index["repetitions"].as_array().unwrap().len(), 3);
    for i in 1..=3 {
        assert_eq!(summary(&a.join(format!("rep-{i}")))["status"], "complete");
    }

    // Two runs of the same unchanged setup, at the default settings: nothing flagged.
    let (unchanged, code, report) = compare_with_one_rerun(&scenario, &a, &b, "0ms", |r| {
        !with_verdict(r, "regression").is_empty()
    });
    let table = compare_table(&a, &unchanged);
    eprintln!("unchanged setup:\n{table}");
    assert_eq!(report["method"], "repetitions", "{report:#}");
    assert_eq!(report["schema"], "gatebench.compare/1");
    assert_eq!(
        report["rows"].as_array().unwrap().len(),
        2 * 3,
        "{report:#}"
    );
    assert_eq!(
        with_verdict(&report, "regression"),
        Vec::<String>::new(),
        "{table}"
    );
    assert_eq!(code, Some(0), "{table}");

    // 2 ms added in the gateway: a regression of about 2 ms at the gateway's p50, and the
    // direct path, untouched, is not flagged.
    let direct_flagged = |report: &Value| {
        ["p50", "p90", "p99"]
            .iter()
            .any(|m| row(report, "direct", "get", m)["verdict"] == "regression")
    };
    let (slow, code, report) = compare_with_one_rerun(&scenario, &a, &slow, "2ms", direct_flagged);
    let table = compare_table(&a, &slow);
    eprintln!("2 ms added in the gateway:\n{table}");
    assert_eq!(code, Some(3), "{table}");
    assert!(!direct_flagged(&report), "{table}");
    let p50 = row(&report, "gateway", "get", "p50");
    assert_eq!(p50["verdict"], "regression", "{table}");
    let change = p50["change_us"].as_f64().unwrap();
    // The stand-in's delay is exact to a few µs; a busy machine adds a little on top.
    assert!((1_800.0..2_600.0).contains(&change), "about +2 ms: {table}");
    assert!(p50["ci_low_us"].as_f64().unwrap() > 1_000.0, "{table}");
    // And the other way round it is an improvement of the same size.
    let (_, back) = compare_json(&slow, &a, &[]);
    let p50 = row(&back, "gateway", "get", "p50");
    assert_eq!(p50["verdict"], "improvement", "{back:#}");
    assert!(
        (p50["change_us"].as_f64().unwrap() + change).abs() < 1.0,
        "{back:#}"
    );

    // A folder compared with itself: identical inputs, no change anywhere.
    let (code, report) = compare_json(&a, &a, &["--fail-on-regression"]);
    assert_eq!(code, Some(0));
    for row in report["rows"].as_array().unwrap() {
        assert_eq!(row["verdict"], "no_significant_change", "{row}");
        assert_eq!(row["change_us"], 0.0, "{row}");
    }

    // Single runs fall back to per-second resampling; Markdown renders a table.
    let out = run(&[
        "compare",
        a.join("rep-1").to_str().unwrap(),
        b.join("rep-2").to_str().unwrap(),
        "--format",
        "markdown",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("| target/op | metric |") && md.contains("over seconds"),
        "{md}"
    );

    // Baselines: saved, compared against, not overwritten by accident.
    let baselines = tmp.path().join("baselines");
    let save = |force: bool| {
        let mut args = vec![
            "baseline",
            "save",
            a.to_str().unwrap(),
            "main",
            "--dir",
            baselines.to_str().unwrap(),
        ];
        if force {
            args.push("--force");
        }
        run(&args)
    };
    let out = save(false);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let saved = baselines.join("main");
    for f in [
        "repetitions.json",
        "rep-1/summary.json",
        "rep-1/histograms.hlog",
        "rep-1/provenance.json",
        "rep-1/scenario.resolved.toml",
    ] {
        assert!(saved.join(f).is_file(), "{f}");
    }
    assert!(!saved.join("rep-1/warmup.hlog").exists());
    let (code, report) = compare_json(&saved, &b, &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["method"], "repetitions");
    let out = save(false);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(save(true).status.code(), Some(0));

    // Refusals: clear messages, exit 2, never a panic.
    let run1 = a.join("rep-1");
    let empty = tmp.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    refused(&empty, &run1, "no summary.json");
    refused(&tmp.path().join("nowhere"), &run1, "is not a folder");

    let broken = tmp.path().join("broken");
    copy_dir(&run1, &broken);
    fs::write(broken.join("summary.json"), "{ not json").unwrap();
    refused(&run1, &broken, "is not valid JSON");

    let other = tmp.path().join("other");
    copy_dir(&run1, &other);
    let mut s = summary(&other);
    s["scenario"] = "another-scenario".into();
    fs::write(other.join("summary.json"), s.to_string()).unwrap();
    refused(&run1, &other, "only runs of the same scenario compare");

    let future = tmp.path().join("future");
    copy_dir(&run1, &future);
    let mut s = summary(&future);
    s["schema"] = "gatebench.summary/2".into();
    fs::write(future.join("summary.json"), s.to_string()).unwrap();
    refused(&run1, &future, "gatebench.summary/2");

    let fields = tmp.path().join("fields");
    copy_dir(&run1, &fields);
    fs::write(
        fields.join("summary.json"),
        r#"{"schema": "gatebench.summary/1", "scenario": "slowdown-gate"}"#,
    )
    .unwrap();
    refused(&run1, &fields, "is malformed");

    let no_hlog = tmp.path().join("no-hlog");
    copy_dir(&run1, &no_hlog);
    fs::remove_file(no_hlog.join("histograms.hlog")).unwrap();
    refused(&run1, &no_hlog, "interval log");

    let bad_hlog = tmp.path().join("bad-hlog");
    copy_dir(&run1, &bad_hlog);
    fs::write(
        bad_hlog.join("histograms.hlog"),
        "Tag=embedded/get/ok/none/latency,0.000,1.000,1.0,bm90IGEgaGlzdG9ncmFt\n",
    )
    .unwrap();
    refused(&run1, &bad_hlog, "cannot decode a histogram");

    let missing_rep = tmp.path().join("missing-rep");
    copy_dir(&a, &missing_rep);
    fs::remove_dir_all(missing_rep.join("rep-2")).unwrap();
    refused(&missing_rep, &b, "rep-2");

    let out = run(&["baseline", "save", empty.to_str().unwrap(), "x", "--dir"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = run(&[
        "baseline",
        "save",
        empty.to_str().unwrap(),
        "x",
        "--dir",
        baselines.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!baselines.join("x").exists());
}
