//! End-to-end tests of `gatebench report` on a real (embedded-target) results folder
//! and on broken folders.

mod common;

use std::path::Path;

use common::*;

const CHARTS: [&str; 8] = [
    "latency-spectrum",
    "overhead",
    "time-breakdown",
    "server-timing",
    "throughput",
    "outcomes",
    "cache",
    "latency-over-time",
];

/// Makes a 3-second quickstart results folder in `dir`.
fn quickstart(dir: &Path) {
    let out = run(&[
        "run",
        "scenarios/quickstart.toml",
        "--duration",
        "3s",
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// Every value of `attr="…"` in `html`.
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            &rest[..rest.find('"').unwrap_or(rest.len())]
        })
        .collect()
}

#[test]
fn report_of_a_quickstart_run_has_charts_page_and_summary() {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    quickstart(&dir);

    let out = run(&["report", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("report.html"));

    for name in CHARTS {
        let svg = std::fs::read_to_string(dir.join(format!("charts/{name}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("</svg>"),
            "{name}.svg"
        );
        let png = std::fs::read(dir.join(format!("charts/{name}.png"))).unwrap();
        let (w, h) = png_size(&png);
        assert_eq!(w, 1200, "{name}.png");
        assert!((400..=4000).contains(&h), "{name}.png is {w}x{h}");
        assert!(png.len() > 10_000, "{name}.png is only {} bytes", png.len());
    }

    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for attr in ["src", "href"] {
        for v in attr_values(&html, attr) {
            assert!(
                !v.contains("://") && !v.starts_with("//"),
                "{attr}={v:?} points outside the folder"
            );
        }
    }
    assert!(!html.contains("<script"), "no scripts");
    assert!(!html.contains("<link"), "no external stylesheets");
    assert_eq!(html.matches("<svg").count(), 8, "all eight charts inline");
    assert!(
        html.contains("measure gatebench and this machine, not storage"),
        "the embedded note is shown"
    );
    assert!(
        !html.contains("No gateway target in this run"),
        "the quickstart has a gateway"
    );
    assert!(html.contains("<td>direct</td><td>get</td>"));
    assert!(html.contains("<td>gateway</td><td>get</td>"));
    assert!(html.contains("<dt>CPUs</dt>"), "provenance");

    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        md.contains("| target | op | requests | ok | failed |"),
        "{md}"
    );
    assert!(
        md.contains("| direct | get |") && md.contains("| gateway | get |"),
        "{md}"
    );
    assert!(md.contains("> **Note (direct):**"), "{md}");
    assert!(md.contains("### Verdict"), "{md}");

    // Regenerating is idempotent and leaves no stray files.
    let again = run(&["report", dir.to_str().unwrap()]);
    assert!(again.status.success(), "{}", text(&again));
    let charts = std::fs::read_dir(dir.join("charts")).unwrap().count();
    assert_eq!(charts, 2 * CHARTS.len());
}

#[test]
fn broken_folders_fail_with_a_clear_message() {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    quickstart(&dir);
    let good_summary = std::fs::read(dir.join("summary.json")).unwrap();
    let good_log = std::fs::read(dir.join("histograms.hlog")).unwrap();
    let report = |d: &Path| run(&["report", d.to_str().unwrap()]);

    let missing = report(&tmp.path().join("nowhere"));
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not a results folder"));

    std::fs::remove_file(dir.join("summary.json")).unwrap();
    let out = report(&dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("summary.json"),
        "{}",
        text(&out)
    );

    std::fs::write(dir.join("summary.json"), b"{\"schema\": ").unwrap();
    let out = report(&dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("summary.json"),
        "{}",
        text(&out)
    );
    std::fs::write(dir.join("summary.json"), &good_summary).unwrap();

    // A log cut in the middle of a line.
    std::fs::write(
        dir.join("histograms.hlog"),
        &good_log[..good_log.len() * 2 / 3],
    )
    .unwrap();
    let out = report(&dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("histograms.hlog") && err.contains("line"),
        "{}",
        text(&out)
    );
    assert!(!err.contains("panicked"), "{}", text(&out));

    // An empty log is a run without data: the report is made, charts say so.
    std::fs::write(dir.join("histograms.hlog"), b"").unwrap();
    let out = report(&dir);
    assert!(out.status.success(), "{}", text(&out));
    let svg = std::fs::read_to_string(dir.join("charts/throughput.svg")).unwrap();
    assert!(
        svg.contains("no data"),
        "throughput.svg says there is no data"
    );
}

/// A deterministic spread of `n` latencies around `median_us` with a tail.
fn latencies(n: u64, median_us: u64, seed: u64) -> Vec<u64> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            // Exponential tail: median at `median_us`.
            let v = median_us as f64 * (-(1.0 - u).ln() / std::f64::consts::LN_2);
            (v as u64).max(1)
        })
        .collect()
}

