//! Per-second series and merged latency histograms, made from a run's steady-phase
//! interval log (`histograms.hlog`, decoded by `results::hlog`).
//!
//! Only the `latency` metric is kept (response time of each request, from its due
//! time); histograms are merged, never percentiles averaged. Times are
//! whole seconds from each target's first recorded steady second, so targets that ran
//! one after another share one time axis.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::plan::OpKind;
use crate::record::{CacheClass, OutcomeClass, new_histogram};
use crate::results::hlog::{LogLine, Metric, SeriesId, Tag, decode_lines};

/// One second of one target, all operations together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Second {
    /// Requests completed, every outcome.
    pub requests: u64,
    /// Requests per outcome class.
    pub by_class: BTreeMap<OutcomeClass, u64>,
    /// Median and 99th percentile of `ok` latency, µs (`None`: no ok request).
    pub ok_p50_us: Option<u64>,
    pub ok_p99_us: Option<u64>,
    /// `ok` requests served from / missed by the target's cache.
    pub hits: u64,
    pub misses: u64,
}

impl Second {
    /// Requests of `class` this second.
    pub fn count(&self, class: OutcomeClass) -> u64 {
        self.by_class.get(&class).copied().unwrap_or(0)
    }

    /// hits / (hits + misses), if the cache saw any cacheable request.
    pub fn hit_ratio(&self) -> Option<f64> {
        let n = self.hits + self.misses;
        (n > 0).then(|| self.hits as f64 / n as f64)
    }
}

/// The per-second series of one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetSeries {
    /// Seconds since the run start of this target's first recorded steady second.
    pub first_second: u64,
    /// One entry per second from `first_second` on, without gaps (quiet seconds are
    /// zero).
    pub seconds: Vec<Second>,
}

impl TargetSeries {
    /// The first second (from this target's start) with a throttled request, and its
    /// total rate then, requests per second.
    pub fn throttle_onset(&self) -> Option<ThrottleOnset> {
        self.seconds
            .iter()
            .enumerate()
            .find(|(_, s)| s.count(OutcomeClass::Throttled) > 0)
            .map(|(i, s)| ThrottleOnset {
                at_s: i as u64,
                ops_per_sec: s.requests as f64,
            })
    }

    /// The windows in which requests of `class` completed, in time order. A window
    /// spans consecutive seconds with such requests, bridging seconds in which nothing
    /// completed (an outage can stall every request for a while); a second with only
    /// other outcomes ends it.
    pub fn windows(&self, class: OutcomeClass) -> Vec<FailureWindow> {
        let mut out: Vec<FailureWindow> = Vec::new();
        let mut open = false;
        for (i, s) in self.seconds.iter().enumerate() {
            let i = i as u64;
            let n = s.count(class);
            if n > 0 {
                match out.last_mut() {
                    Some(w) if open => {
                        w.to_s = i + 1;
                        w.count += n;
                    }
                    _ => out.push(FailureWindow {
                        from_s: i,
                        to_s: i + 1,
                        count: n,
                        ok_again_s: None,
                    }),
                }
                open = true;
            } else if s.requests > 0 {
                open = false;
            }
            if let Some(w) = out.last_mut().filter(|w| w.ok_again_s.is_none())
                && n == 0
                && s.count(OutcomeClass::Ok) > 0
            {
                w.ok_again_s = Some(i);
            }
        }
        out
    }

    /// Whether any second has cache hits or misses.
    pub fn has_cache_data(&self) -> bool {
        self.seconds.iter().any(|s| s.hits + s.misses > 0)
    }
}

/// When throttling began on a target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleOnset {
    /// Seconds from the target's first steady second.
    pub at_s: u64,
    /// Requests completed in that second (every outcome).
    pub ops_per_sec: f64,
}

/// A stretch of seconds in which requests of one failure class completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureWindow {
    /// Start of its first second, seconds from the target's first steady second.
    pub from_s: u64,
    /// End of its last second (exclusive).
    pub to_s: u64,
    /// Requests of the class in the window.
    pub count: u64,
    /// Start of the first later second with ok requests and none of the class (`None`:
    /// no such second before the end of the run).
    pub ok_again_s: Option<u64>,
}

