//! `[load] executor = "find-capacity"`: its fields, checked into a [`CapacitySearch`].

use std::ops::Range;
use std::time::Duration;

use serde_spanned::Spanned;

use super::bounds::{MAX_IN_FLIGHT, MAX_TIMEOUT, WHY_IN_FLIGHT};
use super::{Checked, Validator, file};
use crate::plan::capacity::{
    CapacitySearch, Growth, MAX_BISECT_STEPS, MAX_CLIMB_STEPS, MIN_STEP_DURATION,
};

/// The fields `find-capacity` takes.
pub(super) const FIELDS: &[&str] = &[
    "start_rate",
    "factor",
    "step",
    "step_duration",
    "max_rate",
    "slo_p99",
    "max_in_flight",
    "max_error_ratio",
    "max_throttle_ratio",
    "min_accepted_ratio",
    "bisect_steps",
];

impl Validator<'_> {
    /// `executor = "find-capacity"`: the climb, the bounds of a good step, the bisection.
    pub(super) fn find_capacity(&self, l: &file::LoadSection) -> Checked<CapacitySearch> {
        let start_rate = self.rate(l, &l.start_rate, "start_rate", false)?;
        let max_rate = self.rate(l, &l.max_rate, "max_rate", false)?;
        if max_rate < start_rate {
            let span = l.max_rate.as_ref().map(|v| v.span()).unwrap_or_default();
            return Err(self.err(span, "load.max_rate", "must be >= start_rate"));
        }
        let growth = match (&l.factor, &l.step) {
            (Some(f), None) if f.get_ref().is_finite() && *f.get_ref() > 1.0 => {
                Growth::Factor(*f.get_ref())
            }
            (Some(f), None) => {
                return Err(self.err(f.span(), "load.factor", "must be > 1"));
            }
            (None, Some(_)) => Growth::Step(self.rate(l, &l.step, "step", false)?),
            (Some(_), Some(s)) => {
                return Err(self.err(s.span(), "load.step", "give `factor` or `step`, not both"));
            }
            (None, None) => {
                return Err(self.err(
                    l.executor.span(),
                    "load.factor",
                    "find-capacity needs `factor` (e.g. 1.5) or `step` (requests per second added each step)",
                ));
            }
        };
        let duration = |v: &Option<Spanned<String>>,
                        name: &str|
         -> Checked<(Duration, Range<usize>, String)> {
            let v = v.as_ref().ok_or_else(|| self.missing(l, name))?;
            let field = format!("load.{name}");
            let d = self.duration(v, &field, MAX_TIMEOUT)?;
            Ok((d, v.span(), field))
        };
        let (step_duration, span, field) = duration(&l.step_duration, "step_duration")?;
        if step_duration < MIN_STEP_DURATION {
            return Err(self.err(span, &field, "must be at least 100ms"));
        }
        let (slo_p99, span, field) = duration(&l.slo_p99, "slo_p99")?;
        if slo_p99.is_zero() {
            return Err(self.err(span, &field, "must be > 0"));
        }
        let max_in_flight = match &l.max_in_flight {
            Some(n) => {
                self.count(n, "load.max_in_flight", 1, MAX_IN_FLIGHT, WHY_IN_FLIGHT)? as usize
            }
            None => 256,
        };
        let bisect_steps = match &l.bisect_steps {
            Some(n) => {
                let why = "each halves the interval; 20 is below a millionth of it";
                self.count(n, "load.bisect_steps", 0, MAX_BISECT_STEPS.into(), why)? as u32
            }
            None => 3,
        };
        let search = CapacitySearch {
            start_rate,
            growth,
            step_duration,
            max_rate,
            slo_p99,
            max_in_flight,
            max_error_ratio: self.ratio(&l.max_error_ratio, "max_error_ratio", 0.01)?,
            max_throttle_ratio: self.ratio(&l.max_throttle_ratio, "max_throttle_ratio", 0.01)?,
            min_accepted_ratio: self.ratio(&l.min_accepted_ratio, "min_accepted_ratio", 0.95)?,
            bisect_steps,
        };
        if search.climb().len() > MAX_CLIMB_STEPS {
            let span = l.max_rate.as_ref().map(|v| v.span()).unwrap_or_default();
            return Err(self.err(
                span,
                "load.max_rate",
                format!(
                    "the climb from start_rate to max_rate takes more than {MAX_CLIMB_STEPS} steps; raise `factor` or `step`, or lower `max_rate`"
                ),
            ));
        }
        Ok(search)
    }

    /// A share from 0 to 1 (`default` when left out).
    fn ratio(&self, v: &Option<Spanned<f64>>, name: &str, default: f64) -> Checked<f64> {
        match v {
            None => Ok(default),
            Some(r) if (0.0..=1.0).contains(r.get_ref()) => Ok(*r.get_ref()),
            Some(r) => Err(self.err(r.span(), &format!("load.{name}"), "must be from 0 to 1")),
        }
    }
}