/// Writes a results folder of a direct (s3) and a gateway target run one after the
/// other: the gateway caches GETs and throttles from its 12th second on.
fn gateway_fixture(dir: &Path) {
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    use gatebench::plan::{Kind, OpKind};
    use gatebench::record::{CacheClass, OutcomeClass, new_histogram};
    use gatebench::results::summary::*;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::V2DeflateSerializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

    std::fs::create_dir_all(dir).unwrap();
    let mut log = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut w = IntervalLogWriterBuilder::new()
        .with_start_time(start)
        .with_base_time(start)
        .begin_log_with(&mut log, &mut ser)
        .unwrap();
    type Key = (&'static str, OpKind, OutcomeClass, CacheClass);
    let mut totals: BTreeMap<Key, Histogram<u64>> = BTreeMap::new();
    let mut line = |second: u64, key: Key, values: Vec<u64>| {
        let mut h = new_histogram();
        for v in values {
            h.record(v).unwrap();
        }
        let tag = format!(
            "{}/{}/{}/{}/latency",
            key.0,
            key.1.name(),
            key.2.name(),
            key.3.name()
        );
        w.write_histogram(
            &h,
            Duration::from_secs(second),
            Duration::from_secs(1),
            Tag::new(&tag),
        )
        .unwrap();
        totals
            .entry(key)
            .or_insert_with(new_histogram)
            .add(&h)
            .unwrap();
    };
    use CacheClass::*;
    use OpKind::*;
    use OutcomeClass::*;
    for s in 0..20u64 {
        line(2 + s, ("direct", Get, Ok, None), latencies(300, 2000, s));
        line(
            2 + s,
            ("direct", Put, Ok, None),
            latencies(100, 5000, s + 100),
        );
        let t = 24 + s;
        let rate = 300 + 20 * s;
        let (ok_gets, throttled) = if s >= 12 {
            (400, rate - 400)
        } else {
            (rate, 0)
        };
        let hits = ok_gets * 6 / 10;
        line(t, ("apim", Get, Ok, Hit), latencies(hits, 400, s + 200));
        line(
            t,
            ("apim", Get, Ok, Miss),
            latencies(ok_gets - hits, 3500, s + 300),
        );
        line(
            t,
            ("apim", Put, Ok, Uncacheable),
            latencies(100, 7000, s + 400),
        );
        if throttled > 0 {
            line(
                t,
                ("apim", Get, Throttled, None),
                latencies(throttled, 300, s + 500),
            );
        }
    }
    std::fs::write(dir.join("histograms.hlog"), &log).unwrap();

    let target = |name: &str, kind: Kind| {
        let mut ops = Vec::new();
        for op in [Put, Get] {
            let mut o = OpSummary::empty(op);
            let mut ok = new_histogram();
            for ((t, kop, class, cache), h) in &totals {
                if *t != name || *kop != op {
                    continue;
                }
                o.requests += h.len();
                *o.outcomes.entry(*class).or_default() += h.len();
                if *class == Ok {
                    ok.add(h).unwrap();
                    if *cache != None {
                        o.cache.insert(*cache, LatencyStats::of(h));
                    }
                }
            }
            let hits = o
                .cache
                .get(&Hit)
                .and_then(|s| s.as_ref())
                .map_or(0, |s| s.count);
            let misses = o
                .cache
                .get(&Miss)
                .and_then(|s| s.as_ref())
                .map_or(0, |s| s.count);
            if hits + misses > 0 {
                o.cache_hit_ratio = Some(hits as f64 / (hits + misses) as f64);
            }
            o.latency_us = LatencyStats::of(&ok);
            o.ops_per_sec = o.requests as f64 / 20.0;
            o.ok_ops_per_sec = ok.len() as f64 / 20.0;
            o.bytes_down = 16384 * ok.len();
            o.mib_per_sec = o.bytes_down as f64 / 1048576.0 / 20.0;
            ops.push(o);
        }
        let t = TargetSummary {
            connections: Default::default(),
            name: name.into(),
            kind,
            endpoint: "http://127.0.0.1:7480".into(),
            note: Option::None,
            error: Option::None,
            measured_seconds: 20.0,
            cancelled: 0,
            load: LoadSummary {
                executor: "ramping-arrival-rate".into(),
                max_in_flight: 256,
                phases: Vec::new(),
                schedule: Option::None,
            },
            auth: Option::None,
            throttle: Option::None,
            ops,
            slowest_requests: Vec::new(),
            by_client: Vec::new(),
        };
        let mut v = serde_json::to_value(t).unwrap();
        if kind == Kind::Gateway {
            v["throttle"] =
                serde_json::json!({"rate_limit": {"calls": 4000, "renewal_period_s": 10}});
            v["slowest_requests"] = serde_json::json!([{
                "op": "get", "path": "/bench/<k>", "due": "2027-01-15T08:00:31.250Z",
                "due_offset_ms": 31250, "latency_us": 212000, "status": 200, "class": "ok",
                "ids": {"client": "fixture-1-1-77", "amz": "tx00000abc-0067-zone",
                        "gateway": "0b6c2a8e-8d6f-4c1e-9a51-3f1d2c7e9b10"}
            }]);
        }
        v
    };
    let summary = serde_json::json!({
        "schema": SCHEMA, "status": "complete", "error": null, "scenario": "gateway <cache> & throttle",
        "run_id": "fixture-1", "started_at": "2027-01-15T08:00:00Z", "ended_at": "2027-01-15T08:00:50Z",
        "targets": [target("direct", Kind::S3), target("apim", Kind::Gateway)],
    });
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&summary).unwrap(),
    )
    .unwrap();
}