/// Everything the report takes from the interval log.
#[derive(Debug, Default)]
pub struct Series {
    /// Per-second series by target name.
    pub targets: BTreeMap<String, TargetSeries>,
    /// Latency histograms merged over the whole steady phase, µs.
    pub latency: BTreeMap<SeriesId, Histogram<u64>>,
}

/// Per-second accumulation before percentiles are taken.
#[derive(Default)]
struct SecondAcc {
    by_class: BTreeMap<OutcomeClass, u64>,
    ok_latency: Option<Histogram<u64>>,
    hits: u64,
    misses: u64,
}

impl Series {
    /// Decodes an interval log. An empty log gives empty series; a line that does not
    /// parse or decode is an error naming its line.
    pub fn read(log: &[u8]) -> anyhow::Result<Series> {
        let mut latency: BTreeMap<SeriesId, Histogram<u64>> = BTreeMap::new();
        let mut acc: BTreeMap<(String, u64), SecondAcc> = BTreeMap::new();
        decode_lines(
            log,
            |tag| tag.metric == Metric::Latency,
            |LogLine {
                 tag: Tag { series: id, .. },
                 second,
                 histogram: h,
             }| {
                let a = acc.entry((id.target.clone(), second)).or_default();
                *a.by_class.entry(id.class).or_default() += h.len();
                if id.class == OutcomeClass::Ok {
                    add(a.ok_latency.get_or_insert_with(new_histogram), &h);
                    match id.cache {
                        CacheClass::Hit => a.hits += h.len(),
                        CacheClass::Miss => a.misses += h.len(),
                        CacheClass::Uncacheable | CacheClass::None => {}
                    }
                }
                match latency.get_mut(&id) {
                    Some(m) => add(m, &h),
                    None => {
                        let mut m = new_histogram();
                        add(&mut m, &h);
                        latency.insert(id, m);
                    }
                }
            },
        )?;
        let mut targets: BTreeMap<String, TargetSeries> = BTreeMap::new();
        for ((target, second), a) in acc {
            let t = targets.entry(target).or_insert_with(|| TargetSeries {
                first_second: second,
                seconds: Vec::new(),
            });
            let index = (second - t.first_second) as usize;
            t.seconds.resize(index + 1, Second::default());
            let q = |p: f64| a.ok_latency.as_ref().map(|h| h.value_at_quantile(p));
            t.seconds[index] = Second {
                requests: a.by_class.values().sum(),
                ok_p50_us: q(0.50),
                ok_p99_us: q(0.99),
                by_class: a.by_class,
                hits: a.hits,
                misses: a.misses,
            };
        }
        Ok(Series { targets, latency })
    }

    /// The merge of every latency histogram whose id passes `keep` (`None`: none did, or
    /// all were empty).
    pub fn merged(&self, keep: impl Fn(&SeriesId) -> bool) -> Option<Histogram<u64>> {
        let mut out = new_histogram();
        for (_, h) in self.latency.iter().filter(|(id, _)| keep(id)) {
            add(&mut out, h);
        }
        (!out.is_empty()).then_some(out)
    }

    /// The operations recorded for any target, in [`OpKind`] order.
    pub fn ops(&self) -> Vec<OpKind> {
        let mut ops: Vec<OpKind> = self.latency.keys().map(|id| id.op).collect();
        ops.sort();
        ops.dedup();
        ops
    }
}

