//! The capacity finder (`executor = "find-capacity"`) against servers whose capacity is
//! known: a fixed worker pool with a fixed service time, and the stand-in gateway with a
//! rate limit. Also what it refuses.

mod common;

use std::path::Path;
use std::time::Duration;

use common::servers::{Behaviour, TestServer, scenario};
use common::*;
use serde_json::Value;

/// The searches share two cores; one at a time keeps their steps honest.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The `capacity` entry of `target` in a summary.
fn capacity<'a>(s: &'a Value, target: &str) -> &'a Value {
    s["capacity"]["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["target"] == target))
        .unwrap_or_else(|| panic!("no capacity entry for {target} in {:#}", s["capacity"]))
}

/// Runs `text` as `name.toml` in `dir`; the summary.
fn search(dir: &Path, name: &str, scenario_text: &str) -> Value {
    let path = write_scenario(dir, &format!("{name}.toml"), scenario_text);
    let out_dir = dir.join(name);
    let out = run_scenario(&path, &out_dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    summary(&out_dir)
}

/// A shared machine can throw a hiccup into one step's tail and fail it early; a wrong
/// search or a wrong accepted rate shows in every attempt. So the pool's knee gets this
/// many attempts and must come out right in one (as tests/fidelity.rs does).
const ATTEMPTS: usize = 3;

#[test]
fn the_knee_of_a_worker_pool_is_its_computed_capacity() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // 4 workers x 20 ms: 200 requests per second, no more.
    let server = TestServer::start(Behaviour {
        delay: Duration::from_millis(20),
        workers: Some(4),
        ..Behaviour::default()
    });
    let tmp = tempdir();
    let mut failures = Vec::new();
    for attempt in 0..ATTEMPTS {
        let dir = tmp.path().join(attempt.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        match pool_attempt(&dir, &server.endpoint()) {
            Ok(()) => return,
            Err(why) => {
                eprintln!("attempt {attempt}: {why}");
                failures.push(why);
            }
        }
    }
    panic!("no right attempt in {ATTEMPTS}: {failures:#?}");
}

/// One search of the 200/s pool: the knee within 10% of 200/s, the climb as computed,
/// accepted rates right, and the run's histograms holding every step's requests.
fn pool_attempt(dir: &Path, endpoint: &str) -> Result<(), String> {
    let load = r#"executor = "find-capacity"
start_rate = 50
factor = 1.5
step_duration = "1s"
max_rate = 1000
slo_p99 = "60ms"
bisect_steps = 3"#;
    let text = scenario("pool", endpoint, "warmup = \"300ms\"", load);
    let s = search(dir, "pool", &text);
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("{what}: {:#}", s["capacity"]))
        }
    };
    check(s["capacity"]["complete"] == true, "complete")?;
    let pool = capacity(&s, "server");
    let knee = pool["knee"]["rate"].as_f64().unwrap_or(0.0);
    check(
        (knee - 200.0).abs() <= 20.0,
        &format!("knee {knee}/s, computed 200/s"),
    )?;
    let reason = pool["knee"]["reason"].as_str().unwrap_or("");
    check(["slo", "saturated"].contains(&reason), "reason")?;
    let steps = pool["steps"].as_array().unwrap();
    // The climb 50, 75, 112.5, 168.75, 253.1, then 3 bisections.
    check(steps.len() == 8, "8 steps")?;
    check(steps[0]["offered_rate"] == 50.0, "first step")?;
    check(steps[4]["offered_rate"] == 253.125, "fifth step")?;
    for st in steps {
        let (offered, accepted) = (
            st["offered_rate"].as_f64().unwrap(),
            st["accepted_rate"].as_f64().unwrap(),
        );
        if offered > 230.0 {
            check(st["verdict"] != "good", "above capacity is not good")?;
            check(accepted < 215.0, "served at most its capacity")?;
        }
        if offered < 180.0 {
            check(st["verdict"] == "good", "below capacity is good")?;
            check(accepted >= 0.97 * offered, "accepted what was offered")?;
        }
    }
    // The run's histograms hold every step's requests (the tee took copies only).
    let measured = op(&s, "server", "get")["requests"].as_u64().unwrap();
    let offered: f64 = steps
        .iter()
        .map(|st| st["offered_rate"].as_f64().unwrap())
        .sum();
    check(
        (measured as f64 - offered).abs() <= steps.len() as f64,
        &format!("{measured} measured, {offered} offered over 1 s steps"),
    )
}

