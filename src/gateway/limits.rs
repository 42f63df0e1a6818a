//! Counters for `rate-limit`/`rate-limit-by-key` (sliding window) and `quota-by-key`
//! (fixed window). Owns the arithmetic only; the pipeline decides what to count and
//! builds the 429/403 answers.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The answer to "may this request pass?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// It may; `remaining` calls are left in the window after it.
    Allowed { remaining: u64 },
    /// It may not; a slot frees in `retry_after_secs` (≥ 1).
    Throttled { retry_after_secs: u64 },
}

/// `calls` per sliding `period`, one window per counter key.
pub struct SlidingWindow {
    pub calls: u64,
    pub period: Duration,
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl SlidingWindow {
    /// A limiter allowing `calls` per `period`.
    pub fn new(calls: u64, period: Duration) -> Self {
        SlidingWindow {
            calls,
            period,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Checks `key` at `now` and, if allowed and `count` is set, counts the call.
    pub fn admit(&self, key: &str, now: Instant, count: bool) -> Admission {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = windows.entry(key.to_string()).or_default();
        while w
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.period)
        {
            w.pop_front();
        }
        if (w.len() as u64) < self.calls {
            if count {
                w.push_back(now);
            }
            Admission::Allowed {
                remaining: self.calls - w.len() as u64,
            }
        } else {
            let frees_at = w.front().map_or(now, |t| *t + self.period);
            Admission::Throttled {
                retry_after_secs: ceil_secs(frees_at.saturating_duration_since(now)),
            }
        }
    }

    /// Counts a call made at `at` (for `increment-condition`s decided after the response).
    pub fn count(&self, key: &str, at: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.entry(key.to_string()).or_default().push_back(at);
    }
}

/// Whole seconds, rounded up, at least 1.
pub fn ceil_secs(d: Duration) -> u64 {
    (d.as_millis().div_ceil(1000) as u64).max(1)
}

/// Which quota ran out; `renews_in` is `None` for a quota that never renews.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaExceeded {
    Calls { renews_in: Option<Duration> },
    Bandwidth { renews_in: Option<Duration> },
}

struct QuotaWindow {
    /// Which period the counts belong to (always 0 for a quota that never renews).
    period_index: i64,
    calls: u64,
    bytes: u64,
}

/// `calls` and/or `kilobytes` per fixed `period`, one window per counter key. Windows are
/// aligned to `first_period_start` as in APIM (quota-by-key-policy.md: "the start of each
/// period is calculated relative to first-period-start"), not to a key's first call.
pub struct FixedWindowQuota {
    pub calls: Option<u64>,
    pub kilobytes: Option<u64>,
    /// `None`: the quota never renews (`renewal-period="0"`).
    pub period: Option<Duration>,
    /// Unix seconds of the first period's start.
    pub first_period_start: i64,
    windows: Mutex<HashMap<String, QuotaWindow>>,
}

impl FixedWindowQuota {
    /// APIM's default `first-period-start`, 0001-01-01T00:00:00Z, in Unix seconds.
    pub const DEFAULT_FIRST_PERIOD_START: i64 = -62_135_596_800;

