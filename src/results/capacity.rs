//! A capacity search's results (`capacity` in summary.json): per target, each step's
//! measurements and verdict, and the knee.
//!
//! Owns turning one step's recorded totals into [`StepStats`]; the search itself (what
//! is good, what comes next) belongs to `plan::capacity`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plan::capacity::{Knee, StepStats, Verdict};
use crate::record::{OutcomeClass, Phase, Totals, new_histogram};

/// The search over every target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacitySummary {
    /// False when the search was stopped (Ctrl-C, a failed step) before every target's
    /// knee was found; the steps so far are kept.
    pub complete: bool,
    /// The latency bound of a good step, ms.
    pub slo_p99_ms: f64,
    /// The highest rate offered, requests per second.
    pub max_rate: f64,
    /// One entry per target searched, in the order they ran.
    pub targets: Vec<TargetCapacity>,
}

/// One target's search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetCapacity {
    pub target: String,
    /// In the order run: the climb, then the bisection.
    pub steps: Vec<CapacityStep>,
    pub knee: Knee,
}

/// One step: what it measured and how it was judged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CapacityStep {
    #[serde(flatten)]
    pub stats: StepStats,
    pub verdict: Verdict,
}

impl CapacitySummary {
    /// The entry of `target`, if it was searched.
    pub fn target(&self, target: &str) -> Option<&TargetCapacity> {
        self.targets.iter().find(|t| t.target == target)
    }
}

/// What the steady phase of one step at `offered_rate` measured, from its own
/// recorder's `totals` (target `target` only) and `elapsed`, the time from the end of
/// its warm-up until its last response.
///
/// The accepted rate is `ok` responses per second over the span in which the step's
/// requests were answered: `elapsed` less the fastest `ok` response (the time the first
/// request took), at most the offered rate. A server that keeps up answers the step in
/// its own length; one that cannot takes longer, and the rate falls to what it served.
pub fn step_stats(
    offered_rate: f64,
    target: usize,
    totals: &Totals,
    elapsed: Duration,
) -> StepStats {
    let mut ok = new_histogram();
    let (mut all, mut throttled, mut failed) = (0u64, 0u64, 0u64);
    for (k, v) in &totals.series {
        if k.target != target || k.phase != Phase::Steady {
            continue;
        }
        let n = v.count();
        all += n;
        match k.class {
            OutcomeClass::Ok => {
                let _ = ok.add(&v.latency);
            }
            OutcomeClass::Throttled | OutcomeClass::Quota => throttled += n,
            _ => failed += n,
        }
    }
    let ratio = |n: u64| if all == 0 { 0.0 } else { n as f64 / all as f64 };
    let fastest = Duration::from_micros(ok.min());
    let span = elapsed.saturating_sub(fastest).as_secs_f64();
    let accepted_rate = if span > 0.0 {
        (ok.len() as f64 / span).min(offered_rate)
    } else {
        0.0
    };
    StepStats {
        offered_rate,
        accepted_rate,
        p50_us: ok.value_at_quantile(0.5),
        p99_us: ok.value_at_quantile(0.99),
        error_ratio: ratio(failed),
        throttle_ratio: ratio(throttled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::OpKind;
    use crate::record::{CacheClass, Interval, SeriesData, SeriesKey};

    fn series(target: usize, class: OutcomeClass, phase: Phase, latencies_ms: &[u64]) -> Interval {
        let mut data = SeriesData::new();
        for &ms in latencies_ms {
            let _ = data.latency.record(ms * 1000);
        }
        let key = SeriesKey {
            target,
            op: OpKind::Get,
            class,
            cache: CacheClass::None,
            phase,
        };
        let mut iv = Interval::default();
        iv.add([(key, data)]);
        iv
    }

    #[test]
    fn a_step_counts_its_own_target_and_steady_phase_only() {
        let mut totals = Totals::default();
        totals.add(series(0, OutcomeClass::Ok, Phase::Steady, &[10; 97]));
        totals.add(series(0, OutcomeClass::Throttled, Phase::Steady, &[1, 1]));
        totals.add(series(0, OutcomeClass::ServerError, Phase::Steady, &[5]));
        totals.add(series(
            0,
            OutcomeClass::ServerError,
            Phase::Warmup,
            &[5; 50],
        ));
        totals.add(series(
            1,
            OutcomeClass::ServerError,
            Phase::Steady,
            &[5; 50],
        ));
        // 100 due over 1 s, the last answered 10 ms after it was due.
        let s = step_stats(100.0, 0, &totals, Duration::from_millis(1000));
        assert_eq!(s.throttle_ratio, 0.02);
        assert_eq!(s.error_ratio, 0.01);
        assert!((10_000..10_010).contains(&s.p99_us), "{s:?}");
        assert!((s.accepted_rate - 97.0 / 0.99).abs() < 0.01, "{s:?}");
    }

    #[test]
    fn a_server_that_cannot_keep_up_is_accepted_at_the_rate_it_served() {
        let mut totals = Totals::default();
        // 300 offered in 1 s, all answered by 1.5 s: served at 200/s.
        totals.add(series(0, OutcomeClass::Ok, Phase::Steady, &[20; 300]));
        let s = step_stats(300.0, 0, &totals, Duration::from_millis(1520));
        assert!((s.accepted_rate - 200.0).abs() < 0.5, "{s:?}");
        let keeping_up = step_stats(100.0, 0, &totals, Duration::from_millis(1020));
        assert_eq!(keeping_up.accepted_rate, 100.0, "at most the offered rate");
        let empty = step_stats(100.0, 0, &Totals::default(), Duration::ZERO);
        assert_eq!((empty.accepted_rate, empty.error_ratio), (0.0, 0.0));
    }
}
