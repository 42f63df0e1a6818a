//! Counters the stand-in exposes at `GET /__gatebench/stats` (stand-in only; real APIM
//! has no such endpoint), so tests can prove, e.g., that a cache hit never reached the
//! backend.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Running totals since the gateway started.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    forwarded: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    throttled: AtomicU64,
    quota_exceeded: AtomicU64,
    auth_failed: AtomicU64,
    backend_errors: AtomicU64,
    expression_errors: AtomicU64,
    jwt_refused: Mutex<BTreeMap<&'static str, u64>>,
}

/// A copy of the counters, as served in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    /// Requests received under the API prefix.
    pub requests: u64,
    /// Requests sent to the backend.
    pub forwarded: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// 429 answers from rate limits.
    pub throttled: u64,
    /// 403 answers from quotas.
    pub quota_exceeded: u64,
    /// 401/403 answers from subscription or JWT checks.
    pub auth_failed: u64,
    /// Backend unreachable or timed out.
    pub backend_errors: u64,
    /// Policy expressions that failed while a request was handled (logged; 500).
    pub expression_errors: u64,
    /// Tokens refused by validate-jwt, by reason (`expired`, `audience`, …).
    pub jwt_refused: BTreeMap<String, u64>,
}

/// Which counter to bump.
#[derive(Debug, Clone, Copy)]
pub enum Counter {
    Requests,
    Forwarded,
    CacheHit,
    CacheMiss,
    Throttled,
    QuotaExceeded,
    AuthFailed,
    BackendError,
    ExpressionError,
}

impl Stats {
    /// Adds one to `c`.
    pub fn bump(&self, c: Counter) {
        let a = match c {
            Counter::Requests => &self.requests,
            Counter::Forwarded => &self.forwarded,
            Counter::CacheHit => &self.cache_hits,
            Counter::CacheMiss => &self.cache_misses,
            Counter::Throttled => &self.throttled,
            Counter::QuotaExceeded => &self.quota_exceeded,
            Counter::AuthFailed => &self.auth_failed,
            Counter::BackendError => &self.backend_errors,
            Counter::ExpressionError => &self.expression_errors,
        };
        a.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a token refused for `reason`; returns how many have been refused for it.
    pub fn jwt_refused(&self, reason: &'static str) -> u64 {
        let mut counts = self.jwt_refused.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(reason).or_default();
        *n += 1;
        *n
    }

    /// The current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: g(&self.requests),
            forwarded: g(&self.forwarded),
            cache_hits: g(&self.cache_hits),
            cache_misses: g(&self.cache_misses),
            throttled: g(&self.throttled),
            quota_exceeded: g(&self.quota_exceeded),
            auth_failed: g(&self.auth_failed),
            backend_errors: g(&self.backend_errors),
            expression_errors: g(&self.expression_errors),
            jwt_refused: self
                .jwt_refused
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        }
    }
}
