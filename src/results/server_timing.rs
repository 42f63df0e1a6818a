//! The `server_timing` part of an operation's summary: how many `ok` responses carried a
//! `Server-Timing` header, and percentiles of each component they named.
//!
//! Built from the merged histograms only (never from averaged percentiles), so a summary
//! rebuilt from the interval logs, or merged from shards, has the same numbers.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::record::ServerTimingHistograms;

/// Server-side components of the `ok` responses of one operation on one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerTimingSummary {
    /// Responses that carried at least one of `gateway`, `backend`, `cache`.
    pub responses: u64,
    /// `Server-Timing: gateway`: time in the gateway itself.
    pub gateway_us: Option<ComponentStats>,
    /// `Server-Timing: backend`: from the forwarded request to the backend's headers.
    pub backend_us: Option<ComponentStats>,
    /// `Server-Timing: cache`: the gateway's cache lookup (hits).
    pub cache_us: Option<ComponentStats>,
    /// Service time minus the components above: network and client.
    pub unattributed_us: Option<ComponentStats>,
}

/// Percentiles of one component, µs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentStats {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl ComponentStats {
    /// Stats of `h`, or `None` if it is absent or empty.
    fn of(h: Option<&Histogram<u64>>) -> Option<Self> {
        let h = h.filter(|h| !h.is_empty())?;
        let q = |p: f64| h.value_at_quantile(p);
        Some(ComponentStats {
            count: h.len(),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            max: h.max(),
        })
    }
}

impl ServerTimingSummary {
    /// The summary of `h`, or `None` if no response carried server timing.
    pub fn of(h: &ServerTimingHistograms) -> Option<Self> {
        // Every response with some component also recorded `unattributed`.
        let unattributed_us = ComponentStats::of(h.unattributed.as_ref())?;
        Some(ServerTimingSummary {
            responses: unattributed_us.count,
            gateway_us: ComponentStats::of(h.gateway.as_ref()),
            backend_us: ComponentStats::of(h.backend.as_ref()),
            cache_us: ComponentStats::of(h.cache.as_ref()),
            unattributed_us: Some(unattributed_us),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::plan::OpKind;
    use crate::record::{
        CacheClass, Interval, IntervalSink, OutcomeClass, Phase, SeriesData, SeriesKey,
        ServerTiming,
    };
    use crate::results::RunFolder;
    use crate::results::hlog::HlogWriter;
    use crate::results::summary::op_summary;

    fn key(cache: CacheClass) -> SeriesKey {
        SeriesKey {
            target: 0,
            op: OpKind::Get,
            class: OutcomeClass::Ok,
            cache,
            phase: Phase::Steady,
        }
    }

    /// One second of a gateway run: misses with gateway + backend, hits with gateway
    /// + cache, and responses without the header.
    fn second(n: u64) -> Interval {
        let mut iv = Interval {
            second: n,
            ..Default::default()
        };
        let us = |x: u64| Some(Duration::from_micros(x));
        let mut miss = SeriesData::new();
        let mut hit = SeriesData::new();
        for i in 0..200u64 {
            let service = Duration::from_micros(5_000 + 37 * i + n);
            let _ = miss.latency.record(service.as_micros() as u64);
            let t = ServerTiming {
                gateway: us(2_000 + i),
                backend: us(2_500 + 3 * i),
                cache: None,
            };
            miss.server_timing.record(&t, service);
            let _ = hit.latency.record(900 + i);
            let t = ServerTiming {
                gateway: us(400 + i),
                backend: None,
                cache: us(20 + i % 7),
            };
            if i % 4 != 0 {
                hit.server_timing.record(&t, Duration::from_micros(900 + i));
            }
        }
        iv.series.insert(key(CacheClass::Miss), miss);
        iv.series.insert(key(CacheClass::Hit), hit);
        iv
    }

    #[test]
    fn the_summary_rebuilt_from_the_interval_logs_is_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let targets = vec!["apim".to_string()];
        let mut w = HlogWriter::create(dir.path(), targets.clone(), SystemTime::now()).unwrap();
        let mut live: BTreeMap<(OutcomeClass, CacheClass), SeriesData> = BTreeMap::new();
        for n in 0..3 {
            let iv = second(n);
            w.write_interval(&iv).unwrap();
            for (k, v) in iv.series {
                live.entry((k.class, k.cache)).or_default().merge(&v);
            }
        }
        drop(w);
        let mut rebuilt: BTreeMap<(OutcomeClass, CacheClass), SeriesData> = BTreeMap::new();
        for iv in RunFolder::open(dir.path())
            .unwrap()
            .intervals(&targets)
            .unwrap()
            .into_values()
        {
            for (k, v) in iv.series {
                rebuilt.entry((k.class, k.cache)).or_default().merge(&v);
            }
        }
        let summary = |m: &BTreeMap<_, SeriesData>| {
            let series = m.iter().map(|(k, v)| (*k, v)).collect();
            op_summary(OpKind::Get, &series, Duration::from_secs(3))
        };
        let (live, rebuilt) = (summary(&live), summary(&rebuilt));
        let timing = live.server_timing.clone().unwrap();
        assert_eq!(rebuilt.server_timing, live.server_timing);
        assert_eq!(timing.responses, 3 * (200 + 150));
        assert_eq!(timing.backend_us.as_ref().unwrap().count, 600);
        assert_eq!(timing.cache_us.as_ref().unwrap().count, 450);
        assert_eq!(timing.gateway_us.as_ref().unwrap().count, 1050);
        let backend = timing.backend_us.unwrap();
        assert!((2_500..=3_100).contains(&backend.p50), "{backend:?}");
    }

    #[test]
    fn absent_when_no_response_carried_timing() {
        assert_eq!(
            ServerTimingSummary::of(&ServerTimingHistograms::default()),
            None
        );
        let series = SeriesData::new();
        let by_key = [((OutcomeClass::Ok, CacheClass::None), &series)]
            .into_iter()
            .collect();
        assert!(
            op_summary(OpKind::Head, &by_key, Duration::from_secs(1))
                .server_timing
                .is_none()
        );
    }
}