    /// A quota of `calls` requests and/or `kilobytes` of bodies per `period` (`None`:
    /// for ever), periods counted from `first_period_start` (Unix seconds).
    pub fn new(
        calls: Option<u64>,
        kilobytes: Option<u64>,
        period: Option<Duration>,
        first_period_start: i64,
    ) -> Self {
        FixedWindowQuota {
            calls,
            kilobytes,
            period,
            first_period_start,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The period `now` falls in and the time until it ends (`None`: never).
    fn period_at(&self, now: SystemTime) -> (i64, Option<Duration>) {
        let Some(period) = self.period else {
            return (0, None);
        };
        let since_epoch = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i128,
            Err(e) => -(e.duration().as_millis() as i128),
        };
        let since_start = since_epoch - i128::from(self.first_period_start) * 1000;
        let period_ms = period.as_millis() as i128;
        let index = since_start.div_euclid(period_ms);
        let into = since_start.rem_euclid(period_ms);
        (
            index as i64,
            Some(Duration::from_millis((period_ms - into) as u64)),
        )
    }

    /// Checks `key` at `now`; if allowed and `count` is set, counts one call.
    pub fn admit(&self, key: &str, now: SystemTime, count: bool) -> Result<(), QuotaExceeded> {
        let (period_index, renews_in) = self.period_at(now);
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = windows.entry(key.to_string()).or_insert(QuotaWindow {
            period_index,
            calls: 0,
            bytes: 0,
        });
        if w.period_index != period_index {
            *w = QuotaWindow {
                period_index,
                calls: 0,
                bytes: 0,
            };
        }
        if self.calls.is_some_and(|c| w.calls >= c) {
            return Err(QuotaExceeded::Calls { renews_in });
        }
        if self.kilobytes.is_some_and(|kb| w.bytes >= kb * 1024) {
            return Err(QuotaExceeded::Bandwidth { renews_in });
        }
        if count {
            w.calls += 1;
        }
        Ok(())
    }

    /// Adds `calls` and `bytes` to `key`'s current window.
    pub fn add(&self, key: &str, calls: u64, bytes: u64) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = windows.get_mut(key) {
            w.calls += calls;
            w.bytes += bytes;
        }
    }
}

/// `hh:mm:ss`, as in APIM's quota message.
pub fn hh_mm_ss(d: Duration) -> String {
    let s = ceil_secs(d);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_frees_slots_as_calls_age() {
        let w = SlidingWindow::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(w.admit("a", t0, true), Admission::Allowed { remaining: 1 });
        let t1 = t0 + Duration::from_secs(4);
        assert_eq!(w.admit("a", t1, true), Admission::Allowed { remaining: 0 });
        assert_eq!(
            w.admit("a", t0 + Duration::from_millis(5500), true),
            Admission::Throttled {
                retry_after_secs: 5
            }
        );
        assert_eq!(w.admit("b", t1, true), Admission::Allowed { remaining: 1 });
        // The first call leaves the window at t0+10s; the second is still in it.
        assert_eq!(
            w.admit("a", t0 + Duration::from_secs(10), true),
            Admission::Allowed { remaining: 0 }
        );
    }

    fn at(unix_secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix_secs)
    }

    // quota-by-key-policy.md: "Fixed window length … The start of each period is
    // calculated relative to first-period-start" (default 0001-01-01T00:00:00Z).
    #[test]
    fn fixed_window_quota_periods_align_to_first_period_start() {
        let period = Some(Duration::from_secs(300));
        let q = FixedWindowQuota::new(
            Some(1),
            Some(1),
            period,
            FixedWindowQuota::DEFAULT_FIRST_PERIOD_START,
        );
        // 1_000_000_100 is 200 s into a period that started at 999_999_900 (a multiple
        // of 300 s after 0001-01-01), not at the key's first call.
        let t0 = 1_000_000_100;
        assert_eq!(q.admit("k", at(t0), true), Ok(()));
        assert_eq!(
            q.admit("k", at(t0 + 15), true),
            Err(QuotaExceeded::Calls {
                renews_in: Some(Duration::from_secs(85))
            })
        );
        assert_eq!(q.admit("k", at(t0 + 100), true), Ok(()), "a new period");
        q.add("k", 0, 2048);
        assert!(matches!(
            q.admit("k", at(t0 + 101), false),
            Err(QuotaExceeded::Calls { .. })
        ));
        assert_eq!(hh_mm_ss(Duration::from_secs(3725)), "01:02:05");

        let shifted = FixedWindowQuota::new(Some(1), None, period, 1_000_000_090);
        assert_eq!(shifted.admit("k", at(t0), true), Ok(()));
        assert_eq!(
            shifted.admit("k", at(t0 + 1), true),
            Err(QuotaExceeded::Calls {
                renews_in: Some(Duration::from_secs(289))
            })
        );
    }

    // quota-by-key-policy.md: "When renewal-period is set to 0, the period is set to infinite."
    #[test]
    fn zero_renewal_period_never_renews() {
        let q = FixedWindowQuota::new(Some(1), None, None, 0);
        assert_eq!(q.admit("k", at(1_000), true), Ok(()));
        assert_eq!(
            q.admit("k", at(1_000_000_000), true),
            Err(QuotaExceeded::Calls { renews_in: None })
        );
    }
}
