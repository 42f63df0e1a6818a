//! When open-loop requests are due: offsets from the start of a target's load, in order.
//!
//! Pure arithmetic, no clocks: the dispatcher turns offsets into instants. Constant rates
//! are spaced exactly (`i / rate`); ramps integrate the rate over time; Poisson arrivals
//! draw exponential gaps from a seeded generator. A [`ScheduleCursor`] hands one
//! target's schedule out turn by turn, so alternating turns carry it on exactly.

use std::iter::Peekable;

use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use rand_pcg::Pcg64;

use crate::plan::{Arrivals, Shard};

/// Integration step for ramps, seconds.
const STEP: f64 = 0.001;

/// Due times of one open-loop run.
#[derive(Debug)]
pub struct Schedule {
    arrivals: Arrivals,
    /// Seconds of warm-up before the stages begin (ramps only).
    warmup: f64,
    /// No request is due at or after this offset, seconds.
    end: f64,
    /// Requests planned so far.
    count: u64,
    /// Offset of the last due time, seconds.
    t: f64,
    rng: Pcg64,
    /// The share of the due times handed out ([`Shard::WHOLE`]: all of them).
    shard: Shard,
}

impl Schedule {
    /// A schedule for `arrivals` over `warmup + duration` seconds (`duration` of `None`:
    /// unbounded; the op count ends the run).
    pub fn new(arrivals: &Arrivals, warmup: f64, duration: Option<f64>, seed: u64) -> Self {
        Schedule {
            arrivals: arrivals.clone(),
            warmup,
            end: duration.map_or(f64::INFINITY, |d| warmup + d),
            count: 0,
            t: 0.0,
            rng: Pcg64::seed_from_u64(seed ^ 0xA5A5_5A5A_A5A5_5A5A),
            shard: Shard::WHOLE,
        }
    }

    /// This schedule cut down to `shard`'s due times: every shard plans the whole run's
    /// arrivals and keeps the ones it owns (every `count`-th), so together the shards
    /// send exactly the single-process schedule.
    pub fn for_shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self
    }

    /// How many of the whole run's requests are due in its warm-up (before `warmup`).
    pub fn due_in_warmup(arrivals: &Arrivals, warmup: f64, seed: u64) -> u64 {
        let mut whole = Schedule::new(arrivals, warmup, Some(0.0), seed);
        let mut n = 0;
        while whole.next_any().is_some() {
            n += 1;
        }
        n
    }

    /// The planned rate at offset `t`, requests per second.
    pub fn rate_at(&self, t: f64) -> f64 {
        match &self.arrivals {
            Arrivals::ConstantArrivalRate { rate } | Arrivals::PoissonArrivalRate { rate } => *rate,
            Arrivals::RampingArrivalRate { start_rate, stages } => {
                if t < self.warmup {
                    return *start_rate;
                }
                let mut from = *start_rate;
                let mut stage_start = self.warmup;
                for s in stages {
                    let len = s.duration.as_secs_f64();
                    if t < stage_start + len {
                        let f = if len > 0.0 {
                            (t - stage_start) / len
                        } else {
                            1.0
                        };
                        return from + (s.target - from) * f;
                    }
                    from = s.target;
                    stage_start += len;
                }
                from
            }
        }
    }
}

impl Schedule {
    /// Ramps only: if the rate is zero from `t` until some later offset (a stretch of
    /// zero rate), that offset; the integration skips such stretches in one step.
    fn zero_until(&self, t: f64) -> Option<f64> {
        let Arrivals::RampingArrivalRate { start_rate, stages } = &self.arrivals else {
            return None;
        };
        if t < self.warmup {
            return (*start_rate == 0.0).then_some(self.warmup);
        }
        let mut from = *start_rate;
        let mut stage_start = self.warmup;
        for s in stages {
            let stage_end = stage_start + s.duration.as_secs_f64();
            if t < stage_end {
                return (from == 0.0 && s.target == 0.0).then_some(stage_end);
            }
            from = s.target;
            stage_start = stage_end;
        }
        (from == 0.0).then_some(f64::INFINITY)
    }
}

impl Iterator for Schedule {
    /// Offset of the next due time of this shard from the start, seconds.
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        loop {
            let position = self.count;
            let t = self.next_any()?;
            if self.shard.owns(position) {
                return Some(t);
            }
        }
    }
}

