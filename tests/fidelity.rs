//! Latency fidelity against servers whose true behaviour is known: the open loop must
//! report what happened, including a stall, and the closed loop's understatement must
//! be visible next to it.

mod common;

use std::path::Path;
use std::time::Duration;

use common::servers::{Behaviour, TestServer, scenario, scenario_with_targets};
use common::*;
use serde_json::Value;

/// Runs `text` (written into `dir` as `name.toml`) and returns the GET entry.
fn run_get(dir: &Path, name: &str, scenario_text: &str) -> Value {
    let path = write_scenario(dir, &format!("{name}.toml"), scenario_text);
    let out_dir = dir.join(name);
    let out = run_scenario(&path, &out_dir, &["--keep-data"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = summary(&out_dir);
    let get = op(&s, "server", "get").clone();
    assert_eq!(
        get["outcomes"].as_object().unwrap().len(),
        1,
        "only ok: {get:#}"
    );
    let mut entry = get;
    entry["load"] = s["targets"][0]["load"].clone();
    entry["measured_seconds"] = s["targets"][0]["measured_seconds"].clone();
    entry
}

/// Requests recorded in an op entry.
fn get_requests(v: &Value) -> u64 {
    v["requests"]
        .as_u64()
        .unwrap_or_else(|| panic!("requests in {v:#}"))
}

fn us(v: &Value, metric: &str, p: &str) -> f64 {
    v[metric][p]
        .as_f64()
        .unwrap_or_else(|| panic!("{metric}.{p} in {v:#}"))
}

/// The fidelity tests share two cores; running them one after another keeps them exact.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A shared machine can throw a scheduling hiccup into any one run's tail; a measurement
/// error (timing from the send, a biased timer, a lost request) shows in every run. So a
/// fidelity check gets this many attempts and must come out exact in one of them.
const ATTEMPTS: usize = 3;

#[test]
fn open_loop_reports_the_true_delay() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempdir();
    let mut failures = Vec::new();
    for attempt in 0..ATTEMPTS {
        match true_delay_attempt(&tmp.path().join(attempt.to_string())) {
            Ok(()) => return,
            Err(why) => {
                eprintln!("attempt {attempt}: {why}");
                failures.push(why);
            }
        }
    }
    panic!("no exact attempt in {ATTEMPTS}: {failures:#?}");
}

/// One measurement of loopback time, then of a 5 ms server, at 100/s: p50 and p99 must
/// be the delay plus loopback time, within 5% (p50) and 10% (p99) of the delay.
fn true_delay_attempt(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).unwrap();
    let open = "executor = \"constant-arrival-rate\"\nrate = 100\nmax_in_flight = 16";
    let run_cfg = "duration = \"4s\"\nwarmup = \"1s\"";

    // Loopback and harness time, measured separately against a server with no delay.
    let fast = TestServer::start(Behaviour::default());
    let base = run_get(
        dir,
        "base",
        &scenario("base", &fast.endpoint(), run_cfg, open),
    );
    let (base_p50, base_p99) = (
        us(&base, "latency_us", "p50"),
        us(&base, "latency_us", "p99"),
    );

    let delay = Duration::from_millis(5);
    let slow = TestServer::start(Behaviour {
        delay,
        ..Behaviour::default()
    });
    let got = run_get(
        dir,
        "delay",
        &scenario("delay", &slow.endpoint(), run_cfg, open),
    );
    let truth = delay.as_micros() as f64;
    let (p50, p99) = (us(&got, "latency_us", "p50"), us(&got, "latency_us", "p99"));
    eprintln!(
        "loopback p50 {base_p50} µs p99 {base_p99} µs; with 5 ms delay: p50 {p50} µs p99 {p99} µs"
    );
    let schedule = &got["load"]["schedule"];
    // The run itself is deterministic in what it plans and never needs the cap.
    assert_eq!(schedule["planned"], 500, "100/s for 5 s: {schedule:#}");
    assert_eq!(schedule["cap_waits"], 0, "{schedule:#}");
    if (p50 - (truth + base_p50)).abs() > 0.05 * truth {
        return Err(format!("p50 {p50} µs vs {truth} + {base_p50}"));
    }
    // The true delay bounds p99 below; the delay plus the loopback tail bounds it above,
    // with 10% of the delay for the server's own lateness in the tail (its precise sleep
    // spins on a core the loaded machine may take away: CI once saw p99 +7 µs over a 5%
    // bound in all 3 attempts). A generator that is 1 ms late at p99 still fails.
    if p99 < 0.95 * truth || p99 > truth + base_p99 + 0.10 * truth {
        return Err(format!("p99 {p99} µs vs {truth} + {base_p99}"));
    }
    // A stray scheduler hiccup may make a request or two start more than 1 ms late.
    if schedule["late_starts"].as_u64().unwrap() > 5 {
        return Err(format!("late starts: {schedule:#}"));
    }
    Ok(())
}

