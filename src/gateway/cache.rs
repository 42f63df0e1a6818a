//! The stand-in's response cache for `cache-lookup`/`cache-store`.
//!
//! Owns storing and expiring whole responses (≤ 2 MiB each, a bounded total). It does
//! not decide what is cacheable or build keys; the pipeline does. Like APIM's internal
//! cache, nothing invalidates an entry early: a PUT to a cached key leaves the old
//! response in place until its `duration` ends.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

/// The largest response body APIM caches.
pub const MAX_CACHED_BODY: u64 = 2 * 1024 * 1024;

/// Total bytes of bodies kept; beyond this new entries are not stored.
const MAX_TOTAL_BYTES: usize = 256 * 1024 * 1024;

/// A stored response.
#[derive(Clone)]
pub struct CachedResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub expires_at: Instant,
}

/// Cached responses by key.
#[derive(Default)]
pub struct ResponseCache {
    entries: Mutex<HashMap<String, CachedResponse>>,
}

impl ResponseCache {
    /// The live entry for `key`, if any.
    pub fn get(&self, key: &str, now: Instant) -> Option<CachedResponse> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some(e) if e.expires_at > now => Some(e.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores `entry` under `key`, dropping expired entries first; skipped when full.
    pub fn put(&self, key: String, entry: CachedResponse, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut total: usize = entries.values().map(|e| e.body.len()).sum();
        if total + entry.body.len() > MAX_TOTAL_BYTES {
            entries.retain(|_, e| e.expires_at > now);
            total = entries.values().map(|e| e.body.len()).sum();
        }
        if total + entry.body.len() <= MAX_TOTAL_BYTES {
            entries.insert(key, entry);
        }
    }
}
