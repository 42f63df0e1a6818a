//! The capacity search (`executor = "find-capacity"`): which rate to offer next, and
//! where a target's knee is.
//!
//! Pure decisions over step results; no clocks, no I/O. The run offers a constant rate
//! for a step, measures it into a [`StepStats`] and asks [`Search::record`] for the next
//! rate. The climb multiplies (or adds to) the rate until a step fails or the ceiling
//! passes; then it bisects between the last good and the first bad rate.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Most climb steps a search may take (validation refuses scenarios that need more).
pub const MAX_CLIMB_STEPS: usize = 100;

/// Most bisection steps after the climb.
pub const MAX_BISECT_STEPS: u32 = 20;

/// Shortest step: shorter ones measure too few requests to judge.
pub const MIN_STEP_DURATION: Duration = Duration::from_millis(100);

/// What the scenario asks of a capacity search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacitySearch {
    /// Rate of the first step, requests per second.
    pub start_rate: f64,
    /// How the climb raises the rate from one step to the next.
    pub growth: Growth,
    /// How long each step's measured load lasts (after the run's warm-up).
    #[serde(with = "super::humantime_dur")]
    pub step_duration: Duration,
    /// The highest rate offered: a good step at this rate ends the search.
    pub max_rate: f64,
    /// A step whose p99 (of `ok` requests) exceeds this fails with `slo`.
    #[serde(with = "super::humantime_dur")]
    pub slo_p99: Duration,
    /// Requests in flight at once during a step (as an open loop's cap).
    pub max_in_flight: usize,
    /// A step with a larger share of errors (neither ok nor throttled) fails.
    pub max_error_ratio: f64,
    /// A step with a larger share of throttled requests (429, 503 SlowDown) fails.
    pub max_throttle_ratio: f64,
    /// A step whose accepted rate is below this share of the offered rate fails.
    pub min_accepted_ratio: f64,
    /// Bisection steps between the last good and the first bad rate.
    pub bisect_steps: u32,
}

/// How the climb raises the rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Growth {
    /// Multiply by this (> 1).
    Factor(f64),
    /// Add this many requests per second (> 0).
    Step(f64),
}

impl CapacitySearch {
    /// The climb's rates, from `start_rate` up to and including `max_rate`, at most
    /// [`MAX_CLIMB_STEPS`] + 1 of them (so a caller can tell that there are too many).
    pub fn climb(&self) -> Vec<f64> {
        let mut rates = vec![self.start_rate.min(self.max_rate)];
        while rates.len() <= MAX_CLIMB_STEPS {
            let last = rates[rates.len() - 1];
            if last >= self.max_rate {
                break;
            }
            let next = match self.growth {
                Growth::Factor(f) => last * f,
                Growth::Step(s) => last + s,
            };
            rates.push(next.min(self.max_rate));
        }
        rates
    }

    /// The verdict on one step: throttled, errors, slo, saturated (the first that
    /// applies), or good.
    pub fn judge(&self, s: &StepStats) -> Verdict {
        if s.throttle_ratio > self.max_throttle_ratio {
            Verdict::Throttled
        } else if s.error_ratio > self.max_error_ratio {
            Verdict::Errors
        } else if s.p99_us > self.slo_p99.as_micros() as u64 {
            Verdict::Slo
        } else if s.accepted_rate < self.min_accepted_ratio * s.offered_rate {
            Verdict::Saturated
        } else {
            Verdict::Good
        }
    }
}

/// What one step measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// The rate the step offered, requests per second.
    pub offered_rate: f64,
    /// `ok` responses per second over the step.
    pub accepted_rate: f64,
    /// Latency percentiles of the step's `ok` requests, µs.
    pub p50_us: u64,
    pub p99_us: u64,
    /// Share of the step's requests that failed (neither ok nor throttled).
    pub error_ratio: f64,
    /// Share of the step's requests that were throttled.
    pub throttle_ratio: f64,
}

/// The verdict on a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Within every bound.
    Good,
    /// Too many throttled responses.
    Throttled,
    /// Too many errors.
    Errors,
    /// p99 above the SLO.
    Slo,
    /// Accepted rate too far below the offered rate.
    Saturated,
}

impl Verdict {
    /// The name written in summary.json and reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Throttled => "throttled",
            Verdict::Errors => "errors",
            Verdict::Slo => "slo",
            Verdict::Saturated => "saturated",
        }
    }
}