#[test]
fn a_stall_shows_in_the_open_loop_tail_and_is_hidden_by_the_closed_loop() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempdir();
    let (delay, stall_after, stall) = (0.010, 3.0, 1.0);
    let behaviour = Behaviour {
        delay: Duration::from_secs_f64(delay),
        stall: Some((
            Duration::from_secs_f64(stall_after),
            Duration::from_secs_f64(stall),
        )),
        ..Behaviour::default()
    };
    let run_cfg = "duration = \"10s\"";

    // What a user of a 100/s service sees: requests due in the stall wait for its end.
    let mut expected: Vec<f64> = (0..1000)
        .map(|i| {
            let due = i as f64 / 100.0;
            let ready = due + delay;
            let done = if ready >= stall_after && ready < stall_after + stall {
                stall_after + stall
            } else {
                ready
            };
            (done - due) * 1e6
        })
        .collect();
    expected.sort_by(f64::total_cmp);
    let expected_p99 = expected[989];

    let server = TestServer::start(behaviour);
    let open = run_get(
        tmp.path(),
        "open",
        &scenario(
            "open",
            &server.endpoint(),
            run_cfg,
            "executor = \"constant-arrival-rate\"\nrate = 100",
        ),
    );
    let server = TestServer::start(behaviour);
    let closed = run_get(
        tmp.path(),
        "closed",
        &scenario(
            "closed",
            &server.endpoint(),
            run_cfg,
            "executor = \"closed-loop\"\nconcurrency = 1\nexpected_interval = \"10ms\"",
        ),
    );
    let open_p99 = us(&open, "latency_us", "p99");
    let closed_p99 = us(&closed, "latency_us", "p99");
    let corrected_p99 = us(&closed, "latency_corrected_us", "p99");
    eprintln!(
        "1 s stall at 100/s: expected p99 {:.0} ms; open loop p99 {:.0} ms; closed loop p99 {:.1} ms uncorrected, {:.0} ms corrected",
        expected_p99 / 1e3,
        open_p99 / 1e3,
        closed_p99 / 1e3,
        corrected_p99 / 1e3
    );
    assert!(
        (open_p99 / expected_p99 - 1.0).abs() < 0.10,
        "open p99 {open_p99} vs expected {expected_p99}"
    );
    assert!(
        open["latency_us"]["max"].as_f64().unwrap() >= 0.95e6,
        "the stall itself is in the max"
    );
    assert!(
        closed_p99 < 3.0 * delay * 1e6,
        "closed loop hides the stall: p99 {closed_p99}"
    );
    assert!(
        corrected_p99 > 10.0 * closed_p99,
        "correction restores the tail: {corrected_p99}"
    );
}

