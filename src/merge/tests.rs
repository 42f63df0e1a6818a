//! Merging synthetic shard folders written with the real writers.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use super::*;
use crate::plan::OpKind;
use crate::record::{CacheClass, OutcomeClass, SeriesData, SeriesKey, new_histogram};
use crate::results::shards::ShardRecord;
use crate::results::summary::{self, RunStatus};

const SCENARIO_TEXT: &str = r#"
name = "merge-test"
thresholds = ["direct.get.p99 < 1s"]
[run]
duration = "3s"
warmup = "1s"
[load]
executor = "constant-arrival-rate"
rate = 100
[data]
buckets = ["merge-test"]
objects = 10
size = "1KiB"
[mix]
get = 1
[targets.direct]
kind = "embedded"
"#;

fn plan() -> Plan {
    crate::scenario::parse(Path::new("merge-test.toml"), SCENARIO_TEXT, &|_| None).unwrap()
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// A shard's steady GET latencies (µs) per second since its own start.
type Seconds = Vec<(u64, Vec<u64>)>;

struct ShardSpec {
    index: u32,
    count: u32,
    start: SystemTime,
    seconds: Seconds,
    sha: &'static str,
    clock_offset_ms: Option<f64>,
}

impl ShardSpec {
    fn new(index: u32, count: u32, seconds: Seconds) -> Self {
        ShardSpec {
            index,
            count,
            start: t0(),
            seconds,
            sha: "same",
            clock_offset_ms: Some(3.0),
        }
    }
}

fn key(phase: Phase) -> SeriesKey {
    SeriesKey {
        target: 0,
        op: OpKind::Get,
        class: OutcomeClass::Ok,
        cache: CacheClass::None,
        phase,
    }
}

fn data(values: &[u64]) -> SeriesData {
    let mut d = SeriesData::new();
    for v in values {
        d.latency.record(*v).unwrap();
        d.service.record(*v / 2 + 1).unwrap();
        d.ttfb.record(*v / 3 + 1).unwrap();
    }
    d.bytes_down = 1024 * values.len() as u64;
    d.statuses.insert(200, values.len() as u64);
    d
}

/// Writes a shard folder the way a run does: interval logs, summary, provenance.
fn shard_folder(root: &Path, spec: &ShardSpec) -> PathBuf {
    let plan = plan();
    let dir = root.join(format!("shard-{}", spec.index));
    let folder = RunFolder::create(root, "unused", Some(&dir)).unwrap();
    let mut writer = HlogWriter::create(&dir, vec!["direct".into()], spec.start).unwrap();
    let mut totals = Totals::default();
    let mut warmup = Interval::default();
    warmup.series.insert(key(Phase::Warmup), data(&[50]));
    let mut all = vec![warmup];
    for (second, values) in &spec.seconds {
        let mut iv = Interval {
            second: *second,
            ..Interval::default()
        };
        iv.series.insert(key(Phase::Steady), data(values));
        all.push(iv);
    }
    for iv in all {
        writer.write_interval(&iv).unwrap();
        totals.add(iv);
    }
    drop(writer);
    let run_id = "merge-test-run";
    let mut s = summary::planned(&plan, run_id, spec.start, |i| i);
    s.status = RunStatus::Complete;
    summary::add_totals(
        &mut s.targets[0],
        0,
        &totals,
        Duration::from_secs(spec.seconds.len() as u64),
        None,
    );
    s.shard = Some(ShardRecord {
        index: spec.index,
        count: spec.count,
        run_id: run_id.into(),
        host: format!("host-{}", spec.index),
        start_at: None,
        began_at: crate::results::timestamp(spec.start),
        clock_offset_ms: spec.clock_offset_ms,
        clock_reference: Some("Date header".into()),
        max_clock_offset_ms: 100.0,
        cpu_seconds: Some(1.5),
        peak_rss_bytes: Some(64 << 20),
    });
    folder.write_json(SUMMARY, &s).unwrap();
    folder
        .write_json(
            PROVENANCE,
            &Provenance::of_process(spec.start, spec.start, spec.sha.into()),
        )
        .unwrap();
    dir
}

fn steady_counts(dir: &Path) -> Vec<(u64, u64)> {
    let intervals = RunFolder::open(dir)
        .unwrap()
        .intervals(&["direct".to_string()])
        .unwrap();
    intervals
        .values()
        .filter_map(|iv| Some((iv.second, iv.series.get(&key(Phase::Steady))?.count())))
        .collect()
}

#[test]
fn counts_add_up_and_percentiles_are_those_of_all_samples() {
    let tmp = tempfile::tempdir().unwrap();
    // Three shards with different latency ranges, so no shard's p99 is the merged one.
    let values = |base: u64, n: u64| (0..n).map(|i| base + i * 37 % 5000).collect::<Vec<_>>();
    let specs = [
        ShardSpec::new(0, 3, vec![(1, values(100, 300)), (2, values(120, 280))]),
        ShardSpec::new(1, 3, vec![(1, values(2000, 50)), (2, values(2500, 40))]),
        ShardSpec::new(2, 3, vec![(1, values(900, 500)), (2, values(40_000, 7))]),
    ];
    let dirs: Vec<PathBuf> = specs.iter().map(|s| shard_folder(tmp.path(), s)).collect();
    let out = tmp.path().join("merged");
    let merged = merge(&dirs, &out, Some(&plan())).unwrap();

    let mut all: Histogram<u64> = new_histogram();
    for spec in &specs {
        for (_, v) in &spec.seconds {
            for x in v {
                all.record(*x).unwrap();
            }
        }
    }
    let get = &merged.targets[0].ops[0];
    assert_eq!(get.requests, all.len());
    assert_eq!(get.outcomes[&OutcomeClass::Ok], all.len());
    assert_eq!(get.status_codes[&200], all.len());
    assert_eq!(get.bytes_down, 1024 * all.len());
    let lat = get.latency_us.as_ref().unwrap();
    assert_eq!(lat.p50, all.value_at_quantile(0.5));
    assert_eq!(lat.p99, all.value_at_quantile(0.99));
    assert_eq!(lat.max, all.max());

    // Throughput over the common window is the sum of the shards'.
    let shard_rates: f64 = dirs
        .iter()
        .map(|d| RunFolder::open(d).unwrap().summary().unwrap().targets[0].ops[0].ops_per_sec)
        .sum();
    assert!((get.ops_per_sec - shard_rates).abs() < 0.05, "{get:?}");

    // The merged folder reads back like a run's: the summary, the logs, the report.
    let folder = RunFolder::open(&out).unwrap();
    let read = folder.summary().unwrap();
    assert_eq!(read.shards.len(), 3);
    assert_eq!(read.run_id, "merge-test-run");
    assert_eq!(read.shards[1].requests, 90);
    assert!(read.shard.is_none());
    assert_eq!(read.thresholds.len(), 1);
    assert!(read.thresholds[0].passed);
    assert_eq!(
        steady_counts(&out),
        vec![(1, 300 + 50 + 500), (2, 280 + 40 + 7)]
    );
    let provenance = folder.provenance().unwrap().unwrap();
    assert_eq!(provenance.scenario_sha256.as_deref(), Some("same"));
    assert!(
        provenance
            .merged_from
            .unwrap()
            .starts_with("3 shards of run merge-test-run")
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("<h2>Shards</h2>") && html.contains("host-2"),
        "{html}"
    );
    assert!(
        !html.contains("ms FLAG") && !html.contains("Warning:"),
        "{html}"
    );
}

#[test]
fn shards_started_at_different_seconds_are_aligned_on_the_wall_clock() {
    let tmp = tempfile::tempdir().unwrap();
    let mut late = ShardSpec::new(1, 2, vec![(0, vec![10, 20]), (1, vec![30])]);
    // 2.4 s after shard 0: its second 0 is shard 0's second 2.
    late.start = t0() + Duration::from_millis(2400);
    late.clock_offset_ms = Some(250.0);
    let specs = [
        ShardSpec::new(0, 2, vec![(1, vec![100]), (2, vec![200, 300])]),
        late,
    ];
    let dirs: Vec<PathBuf> = specs.iter().map(|s| shard_folder(tmp.path(), s)).collect();
    let out = tmp.path().join("merged");
    let merged = merge(&dirs, &out, None).unwrap();
    assert_eq!(steady_counts(&out), vec![(1, 1), (2, 4), (3, 1)]);
    assert!(merged.thresholds.is_empty(), "no scenario, no thresholds");
    assert!(merged.shards[1].clock_flagged);
    assert!(!merged.shards[0].clock_flagged);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("### Shards"), "{md}");
    assert!(
        md.contains("> **Warning:** shard 1/2 on host-1: its clock was off by +250.0 ms"),
        "{md}"
    );
    assert!(md.contains("+250.0 ms FLAG"), "{md}");
}