impl Schedule {
    /// Offset of the whole run's next due time, seconds.
    fn next_any(&mut self) -> Option<f64> {
        let t = match &self.arrivals {
            Arrivals::ConstantArrivalRate { rate } => self.count as f64 / rate,
            Arrivals::PoissonArrivalRate { rate } => {
                let gap = Exp::new(*rate).map_or(f64::INFINITY, |e| e.sample(&mut self.rng));
                if self.count == 0 { 0.0 } else { self.t + gap }
            }
            Arrivals::RampingArrivalRate { .. } => {
                // Advance until one more request's worth of rate has accumulated.
                let mut need = if self.count == 0 { 0.0 } else { 1.0 };
                let mut t = self.t;
                loop {
                    if t >= self.end {
                        return None;
                    }
                    if let Some(until) = self.zero_until(t) {
                        t = until;
                        continue;
                    }
                    let r = self.rate_at(t);
                    let step = STEP.min(self.end - t);
                    if need <= 0.0 {
                        if r > 0.0 {
                            break t;
                        }
                    } else if r * step >= need {
                        break t + need / r;
                    } else {
                        need -= r * step;
                    }
                    t += step;
                }
            }
        };
        if t >= self.end {
            return None;
        }
        self.count += 1;
        self.t = t;
        Some(t)
    }
}

/// One target's schedule over its whole load, taken a turn at a time: each turn sends
/// the due times in its window of offsets and the next turn starts where it ended, so
/// the turns of a target send exactly the requests one uninterrupted run would.
#[derive(Debug)]
pub struct ScheduleCursor {
    due: Peekable<Schedule>,
    /// Offset where the next turn begins, seconds.
    position: f64,
}

impl ScheduleCursor {
    /// A cursor at the start of `schedule`.
    pub fn new(schedule: Schedule) -> Self {
        ScheduleCursor {
            due: schedule.peekable(),
            position: 0.0,
        }
    }

    /// Offset where the next turn begins, seconds.
    pub fn position(&self) -> f64 {
        self.position
    }

    /// True once every due time has been taken.
    pub fn is_done(&mut self) -> bool {
        self.due.peek().is_none()
    }

    /// The next due offset if it lies before `end`; it stays for a later turn if not.
    pub fn next_before(&mut self, end: f64) -> Option<f64> {
        self.due.next_if(|&t| t < end)
    }

