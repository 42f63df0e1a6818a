//! The interval logs of a run: writes finished seconds as standard HdrHistogram
//! interval logs (V2 + DEFLATE), and reads them back for everything after the run.
//!
//! `histograms.hlog` holds the steady phase and `warmup.hlog` the warm-up. Each line is
//! one series for one second, tagged `<target>/<op>/<class>/<cache>/<metric>`, where
//! cache is `hit`, `miss`, `uncacheable` or `none` (no cache rule) and metric is
//! `latency` (response time from the due time), `service` (from the actual send),
//! `ttfb` (due time to response headers), `corrected` (closed loop with
//! expected-interval correction only), `connect` (TCP connect) or `tls` (TLS
//! handshake), the last two only for requests that opened a connection, in seconds
//! that had any, or `server_gateway`, `server_backend`, `server_cache` and
//! `server_unattributed` (the components of `Server-Timing` headers, and service time
//! minus them), only in seconds where some response carried them; values are
//! microseconds. Any HdrHistogram interval-log reader can read them.
//!
//! `counters.jsonl` holds what histograms cannot: one JSON line per series and second
//! (both phases) with bytes, status codes, transport errors and `Retry-After` values.
//! Every file is flushed to the OS after each second, so a killed run keeps every
//! second written before the kill (`gatebench report` rebuilds its summary from them).
//!
//! Owns the tag format ([`Tag`]): the writer and every reader go through it.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, LogIteratorError,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use serde::de::IntoDeserializer;
use serde::de::value::{Error as ValueError, StrDeserializer};
use serde::{Deserialize, Serialize};

use crate::plan::OpKind;
use crate::record::{
    CacheClass, Interval, IntervalSink, OutcomeClass, Phase, SeriesData, SeriesKey, TransportError,
    new_histogram,
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

/// What one series is about, by target name: a tag without its metric.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesId {
    pub target: String,
    pub op: OpKind,
    pub class: OutcomeClass,
    pub cache: CacheClass,
}

impl SeriesId {
    /// The id of `key`, whose target is named `target`.
    pub fn of(target: &str, key: &SeriesKey) -> Self {
        SeriesId {
            target: target.to_string(),
            op: key.op,
            class: key.class,
            cache: key.cache,
        }
    }
}

/// Which histogram of a series an interval-log line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Response time from the due time.
    Latency,
    /// Response time from the actual send.
    Service,
    /// Due time to response headers.
    Ttfb,
    /// Closed loop with expected-interval correction only.
    Corrected,
    /// TCP connect, for requests that opened a connection.
    Connect,
    /// TLS handshake, for requests that opened a connection.
    Tls,
    /// `Server-Timing: gateway`.
    #[serde(rename = "server_gateway")]
    ServerGateway,
    /// `Server-Timing: backend`.
    #[serde(rename = "server_backend")]
    ServerBackend,
    /// `Server-Timing: cache`.
    #[serde(rename = "server_cache")]
    ServerCache,
    /// Service time minus the `Server-Timing` components: network and client.
    #[serde(rename = "server_unattributed")]
    ServerUnattributed,
}

impl Metric {
    /// The lowercase name used in tags.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Latency => "latency",
            Metric::Service => "service",
            Metric::Ttfb => "ttfb",
            Metric::Corrected => "corrected",
            Metric::Connect => "connect",
            Metric::Tls => "tls",
            Metric::ServerGateway => "server_gateway",
            Metric::ServerBackend => "server_backend",
            Metric::ServerCache => "server_cache",
            Metric::ServerUnattributed => "server_unattributed",
        }
    }
}

impl Metric {
    /// The histogram of `data` this metric's lines hold.
    pub fn histogram_in(self, data: &mut SeriesData) -> &mut Histogram<u64> {
        match self {
            Metric::Latency => &mut data.latency,
            Metric::Service => &mut data.service,
            Metric::Ttfb => &mut data.ttfb,
            Metric::Connect => &mut data.connect,
            Metric::Tls => &mut data.tls,
            Metric::Corrected => data.corrected.get_or_insert_with(new_histogram),
            Metric::ServerGateway => data.server_timing.gateway.get_or_insert_with(new_histogram),
            Metric::ServerBackend => data.server_timing.backend.get_or_insert_with(new_histogram),
            Metric::ServerCache => data.server_timing.cache.get_or_insert_with(new_histogram),
            Metric::ServerUnattributed => data
                .server_timing
                .unattributed
                .get_or_insert_with(new_histogram),
        }
    }
}

/// The tag of one interval-log line: `<target>/<op>/<outcome class>/<cache>/<metric>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub series: SeriesId,
    pub metric: Metric,
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SeriesId {
            target,
            op,
            class,
            cache,
        } = &self.series;
        write!(
            f,
            "{target}/{}/{}/{}/{}",
            op.name(),
            class.name(),
            cache.name(),
            self.metric.name()
        )
    }
}