/// Why the search stopped where it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KneeReason {
    /// The first rate above the knee failed for this reason.
    Throttled,
    Errors,
    Slo,
    Saturated,
    /// `max_rate` was good: the capacity is at least the ceiling.
    Ceiling,
    /// The search was stopped before it found a failing step.
    Interrupted,
}

impl KneeReason {
    /// The name written in summary.json and reports.
    pub fn name(self) -> &'static str {
        match self {
            KneeReason::Throttled => "throttled",
            KneeReason::Errors => "errors",
            KneeReason::Slo => "slo",
            KneeReason::Saturated => "saturated",
            KneeReason::Ceiling => "ceiling",
            KneeReason::Interrupted => "interrupted",
        }
    }

    fn of(v: Verdict) -> Option<KneeReason> {
        match v {
            Verdict::Good => None,
            Verdict::Throttled => Some(KneeReason::Throttled),
            Verdict::Errors => Some(KneeReason::Errors),
            Verdict::Slo => Some(KneeReason::Slo),
            Verdict::Saturated => Some(KneeReason::Saturated),
        }
    }
}

/// A target's knee: the highest good rate and why the next one failed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    /// The highest rate that was good (`None`: not even the first step was).
    pub rate: Option<f64>,
    pub reason: KneeReason,
}

/// One target's search in progress.
#[derive(Debug, Clone)]
pub struct Search<'a> {
    config: &'a CapacitySearch,
    climb: Vec<f64>,
    /// Climb steps taken so far.
    climbed: usize,
    bisected: u32,
    last_good: Option<f64>,
    first_bad: Option<(f64, Verdict)>,
    next: Option<f64>,
}

impl<'a> Search<'a> {
    /// A search that starts at the configuration's start rate.
    pub fn new(config: &'a CapacitySearch) -> Self {
        let climb = config.climb();
        Search {
            config,
            next: climb.first().copied(),
            climb,
            climbed: 0,
            bisected: 0,
            last_good: None,
            first_bad: None,
        }
    }

    /// The rate of the next step (`None`: the search is over).
    pub fn next_rate(&self) -> Option<f64> {
        self.next
    }

    /// Judges the step just run at [`Search::next_rate`] and chooses the next rate.
    pub fn record(&mut self, stats: &StepStats) -> Verdict {
        let verdict = self.config.judge(stats);
        let rate = stats.offered_rate;
        if verdict == Verdict::Good {
            self.last_good = Some(self.last_good.map_or(rate, |g| g.max(rate)));
        } else if self.first_bad.is_none_or(|(b, _)| rate <= b) {
            self.first_bad = Some((rate, verdict));
        }
        let climbing = self.first_bad.is_none();
        self.next = if climbing {
            self.climbed += 1;
            self.climb.get(self.climbed).copied()
        } else {
            match (self.last_good, self.first_bad) {
                (Some(good), Some((bad, _))) if self.bisected < self.config.bisect_steps => {
                    self.bisected += 1;
                    Some((good + bad) / 2.0)
                }
                _ => None,
            }
        };
        verdict
    }

