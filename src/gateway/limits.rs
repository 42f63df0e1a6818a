//! Counters for `rate-limit`/`rate-limit-by-key` (sliding window) and `quota-by-key`
//! (fixed window). Owns the arithmetic only; the pipeline decides what to count and
//! builds the 429/403 answers.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// Which quota ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaExceeded {
    Calls { renews_in: Duration },
    Bandwidth { renews_in: Duration },
}

struct QuotaWindow {
    started: Instant,
    calls: u64,
    bytes: u64,
}

/// `calls` and/or `kilobytes` per fixed `period`, one window per counter key; a key's
/// first request starts its window.
pub struct FixedWindowQuota {
    pub calls: Option<u64>,
    pub kilobytes: Option<u64>,
    pub period: Duration,
    windows: Mutex<HashMap<String, QuotaWindow>>,
}

impl FixedWindowQuota {
    /// A quota of `calls` requests and/or `kilobytes` of bodies per `period`.
    pub fn new(calls: Option<u64>, kilobytes: Option<u64>, period: Duration) -> Self {
        FixedWindowQuota {
            calls,
            kilobytes,
            period,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Checks `key` at `now`; if allowed and `count` is set, counts one call.
    pub fn admit(&self, key: &str, now: Instant, count: bool) -> Result<(), QuotaExceeded> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = windows.entry(key.to_string()).or_insert(QuotaWindow {
            started: now,
            calls: 0,
            bytes: 0,
        });
        if now.duration_since(w.started) >= self.period {
            *w = QuotaWindow {
                started: now,
                calls: 0,
                bytes: 0,
            };
        }
        let renews_in = (w.started + self.period).saturating_duration_since(now);
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

    #[test]
    fn fixed_window_quota_resets_at_renewal() {
        let q = FixedWindowQuota::new(Some(1), Some(1), Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(q.admit("k", t0, true), Ok(()));
        assert_eq!(
            q.admit("k", t0 + Duration::from_secs(15), true),
            Err(QuotaExceeded::Calls {
                renews_in: Duration::from_secs(45)
            })
        );
        assert_eq!(q.admit("k", t0 + Duration::from_secs(60), true), Ok(()));
        q.add("k", 0, 2048);
        assert!(matches!(
            q.admit("k", t0 + Duration::from_secs(61), false),
            Err(QuotaExceeded::Calls { .. })
        ));
        assert_eq!(hh_mm_ss(Duration::from_secs(3725)), "01:02:05");
    }
}
