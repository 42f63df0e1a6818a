//! Steady-phase tallies per identity of a target that sends as several clients: what
//! `by_client` in the summary is made of. Each lane keeps its own [`ClientTallies`],
//! merged into the run's when the lane ends, like the slowest requests; nothing here is
//! written to the interval log.

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;

use super::{OutcomeClass, Phase, Sample, micros, new_histogram};

/// One identity's steady-phase requests.
#[derive(Debug, Clone)]
pub struct ClientTally {
    pub requests: u64,
    pub ok: u64,
    pub throttled: u64,
    /// Response time of its `ok` requests, µs.
    pub ok_latency: Histogram<u64>,
    /// Throttled responses per second since the run started.
    pub throttled_by_second: BTreeMap<u64, u64>,
}

impl Default for ClientTally {
    fn default() -> Self {
        ClientTally {
            requests: 0,
            ok: 0,
            throttled: 0,
            ok_latency: new_histogram(),
            throttled_by_second: BTreeMap::new(),
        }
    }
}

impl ClientTally {
    /// Requests that were neither `ok` nor throttled.
    pub fn errors(&self) -> u64 {
        self.requests - self.ok - self.throttled
    }

    fn merge(&mut self, other: &ClientTally) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.throttled += other.throttled;
        let _ = self.ok_latency.add(&other.ok_latency);
        for (second, n) in &other.throttled_by_second {
            *self.throttled_by_second.entry(*second).or_default() += n;
        }
    }
}

/// Tallies by (target index, identity).
#[derive(Debug, Clone, Default)]
pub struct ClientTallies {
    by: HashMap<(usize, u16), ClientTally>,
}

impl ClientTallies {
    /// Counts a steady-phase sample that names its identity (others are left out).
    pub fn record(&mut self, s: &Sample, second: u64) {
        let Some(client) = s.client else { return };
        if s.key.phase != Phase::Steady {
            return;
        }
        let t = self.by.entry((s.key.target, client)).or_default();
        t.requests += 1;
        match s.key.class {
            OutcomeClass::Ok => {
                t.ok += 1;
                let _ = t.ok_latency.record(micros(s.latency));
            }
            OutcomeClass::Throttled => {
                t.throttled += 1;
                *t.throttled_by_second.entry(second).or_default() += 1;
            }
            _ => {}
        }
    }

    /// Adds another set of tallies to these.
    pub fn merge(&mut self, other: ClientTallies) {
        for (key, tally) in other.by {
            match self.by.get_mut(&key) {
                Some(mine) => mine.merge(&tally),
                None => {
                    self.by.insert(key, tally);
                }
            }
        }
    }

    /// Target `target`'s tallies by identity, in identity order.
    pub fn of_target(&self, target: usize) -> BTreeMap<u16, &ClientTally> {
        self.by
            .iter()
            .filter(|((t, _), _)| *t == target)
            .map(|((_, client), tally)| (*client, tally))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::plan::OpKind;
    use crate::record::{CacheClass, Interval, IntervalSink, Recorder, SeriesKey, ServerTiming};

    struct Discard;
    impl IntervalSink for Discard {
        fn write_interval(&mut self, _: &Interval) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn sample(at: Instant, client: Option<u16>, class: OutcomeClass, phase: Phase) -> Sample {
        Sample {
            key: SeriesKey {
                target: 1,
                op: OpKind::Get,
                class,
                cache: CacheClass::None,
                phase,
            },
            completed_at: at,
            latency: Duration::from_millis(2),
            service: Duration::from_millis(2),
            expected_interval: None,
            ttfb: None,
            connect: None,
            tls: None,
            bytes_up: 0,
            bytes_down: 0,
            status: Some(200),
            transport: None,
            retry_after: None,
            server_timing: ServerTiming::default(),
            client,
        }
    }

    #[tokio::test]
    async fn lanes_tally_each_identity_in_the_steady_phase_only() {
        let start = Instant::now();
        let (rec, handle) = Recorder::new(start, Box::new(Discard));
        let lanes = handle.lanes();
        let steady = |client, class| sample(start, Some(client), class, Phase::Steady);
        for worker in 0..8usize {
            let client = (worker % 4) as u16;
            lanes.record(worker, &steady(client, OutcomeClass::Ok));
            if client == 2 {
                let later = start + Duration::from_secs(3);
                lanes.record(
                    worker,
                    &sample(later, Some(2), OutcomeClass::Throttled, Phase::Steady),
                );
                lanes.record(worker, &steady(2, OutcomeClass::ServerError));
            }
        }
        lanes.record(0, &sample(start, Some(0), OutcomeClass::Ok, Phase::Warmup));
        lanes.record(0, &sample(start, None, OutcomeClass::Ok, Phase::Steady));
        drop((lanes, handle));
        let totals = rec.run().await;
        let of = totals.clients.of_target(1);
        assert_eq!(of.keys().copied().collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!((of[&0].requests, of[&0].ok, of[&0].throttled), (2, 2, 0));
        let two = of[&2];
        assert_eq!(
            (two.requests, two.ok, two.throttled, two.errors()),
            (6, 2, 2, 2)
        );
        assert_eq!(two.throttled_by_second, BTreeMap::from([(3, 2)]));
        assert_eq!(two.ok_latency.len(), 2);
        assert!(totals.clients.of_target(0).is_empty());
    }
}