    /// The knee found so far; `interrupted` when the search stopped before its end.
    pub fn knee(&self) -> Knee {
        let reason = match self.first_bad {
            // Stopped with a step still to run (climbing or bisecting).
            _ if self.next.is_some() => KneeReason::Interrupted,
            Some((_, v)) => KneeReason::of(v).unwrap_or(KneeReason::Interrupted),
            None => KneeReason::Ceiling,
        };
        Knee {
            rate: self.last_good,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CapacitySearch {
        CapacitySearch {
            start_rate: 100.0,
            growth: Growth::Factor(2.0),
            step_duration: Duration::from_secs(1),
            max_rate: 1000.0,
            slo_p99: Duration::from_millis(50),
            max_in_flight: 256,
            max_error_ratio: 0.01,
            max_throttle_ratio: 0.01,
            min_accepted_ratio: 0.95,
            bisect_steps: 3,
        }
    }

    /// A server that accepts up to `capacity` per second with a 10 ms p99.
    fn server(capacity: f64) -> impl Fn(f64) -> StepStats {
        move |offered| StepStats {
            offered_rate: offered,
            accepted_rate: offered.min(capacity),
            p50_us: 5_000,
            p99_us: 10_000,
            error_ratio: 0.0,
            throttle_ratio: 0.0,
        }
    }

    /// Runs the search against `measure`; the rates offered and the knee.
    fn search(config: &CapacitySearch, measure: impl Fn(f64) -> StepStats) -> (Vec<f64>, Knee) {
        let mut s = Search::new(config);
        let mut rates = Vec::new();
        while let Some(rate) = s.next_rate() {
            rates.push(rate);
            s.record(&measure(rate));
        }
        (rates, s.knee())
    }

    #[test]
    fn the_climb_doubles_until_a_step_fails_then_bisects_between_good_and_bad() {
        let (rates, knee) = search(&config(), server(500.0));
        // 100, 200, 400 good; 800 saturated; then 600 bad, 500 good, 550 bad.
        assert_eq!(rates, vec![100.0, 200.0, 400.0, 800.0, 600.0, 500.0, 550.0]);
        assert_eq!(knee.rate, Some(500.0));
        assert_eq!(knee.reason, KneeReason::Saturated);
    }

    #[test]
    fn an_additive_climb_stops_at_the_ceiling_when_it_is_good() {
        let c = CapacitySearch {
            growth: Growth::Step(250.0),
            ..config()
        };
        let (rates, knee) = search(&c, server(1e9));
        assert_eq!(rates, vec![100.0, 350.0, 600.0, 850.0, 1000.0]);
        assert_eq!(
            knee,
            Knee {
                rate: Some(1000.0),
                reason: KneeReason::Ceiling
            }
        );
    }

    #[test]
    fn a_failing_first_step_leaves_no_knee_rate_and_says_why() {
        let (rates, knee) = search(&config(), |r| StepStats {
            p99_us: 80_000,
            ..server(1e9)(r)
        });
        assert_eq!(rates, vec![100.0]);
        assert_eq!(knee.rate, None);
        assert_eq!(knee.reason, KneeReason::Slo);
    }

    #[test]
    fn steps_are_judged_throttled_then_errors_then_slo_then_saturated() {
        let c = config();
        let bad = StepStats {
            offered_rate: 100.0,
            accepted_rate: 10.0,
            p50_us: 1,
            p99_us: 60_000,
            error_ratio: 0.5,
            throttle_ratio: 0.5,
        };
        assert_eq!(c.judge(&bad), Verdict::Throttled);
        let bad = StepStats {
            throttle_ratio: 0.01,
            ..bad
        };
        assert_eq!(c.judge(&bad), Verdict::Errors);
        let bad = StepStats {
            error_ratio: 0.0,
            ..bad
        };
        assert_eq!(c.judge(&bad), Verdict::Slo);
        let bad = StepStats {
            p99_us: 50_000,
            ..bad
        };
        assert_eq!(c.judge(&bad), Verdict::Saturated);
        let good = StepStats {
            accepted_rate: 95.0,
            ..bad
        };
        assert_eq!(c.judge(&good), Verdict::Good);
    }

    #[test]
    fn the_reason_is_that_of_the_lowest_failing_rate() {
        // Throttled from 300 up, but errors from 450: the knee fails on throttling.
        let (_, knee) = search(&config(), |r| StepStats {
            throttle_ratio: if r > 300.0 { 0.2 } else { 0.0 },
            error_ratio: if r > 450.0 { 0.2 } else { 0.0 },
            ..server(1e9)(r)
        });
        assert_eq!(knee.reason, KneeReason::Throttled);
        // 100, 200 good; 400 bad; 300 good, 350 bad, 325 bad.
        assert_eq!(knee.rate, Some(300.0));
    }

    #[test]
    fn a_search_cut_short_is_interrupted_and_a_climb_is_bounded() {
        let c = config();
        let mut s = Search::new(&c);
        s.record(&server(1e9)(100.0));
        assert_eq!(
            s.knee(),
            Knee {
                rate: Some(100.0),
                reason: KneeReason::Interrupted
            }
        );
        // Stopped during the bisection: the failure found so far is not the knee's.
        let mut s = Search::new(&c);
        for rate in [100.0, 200.0, 400.0, 800.0] {
            s.record(&server(500.0)(rate));
        }
        assert_eq!(s.next_rate(), Some(600.0));
        assert_eq!(
            s.knee(),
            Knee {
                rate: Some(400.0),
                reason: KneeReason::Interrupted
            }
        );
        let slow = CapacitySearch {
            growth: Growth::Step(1.0),
            ..config()
        };
        assert_eq!(slow.climb().len(), MAX_CLIMB_STEPS + 1);
        assert_eq!(config().climb(), vec![100.0, 200.0, 400.0, 800.0, 1000.0]);
    }
}