    /// Ends the current turn at `end`: the next turn begins there.
    pub fn end_turn(&mut self, end: f64) {
        self.position = self.position.max(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Stage;
    use std::time::Duration;

    #[test]
    fn constant_rate_is_evenly_spaced_and_bounded() {
        let s = Schedule::new(
            &Arrivals::ConstantArrivalRate { rate: 100.0 },
            1.0,
            Some(2.0),
            1,
        );
        let due: Vec<f64> = s.collect();
        assert_eq!(due.len(), 300);
        assert!((due[1] - 0.01).abs() < 1e-12);
        assert!(*due.last().unwrap() < 3.0);
    }

    #[test]
    fn turns_of_a_cursor_take_exactly_the_uninterrupted_schedule() {
        for arrivals in [
            Arrivals::ConstantArrivalRate { rate: 0.5 },
            Arrivals::ConstantArrivalRate { rate: 10.0 },
            Arrivals::PoissonArrivalRate { rate: 37.0 },
        ] {
            let whole: Vec<f64> = Schedule::new(&arrivals, 1.0, Some(4.0), 9).collect();
            let mut cursor = ScheduleCursor::new(Schedule::new(&arrivals, 1.0, Some(4.0), 9));
            let mut turns = Vec::new();
            // Turns of 1 s after a first turn holding the warm-up.
            let mut end = 2.0;
            while !cursor.is_done() {
                let mut turn = Vec::new();
                while let Some(t) = cursor.next_before(end) {
                    assert!(t >= cursor.position(), "{t} before the turn began");
                    turn.push(t);
                }
                cursor.end_turn(end);
                turns.push(turn);
                end += 1.0;
            }
            assert_eq!(turns.len(), 4, "{arrivals:?}");
            assert_eq!(turns.concat(), whole, "{arrivals:?}");
        }
    }

    #[test]
    fn shards_together_take_exactly_the_whole_schedule() {
        let ramp = Arrivals::RampingArrivalRate {
            start_rate: 5.0,
            stages: vec![Stage {
                target: 80.0,
                duration: Duration::from_secs(3),
            }],
        };
        for arrivals in [
            Arrivals::ConstantArrivalRate { rate: 50.0 },
            Arrivals::PoissonArrivalRate { rate: 37.0 },
            ramp,
        ] {
            let whole: Vec<f64> = Schedule::new(&arrivals, 1.0, Some(3.0), 9).collect();
            let mut union = Vec::new();
            for i in 0..3 {
                let shard = Shard::new(i, 3).unwrap();
                let part: Vec<f64> = Schedule::new(&arrivals, 1.0, Some(3.0), 9)
                    .for_shard(shard)
                    .collect();
                let expected: Vec<f64> =
                    whole.iter().copied().skip(i as usize).step_by(3).collect();
                assert_eq!(part, expected, "{arrivals:?} shard {shard}");
                union.extend(part);
            }
            union.sort_by(f64::total_cmp);
            assert_eq!(union, whole, "{arrivals:?}");
            let in_warmup = whole.iter().filter(|&&t| t < 1.0).count() as u64;
            assert_eq!(
                Schedule::due_in_warmup(&arrivals, 1.0, 9),
                in_warmup,
                "{arrivals:?}"
            );
        }
    }

    #[test]
    fn ramp_delivers_the_area_under_its_rate() {
        // 0 → 100/s over 10 s, then hold 100/s for 5 s: 500 + 500 requests.
        let arrivals = Arrivals::RampingArrivalRate {
            start_rate: 0.0,
            stages: vec![
                Stage {
                    target: 100.0,
                    duration: Duration::from_secs(10),
                },
                Stage {
                    target: 100.0,
                    duration: Duration::from_secs(5),
                },
            ],
        };
        let s = Schedule::new(&arrivals, 0.0, Some(15.0), 1);
        let due: Vec<f64> = s.collect();
        assert!((995..=1005).contains(&due.len()), "{}", due.len());
        let first_half = due.iter().filter(|t| **t < 5.0).count();
        assert!(
            (120..=130).contains(&first_half),
            "ramp is linear: {first_half}"
        );
        assert!(due.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn a_ramp_skips_long_stretches_of_zero_rate_at_once() {
        // A week at zero, then 10/s for 1 s, then zero again: 10 requests (an 11th may
        // fall on the stage's last instant), found without integrating the idle weeks
        // millisecond by millisecond.
        let week = Duration::from_secs(7 * 24 * 3600);
        let stage = |target, duration| Stage { target, duration };
        let arrivals = Arrivals::RampingArrivalRate {
            start_rate: 0.0,
            stages: vec![
                stage(0.0, week),
                stage(10.0, Duration::ZERO),
                stage(10.0, Duration::from_secs(1)),
                stage(0.0, Duration::ZERO),
                stage(0.0, week),
            ],
        };
        let total = 1.0 + 2.0 * week.as_secs_f64();
        let due: Vec<f64> = Schedule::new(&arrivals, 60.0, Some(total), 1).collect();
        assert!((10..=11).contains(&due.len()), "{due:?}");
        let start = 60.0 + week.as_secs_f64();
        assert!(
            due.iter().all(|t| (start..start + 1.001).contains(t)),
            "{due:?}"
        );
    }

    #[test]
    fn poisson_has_the_mean_rate_and_is_seeded() {
        let arrivals = Arrivals::PoissonArrivalRate { rate: 200.0 };
        let a: Vec<f64> = Schedule::new(&arrivals, 0.0, Some(50.0), 3).collect();
        let b: Vec<f64> = Schedule::new(&arrivals, 0.0, Some(50.0), 3).collect();
        assert_eq!(a, b);
        assert!((9_700..=10_300).contains(&a.len()), "{}", a.len());
        let gaps: Vec<f64> = a.windows(2).map(|w| w[1] - w[0]).collect();
        let cv = {
            let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
            let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
            var.sqrt() / mean
        };
        assert!(
            (0.95..1.05).contains(&cv),
            "exponential gaps have cv 1, got {cv}"
        );
    }
}
