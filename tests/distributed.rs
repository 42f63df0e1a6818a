//! Distributed runs through the CLI: shards of one run against a shared in-process S3
//! server send exactly the single-process load, start together, and flag a skewed clock.
//! The load itself is compared request by request through the hidden `--trace-requests`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;

use common::*;
use gatebench::shared::embedded_s3::EmbeddedS3;

/// A shared S3 server in this process: every shard process reaches the same storage.
struct SharedS3 {
    server: EmbeddedS3,
    _runtime: tokio::runtime::Runtime,
}

impl SharedS3 {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(EmbeddedS3::start()).unwrap();
        SharedS3 {
            server,
            _runtime: runtime,
        }
    }

    /// A scenario against this server: `load` and `run` are TOML table bodies.
    fn scenario(&self, dir: &Path, run: &str, load: &str) -> PathBuf {
        let ep = &self.server.endpoint;
        write_scenario(
            dir,
            "dist.toml",
            &format!(
                "name = \"dist\"\n[run]\n{run}\n[load]\n{load}\n\
                 [data]\nbuckets = [\"dist\"]\nobjects = 40\nsize = \"2KiB\"\n\
                 [mix]\nget = 50\nput = 25\nhead = 10\nlist = 5\ndelete = 10\n\
                 [targets.s3]\nkind = \"s3\"\nendpoint = \"{}\"\naccess_key = \"{}\"\nsecret_key = \"{}\"\n",
                ep.endpoint,
                ep.access_key,
                ep.secret_key.expose()
            ),
        )
    }
}

/// One traced request: (op, path with the run id replaced, size, due offset µs).
type Planned = (String, String, u64, String);

/// The requests of trace files, with the run's id masked so runs compare.
fn traced(files: &[PathBuf], run_id: &str) -> Vec<(Planned, u64, String)> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines().skip(1) {
            let c: Vec<&str> = line.split(',').collect();
            assert_eq!(c.len(), 8, "{line}");
            out.push((
                (
                    c[2].to_string(),
                    c[3].replace(run_id, "RUN"),
                    c[4].parse().unwrap(),
                    c[5].to_string(),
                ),
                c[6].parse().unwrap(),
                c[7].to_string(),
            ));
        }
    }
    out
}