#[test]
fn the_in_flight_cap_makes_late_starts_visible() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempdir();
    // 200/s against a 50 ms server needs 10 in flight; with a cap of 2, most start late.
    let server = TestServer::start(Behaviour {
        delay: Duration::from_millis(50),
        ..Behaviour::default()
    });
    let got = run_get(
        tmp.path(),
        "capped",
        &scenario(
            "capped",
            &server.endpoint(),
            "duration = \"2s\"",
            "executor = \"constant-arrival-rate\"\nrate = 200\nmax_in_flight = 2",
        ),
    );
    let schedule = &got["load"]["schedule"];
    // 200/s against 2 slots × 20/s: about 80 requests go out in the 2 s, nearly every one
    // late behind the cap; the other ~320 came due but were never sent (dropped), and
    // the run still ends on time instead of sending them after its end.
    let sent = schedule["planned"].as_u64().unwrap();
    let dropped = schedule["dropped"].as_u64().unwrap();
    assert_eq!(sent + dropped, 400, "{schedule:#}");
    assert!((70..=90).contains(&sent), "{schedule:#}");
    assert_eq!(get_requests(&got), sent, "every request sent is recorded");
    let late = schedule["late_starts"].as_u64().unwrap();
    assert!(late + 5 >= sent, "{schedule:#}");
    // Each time the dispatcher hands a request out, the other slot is mostly still busy.
    assert!(
        schedule["cap_waits"].as_u64().unwrap() > sent / 3,
        "{schedule:#}"
    );
    assert!(
        schedule["late_by_us"]["max"].as_u64().unwrap() > 500_000,
        "{schedule:#}"
    );
    let measured = got["measured_seconds"].as_f64().unwrap();
    assert!(measured < 2.3, "the run ends at its duration: {measured} s");
    // Latency runs from the due time, so it includes the wait for a slot.
    assert!(us(&got, "latency_us", "p99") > 10.0 * us(&got, "service_us", "p99"));
}

#[test]
fn open_loop_sends_exactly_the_scenario_rate_to_each_target_in_every_compare_mode() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempdir();
    let server = TestServer::start(Behaviour::default());
    // (mode, rate, duration, requests each target must get): rate × duration per
    // target, split evenly when the targets run at once. Alternate turns default to a
    // sixth of the duration (at least 1 s), so 2 s runs in 1 s turns.
    let cases = [
        ("alternate", "10", "2s", 20),
        ("alternate", "0.5", "4s", 2),
        ("alternate", "50", "3s", 150),
        ("sequential", "10", "2s", 20),
        ("concurrent", "20", "2s", 20),
    ];
    for (i, (mode, rate, duration, each)) in cases.into_iter().enumerate() {
        let scenario_text = scenario_with_targets(
            "count",
            &["a", "b"],
            &server.endpoint(),
            &format!("compare = \"{mode}\"\nduration = \"{duration}\""),
            &format!("executor = \"constant-arrival-rate\"\nrate = {rate}"),
        );
        let path = write_scenario(tmp.path(), &format!("count{i}.toml"), &scenario_text);
        let out_dir = tmp.path().join(format!("count{i}"));
        let out = run_scenario(&path, &out_dir, &["--keep-data"]);
        assert!(out.status.success(), "{}", text(&out));
        let s = summary(&out_dir);
        for t in ["a", "b"] {
            let get = op(&s, t, "get");
            assert_eq!(
                get["requests"], each,
                "{mode} at {rate}/s for {duration}: target {t} got {get:#}"
            );
            let schedule = &target(&s, t)["load"]["schedule"];
            assert_eq!(schedule["planned"], each, "{mode}: {schedule:#}");
        }
    }
}

