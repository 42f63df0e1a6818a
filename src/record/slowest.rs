//! The slowest requests of a run, per target × op, with the ids that find each one in
//! the servers' logs.
//!
//! Each recording lane keeps its own bounded list (a cheap "slower than my current
//! [`SLOWEST_KEPT`]th?" check first, so almost every request costs one comparison and
//! no allocation); the lists are merged when the lanes end. Steady phase only.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use http::HeaderValue;

use super::OutcomeClass;
use crate::plan::OpKind;

/// How many requests are kept per target × op.
pub const SLOWEST_KEPT: usize = 10;

/// The ids that find one request in server logs (the header values as answered, not
/// parsed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestIds {
    /// `x-client-request-id` as gatebench sent it.
    pub client: Option<HeaderValue>,
    /// `x-amz-request-id` of the answer (RGW, S3).
    pub amz: Option<HeaderValue>,
    /// `x-ms-request-id` of the answer (APIM's `context.RequestId`, the stand-in's too).
    pub gateway: Option<HeaderValue>,
}

/// What the engine tells of a request only once it is known to be slow enough to keep.
#[derive(Debug, Clone)]
pub struct SlowDetails {
    /// Path without the query string.
    pub path: String,
    pub status: Option<u16>,
    pub ids: RequestIds,
}

/// One kept request.
#[derive(Debug, Clone)]
pub struct SlowRequest {
    pub op: OpKind,
    pub class: OutcomeClass,
    /// When it was due, wall clock.
    pub due: SystemTime,
    /// When it was due, since recording started (the interval logs' clock).
    pub due_offset: Duration,
    /// From when it was due to its last byte.
    pub latency: Duration,
    pub details: SlowDetails,
}

/// The slowest [`SLOWEST_KEPT`] requests per (target index, op), slowest first.
#[derive(Debug, Clone, Default)]
pub struct SlowestRequests {
    by_series: BTreeMap<(usize, OpKind), Vec<SlowRequest>>,
}

impl SlowestRequests {
    /// Whether a request of `target` and `op` taking `latency` would be kept.
    pub fn admits(&self, target: usize, op: OpKind, latency: Duration) -> bool {
        self.by_series
            .get(&(target, op))
            .is_none_or(|kept| kept.len() < SLOWEST_KEPT || latency > kept[kept.len() - 1].latency)
    }

    /// Keeps `r` of `target` if it is among the slowest (ties: the earlier kept stays).
    pub fn insert(&mut self, target: usize, r: SlowRequest) {
        let kept = self.by_series.entry((target, r.op)).or_default();
        let at = kept.partition_point(|k| k.latency >= r.latency);
        if at < SLOWEST_KEPT {
            kept.insert(at, r);
            kept.truncate(SLOWEST_KEPT);
        }
    }

    /// Adds what `other` kept: the slowest of both stay.
    pub fn merge(&mut self, other: SlowestRequests) {
        for ((target, _), kept) in other.by_series {
            for r in kept {
                self.insert(target, r);
            }
        }
    }