/// Starts `gatebench run` as shard `i` of `n` of run `id` (quiet, traced), with `extra`.
fn shard(scenario: &Path, dir: &Path, i: u32, n: u32, id: &str, extra: &[&str]) -> Child {
    let out = dir.join(format!("shard-{i}"));
    let trace = dir.join(format!("trace-{i}.csv"));
    let mut args = vec![
        "run".to_string(),
        scenario.display().to_string(),
        "--quiet".into(),
        "--out".into(),
        out.display().to_string(),
        "--trace-requests".into(),
        trace.display().to_string(),
        "--shard".into(),
        format!("{i}/{n}"),
        "--run-id".into(),
        id.into(),
        "--start-grace".into(),
        "2s".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    gatebench()
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn four_open_loop_shards_send_exactly_the_single_process_load_and_flag_a_skewed_clock() {
    let s3 = SharedS3::start();
    let dir = tempdir();
    let scenario = s3.scenario(
        dir.path(),
        "warmup = \"500ms\"\nduration = \"2s\"\nseed = 7",
        "executor = \"poisson-arrival-rate\"\nrate = 150\nmax_in_flight = 32",
    );
    let single = dir.path().join("single");
    std::fs::create_dir(&single).unwrap();
    let one = shard(&scenario, &single, 0, 1, "one", &[])
        .wait_with_output()
        .unwrap();
    assert!(one.status.success(), "{}", text(&one));

    let sharded = dir.path().join("sharded");
    std::fs::create_dir(&sharded).unwrap();
    let children: Vec<Child> = (0..4)
        .map(|i| {
            // Shard 3's clock runs 400 ms ahead.
            let skew: &[&str] = if i == 3 {
                &["--simulate-clock-skew", "400"]
            } else {
                &[]
            };
            shard(&scenario, &sharded, i, 4, "four", skew)
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }

    let whole = traced(&[single.join("trace-0.csv")], "one");
    let parts = traced(
        &(0..4)
            .map(|i| sharded.join(format!("trace-{i}.csv")))
            .collect::<Vec<_>>(),
        "four",
    );
    let mut a: Vec<&Planned> = whole.iter().map(|r| &r.0).collect();
    let mut b: Vec<&Planned> = parts.iter().map(|r| &r.0).collect();
    assert!(a.len() > 300, "{} requests", a.len());
    a.sort();
    b.sort();
    assert_eq!(
        a, b,
        "the shards' (op, key, size, due) differ from one process's"
    );
    for op in ["get", "put", "head", "list", "delete"] {
        assert!(a.iter().any(|p| p.0 == op), "{op} never sent");
    }

    // Every shard recorded itself; they began together and only shard 3 is flagged.
    let mut began = BTreeMap::new();
    for i in 0..4 {
        let s = summary(&sharded.join(format!("shard-{i}")));
        assert_eq!(s["status"], "complete");
        let rec = &s["shard"];
        assert_eq!(rec["index"], i);
        assert_eq!(rec["count"], 4);
        assert_eq!(rec["run_id"], "four");
        let offset = rec["clock_offset_ms"].as_f64().expect("offset measured");
        if i == 3 {
            assert!((offset - 400.0).abs() < 60.0, "shard 3 offset {offset} ms");
        } else {
            assert!(offset.abs() < 60.0, "shard {i} offset {offset} ms");
        }
        began.insert(i, rec["began_at"].as_str().unwrap().to_string());
        assert!(rec["cpu_seconds"].as_f64().is_some());
    }
    let starts: Vec<_> = began.values().collect();
    assert!(
        starts.iter().all(|b| b[..19] == starts[0][..19]),
        "{began:?}"
    );

    // Merged: requests per op × class are exactly the shards' traced requests, and every
    // percentile is that of one histogram of all their raw latencies.
    let merged = sharded.join("merged");
    let folders: Vec<String> = (0..4)
        .map(|i| sharded.join(format!("shard-{i}")).display().to_string())
        .collect();
    let mut args = vec!["merge".to_string()];
    args.extend(folders);
    args.extend(["--out".to_string(), merged.display().to_string()]);
    let out = gatebench().args(&args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("FLAG"),
        "the skewed shard is flagged: {}",
        text(&out)
    );
    let s = summary(&merged);
    let shards = s["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 4);
    for row in shards {
        let flagged = row["clock_flagged"].as_bool().unwrap();
        assert_eq!(flagged, row["index"] == 3, "{row}");
    }
    // The steady phase: due at or after the 500 ms warm-up.
    let steady: Vec<&(Planned, u64, String)> = parts
        .iter()
        .filter(|r| r.0.3.parse::<u64>().unwrap() >= 500_000)
        .collect();
    for op in ["get", "put", "head", "list", "delete"] {
        let mine: Vec<_> = steady.iter().filter(|r| r.0.0 == op).collect();
        let merged_op = common::op(&s, "s3", op);
        assert_eq!(
            merged_op["requests"].as_u64().unwrap(),
            mine.len() as u64,
            "{op}"
        );
        let mut raw = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        for r in mine.iter().filter(|r| r.2 == "ok") {
            raw.record(r.1).unwrap();
        }
        assert_eq!(ok_count(merged_op), raw.len(), "{op} ok");
        let lat = &merged_op["latency_us"];
        for (field, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)] {
            let expected = raw.value_at_quantile(q);
            let got = lat[field].as_u64().unwrap();
            assert!(
                raw.equivalent(got, expected),
                "{op} {field}: merged {got} µs, all samples {expected} µs"
            );
        }
    }
}

#[test]
fn closed_loop_shards_split_workers_and_operations() {
    let s3 = SharedS3::start();
    let dir = tempdir();
    let scenario = s3.scenario(
        dir.path(),
        "ops = 203\nseed = 5",
        "executor = \"closed-loop\"\nconcurrency = 6",
    );
    let children: Vec<Child> = (0..4)
        .map(|i| shard(&scenario, dir.path(), i, 4, "closed", &[]))
        .collect();
    let mut total = 0;
    let mut indexes = Vec::new();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let s = summary(&dir.path().join(format!("shard-{i}")));
        let issued: u64 = target(&s, "s3")["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["requests"].as_u64().unwrap())
            .sum();
        // 203 = 51 + 51 + 51 + 50.
        assert_eq!(issued, if i < 3 { 51 } else { 50 }, "shard {i}: {s}");
        total += issued;
        let trace = std::fs::read_to_string(dir.path().join(format!("trace-{i}.csv"))).unwrap();
        for line in trace.lines().skip(1) {
            let index: u64 = line.split(',').nth(1).unwrap().parse().unwrap();
            assert_eq!(index % 4, i as u64, "shard {i} sent op {index}");
            indexes.push(index);
        }
    }
    assert_eq!(total, 203);
    let unique: std::collections::HashSet<_> = indexes.iter().collect();
    assert_eq!(
        unique.len(),
        indexes.len(),
        "two shards sent the same operation"
    );

    // More shards than workers is refused before anything starts.
    let out = run(&[
        "run",
        scenario.to_str().unwrap(),
        "--shard",
        "0/8",
        "--run-id",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("6 workers cannot be split into 8 shards"),
        "{}",
        text(&out)
    );
}

#[test]
fn shard_options_are_checked() {
    let dir = tempdir();
    let s = write_scenario(
        dir.path(),
        "e.toml",
        "name = \"e\"\n[run]\nops = 10\n[load]\nexecutor = \"closed-loop\"\nconcurrency = 2\n\
         [data]\nbuckets = [\"eee\"]\nobjects = 2\nsize = \"1KiB\"\n[mix]\nget = 1\n\
         [targets.local]\nkind = \"embedded\"\n",
    );
    let s = s.to_str().unwrap();
    for (args, says) in [
        (vec!["--shard", "4/4", "--run-id", "a"], "out of range"),
        (vec!["--shard", "1/2"], "needs --run-id"),
        (
            vec!["--shards", "2", "--run-id", "a"],
            "JOB_COMPLETION_INDEX",
        ),
        (
            vec!["--shard", "0/2", "--run-id", "../x"],
            "--run-id `../x`",
        ),
    ] {
        let mut all = vec!["run", s];
        all.extend(args);
        let out = gatebench()
            .args(&all)
            .env_remove("JOB_COMPLETION_INDEX")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{all:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{all:?}: {}", text(&out));
    }
}

/// An SNTP server on loopback whose clock runs `ahead_ms` ahead of this machine's;
/// answers until the test ends.
fn fake_ntp_server(ahead_ms: u64) -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 48];
        // Bounded: a run asks once; a few spare answers cover a retry.
        for _ in 0..8 {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            if n < 48 {
                continue;
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                + std::time::Duration::from_millis(ahead_ms);
            // NTP time: seconds since 1900 and a 32-bit fraction.
            let secs = (now.as_secs() + 2_208_988_800) as u32;
            let frac = ((u64::from(now.subsec_nanos()) << 32) / 1_000_000_000) as u32;
            let mut ts = [0u8; 8];
            ts[..4].copy_from_slice(&secs.to_be_bytes());
            ts[4..].copy_from_slice(&frac.to_be_bytes());
            let mut reply = [0u8; 48];
            reply[0] = 0x24; // no leap warning, version 4, server mode
            reply[1] = 1; // stratum 1
            reply[2] = 6;
            reply[3] = 0xEC;
            reply[12..16].copy_from_slice(b"GPS\0");
            reply[16..24].copy_from_slice(&ts); // reference
            reply[24..32].copy_from_slice(&buf[40..48]); // originate: the client's transmit
            reply[32..40].copy_from_slice(&ts); // receive
            reply[40..48].copy_from_slice(&ts); // transmit
            let _ = socket.send_to(&reply, from);
        }
    });
    addr
}

#[test]
fn the_clock_is_measured_against_an_ntp_server_when_one_is_named() {
    let s3 = SharedS3::start();
    let ntp = fake_ntp_server(250);
    let dir = tempdir();
    let scenario = s3.scenario(
        dir.path(),
        "ops = 20\nseed = 1",
        "executor = \"closed-loop\"\nconcurrency = 2",
    );
    let ntp = ntp.to_string();
    let out = shard(&scenario, dir.path(), 0, 1, "ntp", &["--ntp-server", &ntp])
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rec = &summary(&dir.path().join("shard-0"))["shard"];
    let offset = rec["clock_offset_ms"].as_f64().unwrap();
    // This clock is 250 ms behind the server's.
    assert!((offset + 250.0).abs() < 30.0, "offset {offset} ms: {rec}");
    assert!(
        rec["clock_reference"]
            .as_str()
            .unwrap()
            .contains(&format!("NTP server {ntp}")),
        "{rec}"
    );
}