impl FromStr for Tag {
    type Err = anyhow::Error;

    /// Parses from the right, so the target name is whatever precedes the last four parts.
    fn from_str(tag: &str) -> anyhow::Result<Tag> {
        let mut parts = tag.rsplitn(5, '/');
        let (Some(metric), Some(cache), Some(class), Some(op), Some(target)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            bail!("tag {tag:?} is not <target>/<op>/<outcome class>/<cache class>/<metric>");
        };
        let series = SeriesId {
            target: target.to_string(),
            op: by_name(op).with_context(|| format!("tag {tag:?}: unknown operation {op:?}"))?,
            class: by_name(class)
                .with_context(|| format!("tag {tag:?}: unknown outcome class {class:?}"))?,
            cache: by_name(cache)
                .with_context(|| format!("tag {tag:?}: unknown cache class {cache:?}"))?,
        };
        let metric =
            by_name(metric).with_context(|| format!("tag {tag:?}: unknown metric {metric:?}"))?;
        Ok(Tag { series, metric })
    }
}

/// An enum from its name in files (`get`, `client_error`, `hit`, `ttfb`…).
fn by_name<'de, T: Deserialize<'de>>(name: &'de str) -> Result<T, ValueError> {
    let de: StrDeserializer<'de, ValueError> = name.into_deserializer();
    T::deserialize(de)
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
                .add_comment("tags: <target>/<op>/<outcome class>/<cache: hit|miss|uncacheable|none>/<latency|service|ttfb|corrected|connect|tls|server_gateway|server_backend|server_cache|server_unattributed>")
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
                (Metric::Latency, Some(&data.latency)),
                (Metric::Service, Some(&data.service)),
                (Metric::Ttfb, Some(&data.ttfb)),
                (Metric::Corrected, data.corrected.as_ref()),
                (
                    Metric::Connect,
                    (!data.connect.is_empty()).then_some(&data.connect),
                ),
                (Metric::Tls, (!data.tls.is_empty()).then_some(&data.tls)),
                (Metric::ServerGateway, data.server_timing.gateway.as_ref()),
                (Metric::ServerBackend, data.server_timing.backend.as_ref()),
                (Metric::ServerCache, data.server_timing.cache.as_ref()),
                (
                    Metric::ServerUnattributed,
                    data.server_timing.unattributed.as_ref(),
                ),
            ];
            let series = SeriesId::of(target, key);
            for (metric, h) in metrics {
                if let Some(h) = h {
                    let tag = Tag {
                        series: series.clone(),
                        metric,
                    };
                    write_one(&mut log, h, start, &tag)?;
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
    tag: &Tag,
) -> std::io::Result<()> {
    let text = tag.to_string();
    let tag = hdrhistogram::serialization::interval_log::Tag::new(&text)
        .ok_or_else(|| std::io::Error::other(format!("bad tag {text}")))?;
    log.write_histogram(h, start, Duration::from_secs(1), Some(tag))
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// One decoded line of an interval log.
pub struct LogLine {
    pub tag: Tag,
    /// Whole seconds since the run started.
    pub second: u64,
    pub histogram: Histogram<u64>,
}

/// One interval log of a run folder, as read.
pub struct IntervalLog {
    /// Where it was read from (named in errors).
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

impl IntervalLog {
    /// The log up to its last complete line: a killed run's log may end in part of a line.
    pub fn without_partial_last_line(mut self) -> Self {
        self.bytes.truncate(complete_lines(&self.bytes).len());
        self
    }

    /// The wall-clock time the log's seconds count from (its `BaseTime` header, else
    /// its `StartTime`); an error naming the file if it has neither.
    pub fn start(&self) -> anyhow::Result<SystemTime> {
        let mut start = None;
        for entry in IntervalLogIterator::new(&self.bytes) {
            match entry {
                Ok(LogEntry::BaseTime(t)) => return Ok(SystemTime::UNIX_EPOCH + t),
                Ok(LogEntry::StartTime(t)) => start = Some(SystemTime::UNIX_EPOCH + t),
                Ok(LogEntry::Interval(_)) | Err(_) => break,
            }
        }
        start.with_context(|| {
            format!(
                "{}: no BaseTime or StartTime header: the log's seconds cannot be placed in time",
                self.path.display()
            )
        })
    }

    /// [`decode_lines`] of this log; errors name the file.
    pub fn decode(
        &self,
        wanted: impl Fn(&Tag) -> bool,
        each: impl FnMut(LogLine),
    ) -> anyhow::Result<()> {
        decode_lines(&self.bytes, wanted, each).with_context(|| format!("{}", self.path.display()))
    }
}

/// Decodes every interval line of `log` whose tag passes `wanted`, in order, into
/// `each`. A line that does not parse or decode is an error naming its line; every tag
/// is parsed, wanted or not.
pub fn decode_lines(
    log: &[u8],
    wanted: impl Fn(&Tag) -> bool,
    mut each: impl FnMut(LogLine),
) -> anyhow::Result<()> {
    let mut deserializer = Deserializer::new();
    let line_at = |offset: usize| log[..offset.min(log.len())].split(|b| *b == b'\n').count();
    for entry in IntervalLogIterator::new(log) {
        let interval = match entry {
            Ok(LogEntry::Interval(i)) => i,
            Ok(_) => continue,
            Err(LogIteratorError::ParseError { offset }) => {
                bail!("line {}: not an interval-log line", line_at(offset))
            }
        };
        let encoded = interval.encoded_histogram();
        // The encoded histogram borrows from `log`: its address gives its line.
        let offset = (encoded.as_ptr() as usize).saturating_sub(log.as_ptr() as usize);
        // Line numbers are counted only for an error message.
        let line = || line_at(offset);
        let Some(tag) = interval.tag() else {
            bail!("line {}: interval without a tag", line());
        };
        let tag: Tag = tag
            .as_str()
            .parse()
            .with_context(|| format!("line {}", line()))?;
        if !wanted(&tag) {
            continue;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .with_context(|| format!("line {}: the histogram of {tag} is not base64", line()))?;
        let histogram: Histogram<u64> =
            deserializer
                .deserialize(&mut bytes.as_slice())
                .map_err(|e| {
                    anyhow::anyhow!("line {}: cannot decode a histogram of {tag}: {e:?}", line())
                })?;
        each(LogLine {
            tag,
            // Intervals start on whole seconds.
            second: interval.start_timestamp().as_secs_f64().round() as u64,
            histogram,
        });
    }
    Ok(())
}

/// `log` up to its last complete line.
pub fn complete_lines(log: &[u8]) -> &[u8] {
    log.iter()
        .rposition(|b| *b == b'\n')
        .map_or(&[], |end| &log[..=end])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = new_histogram();
        for v in values {
            h.record(*v).unwrap();
        }
        h
    }

    #[test]
    fn every_tag_round_trips_through_its_text() {
        let metrics = [
            Metric::Latency,
            Metric::Service,
            Metric::Ttfb,
            Metric::Corrected,
            Metric::Connect,
            Metric::Tls,
            Metric::ServerGateway,
            Metric::ServerBackend,
            Metric::ServerCache,
            Metric::ServerUnattributed,
        ];
        let caches = [
            CacheClass::Hit,
            CacheClass::Miss,
            CacheClass::Uncacheable,
            CacheClass::None,
        ];
        for metric in metrics {
            for cache in caches {
                for (op, class) in [
                    (OpKind::Get, OutcomeClass::Ok),
                    (OpKind::Head, OutcomeClass::ClientError),
                    (OpKind::Delete, OutcomeClass::AuthFailure),
                ] {
                    let tag = Tag {
                        series: SeriesId {
                            target: "apim-eu_2".into(),
                            op,
                            class,
                            cache,
                        },
                        metric,
                    };
                    let text = tag.to_string();
                    assert_eq!(text.parse::<Tag>().unwrap(), tag, "{text}");
                }
            }
        }
        let tag = Tag {
            series: SeriesId {
                target: "apim".into(),
                op: OpKind::List,
                class: OutcomeClass::ServerError,
                cache: CacheClass::Uncacheable,
            },
            metric: Metric::Tls,
        };
        assert_eq!(tag.to_string(), "apim/list/server_error/uncacheable/tls");
    }

    #[test]
    fn tags_parse_from_the_right_and_refuse_unknown_parts() {
        let tag: Tag = "eu/apim/get/throttled/hit/ttfb".parse().unwrap();
        assert_eq!(tag.series.target, "eu/apim");
        assert_eq!(tag.series.op, OpKind::Get);
        assert_eq!(tag.series.class, OutcomeClass::Throttled);
        assert_eq!(tag.series.cache, CacheClass::Hit);
        assert_eq!(tag.metric, Metric::Ttfb);
        for (bad, says) in [
            ("apim/get/ok/latency", "is not <target>"),
            ("apim/fetch/ok/none/latency", "unknown operation"),
            ("apim/get/fine/none/latency", "unknown outcome class"),
            ("apim/get/ok/warm/latency", "unknown cache class"),
            ("apim/get/ok/none/p99", "unknown metric"),
        ] {
            let e = format!("{:#}", bad.parse::<Tag>().unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_reader_parses_every_tag_the_writer_writes() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["direct".to_string(), "apim".to_string()];
        let mut w = HlogWriter::create(dir.path(), names, SystemTime::now()).unwrap();
        let key = |target, class, cache, phase| SeriesKey {
            target,
            op: OpKind::Get,
            class,
            cache,
            phase,
        };
        // Every metric, with a connection opened (connect and TLS) and the cache part.
        let full = SeriesData {
            latency: histogram(&[100, 200, 300]),
            service: histogram(&[90, 190]),
            ttfb: histogram(&[50]),
            corrected: Some(histogram(&[110, 210, 310, 410])),
            connect: histogram(&[40, 41]),
            tls: histogram(&[700]),
            ..SeriesData::new()
        };
        // No connection opened, no correction: those metrics are not written.
        let reused = SeriesData {
            latency: histogram(&[10]),
            service: histogram(&[9]),
            ttfb: histogram(&[5]),
            ..SeriesData::new()
        };
        let steady_hit = key(1, OutcomeClass::Ok, CacheClass::Hit, Phase::Steady);
        let warm_miss = key(0, OutcomeClass::Throttled, CacheClass::Miss, Phase::Warmup);
        let mut iv = Interval {
            second: 7,
            ..Default::default()
        };
        iv.series.insert(steady_hit, full.clone());
        iv.series.insert(warm_miss, reused.clone());
        w.write_interval(&iv).unwrap();
        drop(w);

        let read = |name: &str| {
            let log = IntervalLog {
                path: dir.path().join(name),
                bytes: std::fs::read(dir.path().join(name)).unwrap(),
            };
            let mut lines = Vec::new();
            log.decode(|_| true, |line| lines.push(line)).unwrap();
            lines
        };
        let expect = |target: &str, key: &SeriesKey, data: &SeriesData| {
            let mut m = vec![
                (Metric::Latency, data.latency.len()),
                (Metric::Service, data.service.len()),
                (Metric::Ttfb, data.ttfb.len()),
            ];
            m.extend(
                data.corrected
                    .as_ref()
                    .map(|h| (Metric::Corrected, h.len())),
            );
            m.extend((!data.connect.is_empty()).then(|| (Metric::Connect, data.connect.len())));
            m.extend((!data.tls.is_empty()).then(|| (Metric::Tls, data.tls.len())));
            m.into_iter()
                .map(|(metric, n)| {
                    let tag = Tag {
                        series: SeriesId::of(target, key),
                        metric,
                    };
                    (tag.to_string(), 7, n)
                })
                .collect::<BTreeSet<_>>()
        };
        let got = |lines: Vec<LogLine>| {
            lines
                .into_iter()
                .map(|l| (l.tag.to_string(), l.second, l.histogram.len()))
                .collect::<BTreeSet<_>>()
        };
        let steady = read(STEADY_LOG);
        assert_eq!(steady.len(), 6, "every metric of the full series");
        assert!(
            steady
                .iter()
                .all(|l| l.tag.series == SeriesId::of("apim", &steady_hit))
        );
        assert_eq!(got(steady), expect("apim", &steady_hit, &full));
        let warmup = read(WARMUP_LOG);
        assert_eq!(warmup.len(), 3, "no corrected, connect or tls lines");
        assert_eq!(got(warmup), expect("direct", &warm_miss, &reused));
        let text = String::from_utf8(std::fs::read(dir.path().join(STEADY_LOG)).unwrap()).unwrap();
        assert!(text.contains("Tag=apim/get/ok/hit/connect,"), "{text}");
        assert!(text.contains("Tag=apim/get/ok/hit/tls,"), "{text}");
    }

    #[test]
    fn a_bad_line_is_an_error_naming_file_line_and_tag() {
        let log = IntervalLog {
            path: PathBuf::from("run/histograms.hlog"),
            bytes: b"#[comment]\nTag=t/get/ok/none/latency,0.000,1.000,1.0,bm90IGEgaGlzdG9ncmFt\n"
                .to_vec(),
        };
        let e = format!("{:#}", log.decode(|_| true, |_| {}).unwrap_err());
        assert!(
            e.contains(
                "run/histograms.hlog: line 2: cannot decode a histogram of t/get/ok/none/latency"
            ),
            "{e}"
        );
        // Lines not wanted are not decoded, but their tags must still parse.
        log.decode(|tag| tag.metric == Metric::Ttfb, |_| panic!("not wanted"))
            .unwrap();
        let log = IntervalLog {
            path: PathBuf::from("h.hlog"),
            bytes: b"Tag=t/get/ok/none/p42,0.000,1.000,1.0,AAAA\n".to_vec(),
        };
        let e = format!("{:#}", log.decode(|_| false, |_| {}).unwrap_err());
        assert!(
            e.contains("h.hlog: line 1: tag") && e.contains("unknown metric"),
            "{e}"
        );
        let complete = log.bytes.len();
        let mut cut = log;
        cut.bytes.extend_from_slice(b"Tag=t/get/ok/no");
        assert_eq!(cut.without_partial_last_line().bytes.len(), complete);
    }
}