#[test]
fn missing_shards_are_named_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = [0, 2]
        .map(|i| shard_folder(tmp.path(), &ShardSpec::new(i, 4, vec![(1, vec![5])])))
        .to_vec();
    let out = tmp.path().join("merged");
    let e = merge(&dirs, &out, None).unwrap_err();
    assert!(
        format!("{e:#}").contains("missing shards 1, 3 of 4 of run merge-test-run"),
        "{e:#}"
    );
    assert!(e.downcast_ref::<Mismatch>().is_none());
    assert!(!out.exists());
}

#[test]
fn shards_of_different_scenarios_or_twice_the_same_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let first = shard_folder(tmp.path(), &ShardSpec::new(0, 2, vec![(1, vec![5])]));
    let mut other = ShardSpec::new(1, 2, vec![(1, vec![5])]);
    other.sha = "different";
    let second = shard_folder(tmp.path(), &other);
    let out = tmp.path().join("merged");
    let e = merge(&[first.clone(), second.clone()], &out, None).unwrap_err();
    let text = format!("{e:#}");
    assert!(e.downcast_ref::<Mismatch>().is_some(), "{text}");
    assert!(
        text.contains(&format!("{} ran a different scenario", second.display())),
        "{text}"
    );
    let e = merge(&[first.clone(), first.clone()], &out, None).unwrap_err();
    assert!(format!("{e:#}").contains("shard 0 twice"), "{e:#}");
    assert!(!out.exists());
}