    /// Target `target`'s kept requests, per op, slowest first.
    pub fn of_target(&self, target: usize) -> impl Iterator<Item = (OpKind, &[SlowRequest])> {
        self.by_series
            .iter()
            .filter(move |((t, _), _)| *t == target)
            .map(|((_, op), kept)| (*op, kept.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slow(op: OpKind, ms: u64) -> SlowRequest {
        SlowRequest {
            op,
            class: OutcomeClass::Ok,
            due: SystemTime::UNIX_EPOCH,
            due_offset: Duration::ZERO,
            latency: Duration::from_millis(ms),
            details: SlowDetails {
                path: format!("/b/{ms}"),
                status: Some(200),
                ids: RequestIds::default(),
            },
        }
    }

    fn latencies(s: &SlowestRequests, target: usize, op: OpKind) -> Vec<u64> {
        s.of_target(target)
            .filter(|(o, _)| *o == op)
            .flat_map(|(_, kept)| kept.iter().map(|r| r.latency.as_millis() as u64))
            .collect()
    }

    #[test]
    fn keeps_the_slowest_ten_per_target_and_op_slowest_first() {
        let mut s = SlowestRequests::default();
        for ms in [5, 40, 1, 30, 12, 7, 90, 3, 66, 2, 8, 50, 4] {
            if s.admits(0, OpKind::Get, Duration::from_millis(ms)) {
                s.insert(0, slow(OpKind::Get, ms));
            }
        }
        s.insert(1, slow(OpKind::Get, 1));
        s.insert(0, slow(OpKind::Put, 2));
        assert_eq!(
            latencies(&s, 0, OpKind::Get),
            vec![90, 66, 50, 40, 30, 12, 8, 7, 5, 4]
        );
        assert!(!s.admits(0, OpKind::Get, Duration::from_millis(4)));
        assert!(s.admits(0, OpKind::Get, Duration::from_millis(5)));
        assert!(s.admits(0, OpKind::Head, Duration::from_millis(1)));
        assert_eq!(latencies(&s, 1, OpKind::Get), vec![1]);
        assert_eq!(latencies(&s, 0, OpKind::Put), vec![2]);
    }

    struct Discard;

    impl crate::record::IntervalSink for Discard {
        fn write_interval(&mut self, _: &crate::record::Interval) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Lanes keep steady-phase requests only, and the run's totals hold the slowest of
    /// every lane once the lanes end.
    #[tokio::test]
    async fn lanes_keep_steady_requests_and_the_totals_hold_the_slowest_of_all_lanes() {
        use crate::record::{CacheClass, Phase, Recorder, SeriesKey};
        use std::time::Instant;
        let start = Instant::now();
        let (recorder, handle) = Recorder::new(start, Box::new(Discard));
        let lanes = handle.lanes();
        let key = |phase| SeriesKey {
            target: 0,
            op: OpKind::Get,
            class: OutcomeClass::Ok,
            cache: CacheClass::None,
            phase,
        };
        let mut asked = Vec::new();
        // Lane 0 fills with 21..=30 ms; the faster 1..=20 ms are not described at all.
        for (worker, ms) in (21..=30u64)
            .chain(1..=20)
            .map(|ms| (0, ms))
            .chain([(1, 31)])
        {
            lanes.keep_if_slow(
                worker,
                &key(Phase::Steady),
                start,
                Duration::from_millis(ms),
                || {
                    asked.push(ms);
                    slow(OpKind::Get, ms).details
                },
            );
        }
        lanes.keep_if_slow(
            0,
            &key(Phase::Warmup),
            start,
            Duration::from_secs(9),
            || panic!("a warm-up request is never kept"),
        );
        assert_eq!(asked, (21..=31).collect::<Vec<_>>());
        drop((lanes, handle));
        let totals = recorder.run().await;
        assert_eq!(
            latencies(&totals.slowest, 0, OpKind::Get),
            (22..=31).rev().collect::<Vec<_>>()
        );
        let kept = &totals.slowest.of_target(0).next().unwrap().1[0];
        assert_eq!(kept.details.path, "/b/31");
        assert_eq!(kept.due_offset, Duration::ZERO);
    }

    #[test]
    fn merging_lanes_keeps_the_slowest_of_the_union() {
        let (mut a, mut b) = (SlowestRequests::default(), SlowestRequests::default());
        for ms in 0..10 {
            a.insert(0, slow(OpKind::Get, ms * 10));
            b.insert(0, slow(OpKind::Get, ms * 10 + 5));
        }
        b.insert(2, slow(OpKind::Head, 9));
        a.merge(b);
        assert_eq!(
            latencies(&a, 0, OpKind::Get),
            vec![95, 90, 85, 80, 75, 70, 65, 60, 55, 50]
        );
        assert_eq!(latencies(&a, 2, OpKind::Head), vec![9]);
    }
}
