//! Writes finished seconds as standard HdrHistogram interval logs (V2 + DEFLATE).
//!
//! `histograms.hlog` holds the steady phase and `warmup.hlog` the warm-up. Each line is
//! one series for one second, tagged `<target>/<op>/<class>/<cache>/<metric>`, where
//! cache is `hit`, `miss`, `uncacheable` or `none` (no cache rule) and metric is
//! `latency` (response time from the due time), `service` (from the actual send),
//! `ttfb` (due time to response headers) or `corrected` (closed loop with
//! expected-interval correction only); values are microseconds. Any HdrHistogram
//! interval-log reader can read them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::record::{Interval, IntervalSink, Phase, SeriesKey};

/// File name of the steady-phase interval log.
pub const STEADY_LOG: &str = "histograms.hlog";
/// File name of the warm-up interval log.
pub const WARMUP_LOG: &str = "warmup.hlog";

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
    serializer: V2DeflateSerializer,
    targets: Vec<String>,
}

impl HlogWriter {
    /// Creates both logs in `dir` with their headers; seconds count from `start`.
    pub fn create(dir: &Path, targets: Vec<String>, start: SystemTime) -> std::io::Result<Self> {
        let mut serializer = V2DeflateSerializer::new();
        let mut open = |name: &str, what: &str| -> std::io::Result<BufWriter<File>> {
            let mut w = BufWriter::new(File::create(dir.join(name))?);
            IntervalLogWriterBuilder::new()
                .add_comment(&format!(
                    "gatebench {} interval log ({what}); values in microseconds",
                    env!("CARGO_PKG_VERSION")
                ))
                .add_comment("tags: <target>/<op>/<outcome class>/<cache: hit|miss|uncacheable|none>/<latency|service|ttfb|corrected>")
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
        Ok(HlogWriter {
            steady,
            warmup,
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
            ];
            for (metric, h) in metrics {
                if let Some(h) = h {
                    write_one(&mut log, h, start, &tag(target, key, metric))?;
                }
            }
        }
        self.steady.flush()?;
        self.warmup.flush()
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