/// Adds `h` into `into` (auto-resizing, so it cannot fail on range).
fn add(into: &mut Histogram<u64>, h: &Histogram<u64>) {
    let _ = into.add(h);
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::{Duration, SystemTime};

    use hdrhistogram::serialization::V2DeflateSerializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

    use super::*;

    /// Writes an interval log of `(second, tag, latencies µs)` lines, as `gatebench run`
    /// does.
    pub(crate) fn write_log(lines: &[(u64, &str, &[u64])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut log = IntervalLogWriterBuilder::new()
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut out, &mut serializer)
            .unwrap();
        for (second, tag, values) in lines {
            let mut h = new_histogram();
            for v in *values {
                h.record(*v).unwrap();
            }
            log.write_histogram(
                &h,
                Duration::from_secs(*second),
                Duration::from_secs(1),
                Tag::new(tag),
            )
            .unwrap();
        }
        out
    }

    #[test]
    fn reads_what_a_run_writes() {
        use crate::record::{Interval, IntervalSink, Phase, SeriesData, SeriesKey};
        use crate::results::hlog::{HlogWriter, STEADY_LOG};

        let dir = tempfile::tempdir().unwrap();
        let names = vec!["direct".to_string(), "apim".to_string()];
        let mut w = HlogWriter::create(dir.path(), names, SystemTime::now()).unwrap();
        let data = |values: &[u64]| {
            let mut h = new_histogram();
            for v in values {
                h.record(*v).unwrap();
            }
            SeriesData {
                latency: h.clone(),
                service: h.clone(),
                corrected: None,
                ttfb: h,
                connect: new_histogram(),
                tls: new_histogram(),
                bytes_up: 0,
                bytes_down: 0,
                statuses: BTreeMap::new(),
                transport: BTreeMap::new(),
                retry_after: BTreeMap::new(),
                server_timing: Default::default(),
            }
        };
        let key = |target, class, cache| SeriesKey {
            target,
            op: OpKind::Get,
            class,
            cache,
            phase: Phase::Steady,
        };
        let mut iv = Interval {
            second: 7,
            ..Default::default()
        };
        iv.series.insert(
            key(1, OutcomeClass::Ok, CacheClass::Hit),
            data(&[100, 200, 300]),
        );
        iv.series.insert(
            key(1, OutcomeClass::Throttled, CacheClass::None),
            data(&[10]),
        );
        w.write_interval(&iv).unwrap();
        drop(w);

        let s = Series::read(&std::fs::read(dir.path().join(STEADY_LOG)).unwrap()).unwrap();
        let apim = &s.targets["apim"];
        assert_eq!(apim.first_second, 7);
        assert_eq!(apim.seconds.len(), 1);
        assert_eq!(apim.seconds[0].requests, 4);
        assert_eq!(apim.seconds[0].hits, 3);
        assert_eq!(apim.throttle_onset().map(|o| o.at_s), Some(0));
        assert!(!s.targets.contains_key("direct"));
    }

    #[test]
    fn seconds_are_built_per_target_from_merged_histograms() {
        let log = write_log(&[
            // direct ran first (seconds 3 and 5; 4 was quiet), apim after it.
            (3, "direct/get/ok/none/latency", &[1000, 2000, 3000]),
            (3, "direct/put/ok/none/latency", &[9000]),
            (3, "direct/get/ok/none/service", &[1, 1, 1, 1, 1, 1]),
            (5, "direct/get/server_error/none/latency", &[500]),
            (9, "apim/get/ok/hit/latency", &[100, 100, 100]),
            (9, "apim/get/ok/miss/latency", &[4000]),
            (9, "apim/get/ok/uncacheable/latency", &[4000]),
            (10, "apim/get/ok/hit/latency", &[100]),
            (10, "apim/get/throttled/none/latency", &[50, 50]),
            // A late addition to second 9 is merged into it.
            (9, "apim/get/ok/hit/latency", &[100]),
        ]);
        let s = Series::read(&log).unwrap();

        let direct = &s.targets["direct"];
        assert_eq!(direct.first_second, 3);
        assert_eq!(direct.seconds.len(), 3);
        let d0 = &direct.seconds[0];
        assert_eq!(d0.requests, 4, "the service metric is not counted again");
        assert_eq!(d0.count(OutcomeClass::Ok), 4);
        // Values are exact to 3 significant digits (highest equivalent value).
        assert!(d0.ok_p99_us.unwrap().abs_diff(9000) <= 9, "{d0:?}");
        assert!(d0.ok_p50_us.unwrap().abs_diff(2000) <= 2, "{d0:?}");
        assert_eq!(direct.seconds[1], Second::default());
        assert_eq!(direct.seconds[2].count(OutcomeClass::ServerError), 1);
        assert_eq!(direct.seconds[2].ok_p50_us, None);
        assert!(!direct.has_cache_data());
        assert_eq!(direct.throttle_onset(), None);

        let apim = &s.targets["apim"];
        assert_eq!(apim.first_second, 9);
        assert_eq!(apim.seconds[0].requests, 6);
        assert_eq!((apim.seconds[0].hits, apim.seconds[0].misses), (4, 1));
        assert_eq!(apim.seconds[0].hit_ratio(), Some(0.8));
        assert_eq!(
            apim.throttle_onset(),
            Some(ThrottleOnset {
                at_s: 1,
                ops_per_sec: 3.0
            })
        );

        let hits = s
            .merged(|id| id.target == "apim" && id.cache == CacheClass::Hit)
            .unwrap();
        assert_eq!(hits.len(), 5);
        assert_eq!(s.ops(), vec![OpKind::Put, OpKind::Get]);
        assert!(s.merged(|id| id.target == "nobody").is_none());
    }

    /// A target's series from `(ok, transport, server error)` counts per second.
    fn series_of(seconds: &[(u64, u64, u64)]) -> TargetSeries {
        let seconds = seconds
            .iter()
            .map(|&(ok, transport, server)| {
                let by_class: BTreeMap<OutcomeClass, u64> = [
                    (OutcomeClass::Ok, ok),
                    (OutcomeClass::Transport, transport),
                    (OutcomeClass::ServerError, server),
                ]
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .collect();
                Second {
                    requests: ok + transport + server,
                    by_class,
                    ..Second::default()
                }
            })
            .collect();
        TargetSeries {
            first_second: 2,
            seconds,
        }
    }

    #[test]
    fn failure_windows_span_outages_and_say_when_ok_came_back() {
        let window = |from_s, to_s, count, ok_again_s| FailureWindow {
            from_s,
            to_s,
            count,
            ok_again_s,
        };
        // ok, then an outage over seconds 2-5 (second 4 completed nothing: bridged), a
        // mixed second 6 still counts, ok again from 7; a second outage at 9 never recovers.
        let s = series_of(&[
            (90, 0, 0),
            (80, 0, 0),
            (10, 30, 0),
            (0, 500, 0),
            (0, 0, 0),
            (0, 7, 0),
            (20, 1, 0),
            (85, 0, 0),
            (88, 0, 0),
            (0, 4, 0),
            (0, 0, 0),
        ]);
        assert_eq!(
            s.windows(OutcomeClass::Transport),
            vec![window(2, 7, 538, Some(7)), window(9, 10, 4, None)]
        );
        assert_eq!(s.windows(OutcomeClass::ServerError), vec![]);

        // A second with only other failures ends a window without ok coming back.
        let s = series_of(&[
            (5, 0, 0),
            (0, 3, 0),
            (0, 0, 9),
            (0, 2, 0),
            (4, 0, 9),
            (6, 0, 0),
        ]);
        assert_eq!(
            s.windows(OutcomeClass::Transport),
            vec![window(1, 2, 3, None), window(3, 4, 2, Some(4))]
        );
        assert_eq!(
            s.windows(OutcomeClass::ServerError),
            vec![window(2, 3, 9, None), window(4, 5, 9, Some(5))]
        );
    }

    #[test]
    fn an_empty_log_is_empty_series_and_a_broken_one_an_error() {
        let s = Series::read(b"").unwrap();
        assert!(s.targets.is_empty() && s.latency.is_empty());

        let log = write_log(&[
            (0, "t/get/ok/none/latency", &[1000]),
            (1, "t/get/ok/none/latency", &[1000, 2000]),
        ]);
        let cut = &log[..log.len() - 20];
        let err = Series::read(cut).unwrap_err();
        assert!(format!("{err:#}").contains("line"), "{err:#}");

        let mut bad = log.clone();
        bad.extend_from_slice(b"this is not a log line\n");
        assert!(Series::read(&bad).is_err());
    }
}