/// `connection = "per-request"` opens one connection per request, each counted on the
/// request that opened it; keep-alive opens one per worker.
#[test]
fn per_request_connections_open_one_connection_for_every_request() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempdir();
    for (reuse, opened_per_target) in [("per-request", 40u64), ("keep-alive", 2)] {
        // Answers take 2 ms, so both workers are running before the 40 requests are
        // done (an instant server let one worker send them all on a busy machine).
        let server = TestServer::start(Behaviour {
            delay: Duration::from_millis(2),
            ..Behaviour::default()
        });
        let scenario_text = scenario_with_targets(
            "conns",
            &["a"],
            &server.endpoint(),
            &format!("ops = 40\nconnection = \"{reuse}\""),
            "executor = \"closed-loop\"\nconcurrency = 2",
        );
        let path = write_scenario(tmp.path(), &format!("{reuse}.toml"), &scenario_text);
        let out_dir = tmp.path().join(reuse);
        let out = run_scenario(&path, &out_dir, &["--keep-data"]);
        assert!(out.status.success(), "{}", text(&out));
        let s = summary(&out_dir);
        let conns = &target(&s, "a")["connections"];
        assert_eq!(op(&s, "a", "get")["requests"], 40, "{s:#}");
        assert_eq!(conns["reuse"], reuse, "{conns:#}");
        assert_eq!(conns["opened"], opened_per_target, "{conns:#}");
        assert_eq!(conns["http"], "http/1.1", "{conns:#}");
        assert_eq!(op(&s, "a", "get")["connect_us"]["count"], opened_per_target);
        // The server saw them too (plus setup's and the connection check's).
        let accepted = server.accepted.load(std::sync::atomic::Ordering::Relaxed) as u64;
        assert!(
            accepted >= opened_per_target && accepted <= opened_per_target + 8,
            "{reuse}: the server accepted {accepted} connections"
        );
    }
}

/// Two targets of one storage (a gateway in front of the RGW it is compared with) must
/// each send what the scenario says: a PUT creates a new object, a DELETE removes one
/// this target wrote. With shared keys the second target's PUTs would overwrite the
/// first's objects (a cheaper or dearer operation than a create, depending on the
/// server) and its DELETEs would hit objects already gone.
#[test]
fn targets_sharing_a_storage_write_and_delete_their_own_objects() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempdir();
    let server = TestServer::start(Behaviour::default());
    for mode in ["sequential", "alternate"] {
        let scenario_text = scenario_with_targets(
            "writes",
            &["a", "b"],
            &server.endpoint(),
            &format!("ops = 60\nseed = 3\ncompare = \"{mode}\""),
            "executor = \"closed-loop\"\nconcurrency = 2",
        )
        .replace("get = 1", "put = 6\ndelete = 4");
        let path = write_scenario(tmp.path(), &format!("writes-{mode}.toml"), &scenario_text);
        let trace = tmp.path().join(format!("writes-{mode}.csv"));
        let out_dir = tmp.path().join(format!("writes-{mode}"));
        let out = run_scenario(
            &path,
            &out_dir,
            &["--keep-data", "--trace-requests", trace.to_str().unwrap()],
        );
        assert!(out.status.success(), "{}", text(&out));
        // target (its index),index,op,path,size,due,latency,class
        let mut keys = std::collections::HashMap::<(String, String), Vec<String>>::new();
        for line in std::fs::read_to_string(&trace).unwrap().lines().skip(1) {
            let c: Vec<&str> = line.split(',').collect();
            keys.entry((c[0].to_string(), c[2].to_string()))
                .or_default()
                .push(c[3].to_string());
        }
        let of = |t: &str, op: &str| -> std::collections::HashSet<String> {
            keys.get(&(t.to_string(), op.to_string()))
                .unwrap_or_else(|| panic!("{mode}: no {op} of {t} in {keys:?}"))
                .iter()
                .cloned()
                .collect()
        };
        let (puts_a, puts_b) = (of("0", "put"), of("1", "put"));
        assert_eq!(
            puts_a.len(),
            keys[&("0".into(), "put".into())].len(),
            "{mode}: a key PUT twice"
        );
        assert!(
            puts_a.is_disjoint(&puts_b),
            "{mode}: both targets PUT {:?}",
            puts_a.intersection(&puts_b).collect::<Vec<_>>()
        );
        for (t, puts) in [("0", &puts_a), ("1", &puts_b)] {
            let deletes = of(t, "delete");
            assert!(
                deletes.is_subset(puts),
                "{mode}: {t} deleted {deletes:?}, wrote {puts:?}"
            );
        }
    }
}
