//! Writes finished seconds as standard HdrHistogram interval logs (V2 + DEFLATE).
//!
//! `histograms.hlog` holds the steady phase and `warmup.hlog` the warm-up. Each line is
//! one series for one second, tagged `<target>/<op>/<class>/<cache>/<metric>`, where
//! cache is `hit`, `miss`, `uncacheable` or `none` (no cache rule) and metric is
//! `latency` (response time from the due time), `service` (from the actual send),
//! `ttfb` (due time to response headers), `corrected` (closed loop with
//! expected-interval correction only), `connect` (TCP connect) or `tls` (TLS
//! handshake), the last two only for requests that opened a connection, in seconds
//! that had any; values are microseconds. Any HdrHistogram
//! interval-log reader can read them.
//!
//! `counters.jsonl` holds what histograms cannot: one JSON line per series and second
//! (both phases) with bytes, status codes, transport errors and `Retry-After` values.
//! Every file is flushed to the OS after each second, so a killed run keeps every
//! second written before the kill (`gatebench report` rebuilds its summary from them).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use serde::{Deserialize, Serialize};

use crate::plan::OpKind;
use crate::record::{
    CacheClass, Interval, IntervalSink, OutcomeClass, Phase, SeriesData, SeriesKey, TransportError,
};

/// File name of the steady-phase interval log.
pub const STEADY_LOG: &str = "histograms.hlog";
/// File name of the warm-up interval log.
pub const WARMUP_LOG: &str = "warmup.hlog";
/// File name of the per-second counters (JSON Lines).
pub const COUNTERS: &str = "counters.jsonl";

/// One line of `counters.jsonl`: the counters of one series in one second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterLine {
    /// Whole seconds since the run started.
    pub second: u64,
    pub phase: Phase,
    pub target: String,
    pub op: OpKind,
    pub class: OutcomeClass,
    pub cache: CacheClass,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub transport: BTreeMap<TransportError, u64>,
    pub retry_after: BTreeMap<u32, u64>,
}

impl CounterLine {
    fn of(second: u64, target: &str, key: &SeriesKey, data: &SeriesData) -> Self {
        CounterLine {
            second,
            phase: key.phase,
            target: target.to_string(),
            op: key.op,
            class: key.class,
            cache: key.cache,
            bytes_up: data.bytes_up,
            bytes_down: data.bytes_down,
            statuses: data.statuses.clone(),
            transport: data.transport.clone(),
            retry_after: data.retry_after.clone(),
        }
    }

    /// The counters as series data (histograms empty).
    pub fn data(&self) -> SeriesData {
        SeriesData {
            bytes_up: self.bytes_up,
            bytes_down: self.bytes_down,
            statuses: self.statuses.clone(),
            transport: self.transport.clone(),
            retry_after: self.retry_after.clone(),
            ..SeriesData::new()
        }
    }
}

/// The tag of one series' metric in the interval log.
pub fn tag(target: &str, key: &SeriesKey, metric: &str) -> String {
    format!(
        "{target}/{}/{}/{}/{metric}",
        key.op.name(),
        key.class.name(),
        key.cache.name()
    )
}

/// An [`IntervalSink`] writing the two interval logs of a run.
pub struct HlogWriter {
    steady: BufWriter<File>,
    warmup: BufWriter<File>,
    counters: BufWriter<File>,
    serializer: V2DeflateSerializer,
    targets: Vec<String>,
}

impl HlogWriter {
    /// Creates both logs (with their headers) and the counters file in `dir`; seconds
    /// count from `start`.
    pub fn create(dir: &Path, targets: Vec<String>, start: SystemTime) -> std::io::Result<Self> {
        let mut serializer = V2DeflateSerializer::new();
        let mut open = |name: &str, what: &str| -> std::io::Result<BufWriter<File>> {
            let mut w = BufWriter::new(File::create(dir.join(name))?);
            IntervalLogWriterBuilder::new()
                .add_comment(&format!(
                    "gatebench {} interval log ({what}); values in microseconds",
                    env!("CARGO_PKG_VERSION")
                ))
                .add_comment("tags: <target>/<op>/<outcome class>/<cache: hit|miss|uncacheable|none>/<latency|service|ttfb|corrected|connect|tls>")
                .with_start_time(start)
                .with_base_time(start)
                .begin_log_with(&mut w, &mut serializer)?;
            writeln!(
                w,
                "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
            )?;
            Ok(w)
        };
        let steady = open(STEADY_LOG, "steady phase")?;
        let warmup = open(WARMUP_LOG, "warm-up")?;
        let counters = BufWriter::new(File::create(dir.join(COUNTERS))?);
        Ok(HlogWriter {
            steady,
            warmup,
            counters,
            serializer,
            targets,
        })
    }
}

impl IntervalSink for HlogWriter {
    fn write_interval(&mut self, iv: &Interval) -> std::io::Result<()> {
        let mut keys: Vec<&SeriesKey> = iv.series.keys().collect();
        keys.sort();
        let start = Duration::from_secs(iv.second);
        for key in keys {
            let data = &iv.series[key];
            let target = self.targets.get(key.target).map_or("?", String::as_str);
            let out = match key.phase {
                Phase::Steady => &mut self.steady,
                Phase::Warmup => &mut self.warmup,
            };
            let mut log =
                IntervalLogWriterBuilder::new().begin_log_with(out, &mut self.serializer)?;
            let metrics = [
                ("latency", Some(&data.latency)),
                ("service", Some(&data.service)),
                ("ttfb", Some(&data.ttfb)),
                ("corrected", data.corrected.as_ref()),
                (
                    "connect",
                    (!data.connect.is_empty()).then_some(&data.connect),
                ),
                ("tls", (!data.tls.is_empty()).then_some(&data.tls)),
            ];
            for (metric, h) in metrics {
                if let Some(h) = h {
                    write_one(&mut log, h, start, &tag(target, key, metric))?;
                }
            }
            serde_json::to_writer(
                &mut self.counters,
                &CounterLine::of(iv.second, target, key, data),
            )?;
            self.counters.write_all(b"\n")?;
        }
        self.steady.flush()?;
        self.warmup.flush()?;
        self.counters.flush()
    }
}

fn write_one<W: Write>(
    log: &mut hdrhistogram::serialization::interval_log::IntervalLogWriter<W, V2DeflateSerializer>,
    h: &Histogram<u64>,
    start: Duration,
    tag: &str,
) -> std::io::Result<()> {
    let tag = Tag::new(tag).ok_or_else(|| std::io::Error::other(format!("bad tag {tag}")))?;
    log.write_histogram(h, start, Duration::from_secs(1), Some(tag))
        .map_err(|e| std::io::Error::other(e.to_string()))
}
