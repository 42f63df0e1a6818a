//! Server-side timing: what a response's `Server-Timing` header said the gateway, the
//! backend and the gateway's cache took, and the histograms those go into.
//!
//! Owns the per-response value ([`ServerTiming`]) and its histograms per series
//! ([`ServerTimingHistograms`]); parsing the header is the client's, summarising it the
//! results'.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::{micros, new_histogram};

/// The named components of one response's `Server-Timing` header (absent: not sent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerTiming {
    /// Time spent in the gateway itself (policies, added latency, relaying).
    pub gateway: Option<Duration>,
    /// Time the backend took, from the forwarded request to its response headers.
    pub backend: Option<Duration>,
    /// Time a gateway cache lookup took (cache hits).
    pub cache: Option<Duration>,
}

impl ServerTiming {
    /// True if the response carried none of the named components.
    pub fn is_empty(&self) -> bool {
        self.gateway.is_none() && self.backend.is_none() && self.cache.is_none()
    }

    /// The sum of the components present.
    pub fn named_total(&self) -> Duration {
        [self.gateway, self.backend, self.cache]
            .into_iter()
            .flatten()
            .fold(Duration::ZERO, Duration::saturating_add)
    }
}

/// Histograms of the server-side components of one series, µs; each is absent until a
/// response carried that component.
#[derive(Debug, Clone, Default)]
pub struct ServerTimingHistograms {
    pub gateway: Option<Histogram<u64>>,
    pub backend: Option<Histogram<u64>>,
    pub cache: Option<Histogram<u64>>,
    /// Service time minus the named components (at least 1 µs): network and client.
    /// Recorded only for responses that carried some component.
    pub unattributed: Option<Histogram<u64>>,
}

impl ServerTimingHistograms {
    /// Records `timing` of a request whose service time was `service`.
    pub fn record(&mut self, timing: &ServerTiming, service: Duration) {
        if timing.is_empty() {
            return;
        }
        for (h, d) in [
            (&mut self.gateway, timing.gateway),
            (&mut self.backend, timing.backend),
            (&mut self.cache, timing.cache),
            (
                &mut self.unattributed,
                Some(service.saturating_sub(timing.named_total())),
            ),
        ] {
            if let Some(d) = d {
                // Auto-resizing, so recording cannot fail on range.
                let _ = h.get_or_insert_with(new_histogram).record(micros(d));
            }
        }
    }

    /// Adds another series' histograms to these.
    pub fn merge(&mut self, other: &ServerTimingHistograms) {
        for (mine, theirs) in [
            (&mut self.gateway, &other.gateway),
            (&mut self.backend, &other.backend),
            (&mut self.cache, &other.cache),
            (&mut self.unattributed, &other.unattributed),
        ] {
            if let Some(h) = theirs {
                let _ = mine.get_or_insert_with(new_histogram).add(h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn the_rest_of_the_service_time_is_unattributed_and_floored_at_one_microsecond() {
        let mut h = ServerTimingHistograms::default();
        let timing = ServerTiming {
            gateway: ms(2),
            backend: ms(5),
            cache: None,
        };
        h.record(&timing, Duration::from_millis(8));
        h.record(&timing, Duration::from_millis(6));
        let unattributed = h.unattributed.as_ref().unwrap();
        assert_eq!(unattributed.len(), 2);
        assert_eq!(
            unattributed.min(),
            1,
            "shorter than the components: floored"
        );
        assert_eq!(unattributed.max(), unattributed.highest_equivalent(1000));
        assert_eq!(h.gateway.as_ref().unwrap().len(), 2);
        assert!(h.cache.is_none());
    }

    #[test]
    fn responses_without_timing_record_nothing_and_merging_adds() {
        let mut a = ServerTimingHistograms::default();
        a.record(&ServerTiming::default(), Duration::from_millis(3));
        assert!(a.unattributed.is_none() && a.gateway.is_none());
        let mut b = ServerTimingHistograms::default();
        let hit = ServerTiming {
            gateway: ms(1),
            backend: None,
            cache: ms(1),
        };
        b.record(&hit, Duration::from_millis(4));
        a.merge(&b);
        a.merge(&b);
        assert_eq!(a.cache.as_ref().unwrap().len(), 2);
        assert_eq!(a.unattributed.as_ref().unwrap().len(), 2);
        assert!(a.backend.is_none());
    }
}
