//! The stand-in's `Server-Timing` response header: where a request's time went inside
//! the gateway, in the form real APIM sends with the shipped `policy.xml`.
//!
//! A forwarded response gets `Server-Timing: gateway;dur=G, backend;dur=B` and a cache
//! hit `gateway;dur=G, cache;dur=C` (milliseconds, three decimals). `B` runs from the
//! start of the forwarded request to the backend's response headers: bodies stream
//! through, so when the headers leave the gateway the backend's last byte is not known
//! yet. `C` is the cache lookup. `G` is the rest of the time from the request's arrival
//! (after routing) until the header is set: the policies, the configured
//! `added_latency`, and, when `cache-store` buffers a body, reading it.
//!
//! Error answers (refusals, `on-error`) carry no header.

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue};

/// The `Server-Timing` response header.
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The clock of one request through the gateway.
pub struct Stopwatch {
    arrived: Instant,
    forwarded_at: Option<Instant>,
    backend: Option<Duration>,
    cache: Option<Duration>,
}

impl Stopwatch {
    /// A request that arrived at `arrived`.
    pub fn started(arrived: Instant) -> Self {
        Stopwatch {
            arrived,
            forwarded_at: None,
            backend: None,
            cache: None,
        }
    }

    /// The cache lookup took `took`.
    pub fn cache_lookup(&mut self, took: Duration) {
        self.cache = Some(took);
    }

    /// The request is being forwarded to the backend now.
    pub fn forwarding(&mut self) {
        self.forwarded_at = Some(Instant::now());
    }

    /// The backend's response headers arrived now.
    pub fn backend_answered(&mut self) {
        self.backend = self.forwarded_at.map(|t| t.elapsed());
    }

    /// From the start of the forwarded request to the backend's response headers, once
    /// the backend answered.
    pub fn backend(&self) -> Option<Duration> {
        self.backend
    }

    /// Appends the `Server-Timing` header for a response leaving now: backend time if
    /// the request was forwarded, else the cache lookup (a cache hit).
    pub fn stamp(&self, headers: &mut HeaderMap) {
        let total = self.arrived.elapsed();
        let (name, part) = match (self.backend, self.cache) {
            (Some(b), _) => ("backend", b),
            (None, Some(c)) => ("cache", c),
            (None, None) => return,
        };
        let gateway = total.saturating_sub(part);
        let text = format!("gateway;dur={}, {name};dur={}", ms(gateway), ms(part));
        if let Ok(value) = HeaderValue::try_from(text) {
            headers.append(SERVER_TIMING, value);
        }
    }
}

/// `d` in milliseconds with three decimals, whatever the locale: `2.031`.
fn ms(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{:03}", us / 1000, us % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_and_cached_responses_name_their_parts() {
        let arrived = Instant::now() - Duration::from_millis(30);
        let mut forwarded = Stopwatch::started(arrived);
        forwarded.forwarding();
        std::thread::sleep(Duration::from_millis(5));
        forwarded.backend_answered();
        let mut h = HeaderMap::new();
        forwarded.stamp(&mut h);
        let line = h[SERVER_TIMING].to_str().unwrap().to_string();
        let (gateway, backend) = line
            .strip_prefix("gateway;dur=")
            .and_then(|l| l.split_once(", backend;dur="))
            .unwrap_or_else(|| panic!("{line}"));
        let gateway: f64 = gateway.parse().unwrap();
        let backend: f64 = backend.parse().unwrap();
        assert!((30.0..40.0).contains(&gateway), "{line}");
        assert!((5.0..15.0).contains(&backend), "{line}");

        let mut hit = Stopwatch::started(Instant::now());
        hit.cache_lookup(Duration::from_micros(42));
        hit.stamp(&mut h);
        let lines: Vec<_> = h.get_all(SERVER_TIMING).iter().collect();
        assert_eq!(lines.len(), 2, "appended, not replaced");
        let hit_line = lines[1].to_str().unwrap();
        assert!(hit_line.ends_with(", cache;dur=0.042"), "{hit_line}");

        let mut none = HeaderMap::new();
        Stopwatch::started(arrived).stamp(&mut none);
        assert!(none.is_empty(), "neither forwarded nor cached: no header");
        assert_eq!(ms(Duration::from_nanos(2_031_999)), "2.031");
    }
}