#[test]
fn behind_a_rate_limit_the_knee_is_the_limit_and_the_reason_is_throttled() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempdir();
    // The shipped throttle policy with a 1 s window of 50 calls: a 10 s window would
    // count earlier steps.
    let policy = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/apim/policy.throttle.local.xml"),
    )
    .unwrap();
    let limited = r#"calls="50" renewal-period="1""#;
    let policy = policy.replace(r#"calls="1000" renewal-period="10""#, limited);
    assert!(policy.contains(limited));
    let policy_path = tmp.path().join("policy.xml");
    std::fs::write(&policy_path, policy).unwrap();
    let text = format!(
        r#"name = "throttled-knee"
[run]
warmup = "1s"
[load]
executor = "find-capacity"
start_rate = 20
factor = 1.5
step_duration = "1s"
max_rate = 100
slo_p99 = "250ms"
bisect_steps = 2
[data]
buckets = ["knee"]
objects = 20
size = "1KiB"
[mix]
get = 1
[targets.direct]
kind = "embedded"
[targets.apim]
kind = "embedded-gateway"
policy = "{}"
setup_via = "direct"
"#,
        policy_path.display()
    );
    let s = search(tmp.path(), "throttle", &text);
    let apim = capacity(&s, "apim");
    assert_eq!(apim["knee"]["reason"], "throttled", "{apim:#}");
    let knee = apim["knee"]["rate"].as_f64().unwrap();
    assert!(
        (knee - 50.0).abs() <= 5.0,
        "knee {knee}/s, limit 50/s: {apim:#}"
    );
    let direct = capacity(&s, "direct");
    assert_eq!(direct["knee"]["reason"], "ceiling", "{direct:#}");
    assert_eq!(direct["knee"]["rate"], 100.0);
}

#[test]
fn what_a_capacity_search_refuses() {
    let tmp = tempdir();
    let load = "executor = \"find-capacity\"\nstart_rate = 10\nfactor = 2\nstep_duration = \"1s\"\nmax_rate = 100\nslo_p99 = \"50ms\"";
    let endpoint = "http://127.0.0.1:9";
    let validate = |name: &str, run_table: &str, load: &str| {
        let path = write_scenario(
            tmp.path(),
            &format!("{name}.toml"),
            &scenario(name, endpoint, run_table, load),
        );
        run(&["validate", path.to_str().unwrap()])
    };
    let ok = validate("fine", "warmup = \"1s\"", load);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    for (name, run_table, load, field, says) in [
        (
            "length",
            "duration = \"10s\"",
            load.to_string(),
            "run.duration",
            "step_duration",
        ),
        (
            "count",
            "ops = 100",
            load.to_string(),
            "run.ops",
            "step_duration",
        ),
        (
            "turns",
            "compare = \"alternate\"",
            load.to_string(),
            "run.compare",
            "sequential",
        ),
        (
            "short",
            "",
            load.replace("\"1s\"", "\"50ms\""),
            "load.step_duration",
            "100ms",
        ),
        (
            "growth",
            "",
            load.replace("factor = 2", "factor = 2\nstep = 5"),
            "load.step",
            "not both",
        ),
        (
            "climb",
            "",
            load.replace("factor = 2", "step = 0.5"),
            "load.max_rate",
            "100 steps",
        ),
        (
            "rate",
            "",
            format!("{load}\nrate = 5"),
            "load.rate",
            "does not take",
        ),
    ] {
        let out = validate(name, run_table, &load);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {all}");
        assert!(all.contains(field) && all.contains(says), "{name}: {all}");
        assert!(
            all.contains(&format!("{name}.toml:")),
            "names file and line: {all}"
        );
    }
    let path = write_scenario(tmp.path(), "cli.toml", &scenario("cli", endpoint, "", load));
    let path = path.to_str().unwrap();
    for (args, says) in [
        (vec!["--duration", "5s"], "--duration"),
        (vec!["--ops", "10"], "--ops"),
        (vec!["--shard", "0/2", "--run-id", "x"], "one process"),
        (vec!["--run-id", "x"], "one process"),
    ] {
        let mut all_args = vec!["run", path, "--quiet"];
        all_args.extend(args);
        let out = run(&all_args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(says), "{}", text(&out));
    }
}
