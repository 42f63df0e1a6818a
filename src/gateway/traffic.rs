//! Traffic controls around the backend call and at the door: `ip-filter` address
//! matching, `limit-concurrency` counters and `retry` delays.
//!
//! Owns the arithmetic of these policies only; `policy` parses them and `pipeline`
//! decides when they apply and builds APIM's answers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `ip-filter`: which callers pass.
#[derive(Debug, Clone, PartialEq)]
pub struct IpFilter {
    /// `action="allow"` (only listed callers pass) or `"forbid"` (listed callers do not).
    pub allow: bool,
    /// Single addresses and inclusive ranges (a single address is a range of one).
    pub ranges: Vec<(IpAddr, IpAddr)>,
}

impl IpFilter {
    /// Whether `ip` is listed (IPv4-mapped IPv6 addresses count as their IPv4 form).
    fn lists(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.ranges.iter().any(|(from, to)| {
            let (from, to) = (from.to_canonical(), to.to_canonical());
            from.is_ipv4() == ip.is_ipv4() && from <= ip && ip <= to
        })
    }

    /// APIM's refusal message for `ip`, or `None` when it passes
    /// (api-management-error-handling-policies.md: CallerIpNotAllowed, CallerIpBlocked).
    pub fn refusal(&self, ip: IpAddr) -> Option<String> {
        match (self.allow, self.lists(ip)) {
            (true, false) => Some(format!(
                "Caller IP address {} is not allowed. Access denied.",
                ip.to_canonical()
            )),
            (false, true) => Some("Caller IP address is blocked. Access denied.".into()),
            _ => None,
        }
    }
}

/// `limit-concurrency`: at most `max` requests per key value inside the enclosed
/// policies at once.
#[derive(Debug)]
pub struct ConcurrencyLimit {
    pub max: u64,
    in_flight: Arc<Mutex<HashMap<String, u64>>>,
}

/// A slot held while the enclosed policies run; dropping it frees the slot.
#[derive(Debug)]
pub struct ConcurrencySlot {
    key: String,
    in_flight: Arc<Mutex<HashMap<String, u64>>>,
}

impl ConcurrencyLimit {
    /// A limit of `max` at once per key.
    pub fn new(max: u64) -> Self {
        ConcurrencyLimit {
            max,
            in_flight: Arc::default(),
        }
    }

    /// A slot for `key`, or `None` when `max` requests with that key are already inside.
    pub fn enter(&self, key: &str) -> Option<ConcurrencySlot> {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(key.to_string()).or_default();
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ConcurrencySlot {
            key: key.to_string(),
            in_flight: self.in_flight.clone(),
        })
    }
}

impl Drop for ConcurrencySlot {
    fn drop(&mut self) {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// `retry`'s schedule: how long to wait before each retry.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryDelays {
    /// Retries after the first attempt (1..=50).
    pub count: u32,
    pub interval: Duration,
    pub max_interval: Option<Duration>,
    pub delta: Option<Duration>,
    /// The first retry is sent at once.
    pub first_fast_retry: bool,
}

impl RetryDelays {
    /// The wait before retry number `n` (1-based), as retry-policy.md describes:
    /// `interval` alone is a fixed interval; with `delta`, linear
    /// (`interval + (n-1)·delta`); with `delta` and `max-interval`, exponential
    /// (`interval + (2^(n-1) − 1)·delta`, capped at `max-interval`). The stand-in does not
    /// randomise the exponential delta.
    pub fn before(&self, n: u32) -> Duration {
        if n == 1 && self.first_fast_retry {
            return Duration::ZERO;
        }
        let steps = n.saturating_sub(1);
        match (self.delta, self.max_interval) {
            (None, _) => self.interval,
            (Some(delta), None) => self.interval + delta.saturating_mul(steps),
            (Some(delta), Some(max)) => {
                let factor = 2u32.saturating_pow(steps.min(30)) - 1;
                (self.interval + delta.saturating_mul(factor)).min(max)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ip_filter_allows_and_forbids_listed_addresses_and_ranges() {
        // ip-filter-policy.md: `allow` passes only the listed callers, `forbid` refuses them.
        let ranges = vec![
            (ip("10.0.0.5"), ip("10.0.0.5")),
            (ip("127.0.0.10"), ip("127.0.0.20")),
        ];
        let allow = IpFilter {
            allow: true,
            ranges: ranges.clone(),
        };
        assert_eq!(allow.refusal(ip("127.0.0.15")), None);
        assert_eq!(allow.refusal(ip("::ffff:127.0.0.10")), None);
        assert_eq!(
            allow.refusal(ip("127.0.0.21")).unwrap(),
            "Caller IP address 127.0.0.21 is not allowed. Access denied."
        );
        assert!(allow.refusal(ip("::1")).is_some());
        let forbid = IpFilter {
            allow: false,
            ranges,
        };
        assert_eq!(
            forbid.refusal(ip("10.0.0.5")).unwrap(),
            "Caller IP address is blocked. Access denied."
        );
        assert_eq!(forbid.refusal(ip("10.0.0.6")), None);
    }

    #[test]
    fn concurrency_slots_are_counted_per_key_and_freed_on_drop() {
        let limit = ConcurrencyLimit::new(2);
        let a1 = limit.enter("a").unwrap();
        let _a2 = limit.enter("a").unwrap();
        assert!(limit.enter("a").is_none());
        let _b = limit.enter("b").unwrap();
        drop(a1);
        assert!(limit.enter("a").is_some());
    }

    #[test]
    fn retry_delays_follow_the_documented_schedules() {
        let s = |ms| Duration::from_millis(ms);
        let fixed = RetryDelays {
            count: 3,
            interval: s(100),
            max_interval: None,
            delta: None,
            first_fast_retry: false,
        };
        assert_eq!(
            (1..=3).map(|n| fixed.before(n)).collect::<Vec<_>>(),
            [s(100); 3]
        );
        let linear = RetryDelays {
            delta: Some(s(50)),
            first_fast_retry: true,
            ..fixed.clone()
        };
        assert_eq!(
            (1..=3).map(|n| linear.before(n)).collect::<Vec<_>>(),
            [s(0), s(150), s(200)]
        );
        let exponential = RetryDelays {
            delta: Some(s(100)),
            max_interval: Some(s(500)),
            ..fixed
        };
        assert_eq!(
            (1..=4).map(|n| exponential.before(n)).collect::<Vec<_>>(),
            [s(100), s(200), s(400), s(500)]
        );
    }
}