#[test]
fn report_of_a_gateway_run_shows_overhead_cache_and_throttling() {
    // Kept under target/tmp so the charts can be looked at after a run.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-gateway-fixture");
    let _ = std::fs::remove_dir_all(&dir);
    gateway_fixture(&dir);

    let out = run(&["report", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(md.contains("- apim adds "), "{md}");
    assert!(md.contains("at p99 on GET compared with direct."), "{md}");
    assert!(
        md.contains("cache hit ratio on GET at apim cut p50 from"),
        "{md}"
    );
    assert!(
        md.contains("Throttling on apim began at 12 s at ~640 ops/s"),
        "{md}"
    );
    assert!(md.contains("| hit ratio |"), "{md}");
    assert!(md.contains("gateway &lt;cache&gt; &amp; throttle"), "{md}");
    assert!(md.contains("### Slowest requests: apim"), "{md}");
    assert!(
        md.contains(
            "| get | /bench/&lt;k&gt; | 212.00ms | 200 | 2027-01-15T08:00:31.250Z | fixture-1-1-77 \
             | tx00000abc-0067-zone | 0b6c2a8e-8d6f-4c1e-9a51-3f1d2c7e9b10 |"
        ),
        "{md}"
    );
    assert!(!md.contains("### Slowest requests: direct"), "{md}");
    // The look-up line is prose, not a cell: its query and id shapes are code spans that
    // Markdown shows as written (entities and `\|` would show literally there).
    assert!(
        md.contains(
            "`ApiManagementGatewayLogs | where CorrelationId == \"<id>\" | project BackendTime, \
             TotalTime, Cache, ResponseCode`"
        ) && md.contains("(`<run id>-<target index>-<op index>`)"),
        "{md}"
    );

    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<h1>gatebench report: gateway &lt;cache&gt; &amp; throttle</h1>"));
    assert!(html.contains("provenance.json not found"));
    assert!(html.contains("<h2>Slowest requests: apim</h2>"), "{html}");
    assert!(html.contains("/bench/&lt;k&gt;") && html.contains("CorrelationId"));
    let svg = |name: &str| std::fs::read_to_string(dir.join(format!("charts/{name}.svg"))).unwrap();
    assert!(!svg("overhead").contains("no gateway target"));
    assert!(svg("overhead").contains("apim minus direct (overhead)"));
    assert!(!svg("cache").contains("no cache data"));
    assert!(svg("cache").contains("apim misses"));
    assert!(svg("outcomes").contains("limit 400/s"));
    assert!(svg("outcomes").contains("throttled"));
}

#[test]
fn a_stated_rate_limit_reaches_the_summary_and_the_outcomes_chart() {
    let tmp = tempdir();
    // The throttle policy allows 1000 calls per 10 s per subscription; 4 closed-loop
    // workers send far more, so the run crosses it within the first second or two.
    let scenario = write_scenario(
        tmp.path(),
        "limit.toml",
        r#"name = "limit"
[run]
duration = "3s"
compare = "sequential"
[load]
executor = "closed-loop"
concurrency = 4
[data]
buckets = ["limit"]
objects = 20
size = "1KiB"
[mix]
head = 1
[targets.direct]
kind = "embedded"
[targets.apim]
kind = "embedded-gateway"
policy = "deploy/apim/policy.throttle.local.xml"
rate_limit = { calls = 1000, renewal_period = "10s" }
"#,
    );
    let dir = tmp.path().join("run");
    let out = run(&[
        "run",
        scenario.to_str().unwrap(),
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let s = summary(&dir);
    let throttle = &target(&s, "apim")["throttle"];
    assert_eq!(
        throttle["rate_limit"],
        serde_json::json!({"calls": 1000, "renewal_period_s": 10}),
        "{throttle:#}"
    );
    assert!(throttle["throttled"].as_u64().unwrap() > 0, "{throttle:#}");
    let direct = target(&s, "direct");
    assert!(
        direct.get("throttle").is_none_or(|t| t.is_null()),
        "{direct:#}"
    );
    let svg = std::fs::read_to_string(dir.join("charts/outcomes.svg")).unwrap();
    assert!(
        svg.contains("configured rate limit") && svg.contains("limit 100/s"),
        "the limit is drawn"
    );
}
