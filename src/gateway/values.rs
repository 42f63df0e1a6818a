//! The stand-in's value cache for `cache-lookup-value`, `cache-store-value` and
//! `cache-remove-value`: expression values by key, each kept for its own duration.
//!
//! Owns storing, expiring and removing entries (a bounded number). It is separate from
//! the response cache (`gateway::cache`), as in APIM; it does not evaluate keys or
//! values: the pipeline does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::policy::expr::Value;

/// Entries kept at most; beyond this, new values are not stored.
const MAX_ENTRIES: usize = 100_000;

/// Cached values by key.
#[derive(Default)]
pub struct ValueCache {
    entries: Mutex<HashMap<String, (Value, Instant)>>,
}

impl ValueCache {
    /// The live value under `key`, if any.
    pub fn get(&self, key: &str, now: Instant) -> Option<Value> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((value, expires_at)) if *expires_at > now => Some(value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `value` under `key` for `duration`, dropping expired entries when full;
    /// skipped when still full.
    pub fn put(&self, key: String, value: Value, duration: Duration, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, (_, expires_at)| *expires_at > now);
        }
        if entries.len() < MAX_ENTRIES || entries.contains_key(&key) {
            entries.insert(key, (value, now + duration));
        }
    }

    /// Forgets the value under `key`.
    pub fn remove(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_expire_after_their_duration_and_can_be_removed() {
        let cache = ValueCache::default();
        let t0 = Instant::now();
        cache.put("a".into(), Value::Int(1), Duration::from_secs(10), t0);
        cache.put("b".into(), Value::Bool(true), Duration::from_secs(1), t0);
        assert!(matches!(cache.get("a", t0), Some(Value::Int(1))));
        assert!(cache.get("b", t0 + Duration::from_secs(2)).is_none());
        assert!(cache.get("a", t0 + Duration::from_secs(2)).is_some());
        cache.remove("a");
        assert!(cache.get("a", t0).is_none());
    }
}
