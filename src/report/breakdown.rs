//! Where the time of an average `ok` request went, per target and operation: waiting to
//! be sent, TCP connect, TLS handshake, waiting for the first byte, and transfer.
//!
//! Means, not percentiles: means add up (the five parts sum to the mean response time),
//! percentiles do not. Connect and TLS times are spread over all `ok` requests, so a
//! keep-alive run shows them near zero and a per-request run shows their full cost.
//! Values come from the summary's merged histograms.

use crate::plan::OpKind;
use crate::results::summary::{LatencyStats, OpSummary, Summary};

/// The parts of a request's time, in the order they happen.
pub const PARTS: [&str; 5] = [
    "waiting to send",
    "connect",
    "TLS",
    "to first byte",
    "transfer",
];

/// One target's operation, its mean response time cut into [`PARTS`], µs.
#[derive(Debug, Clone, PartialEq)]
pub struct Breakdown {
    pub target: String,
    pub op: OpKind,
    pub parts_us: [f64; 5],
}

impl Breakdown {
    /// The mean response time: the sum of the parts, µs.
    pub fn total_us(&self) -> f64 {
        self.parts_us.iter().sum()
    }
}

/// Every target's operations with `ok` requests, in summary order.
pub fn breakdowns(summary: &Summary) -> Vec<Breakdown> {
    summary
        .targets
        .iter()
        .flat_map(|t| {
            t.ops.iter().filter_map(|op| {
                Some(Breakdown {
                    target: t.name.clone(),
                    op: op.op,
                    parts_us: parts(op)?,
                })
            })
        })
        .collect()
}

/// The five parts of one operation's mean `ok` response time (`None`: no `ok` requests).
fn parts(op: &OpSummary) -> Option<[f64; 5]> {
    let latency = op.latency_us.as_ref()?;
    let n = latency.count as f64;
    let service = op.service_us.as_ref().map_or(latency.mean, |s| s.mean);
    // Total time spent in `stats` spread over every ok request.
    let spread =
        |stats: &Option<LatencyStats>| stats.as_ref().map_or(0.0, |s| s.mean * s.count as f64 / n);
    let queue = (latency.mean - service).max(0.0);
    let connect = spread(&op.connect_us);
    let tls = spread(&op.tls_us);
    // ttfb counts from the due time; from the send it is ttfb - queue.
    let to_headers = op
        .ttfb_us
        .as_ref()
        .map_or(service, |t| (t.mean - queue).clamp(0.0, service));
    let first_byte = (to_headers - connect - tls).max(0.0);
    let transfer = (service - to_headers).max(0.0);
    Some([queue, connect, tls, first_byte, transfer])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(count: u64, mean: f64) -> Option<LatencyStats> {
        Some(LatencyStats {
            count,
            min: 0,
            mean,
            p50: 0,
            p90: 0,
            p99: 0,
            p99_9: 0,
            p99_99: 0,
            max: 0,
        })
    }

    /// 10 ok requests, 2 of which opened a TLS connection: the parts add up to the mean
    /// latency, and connect/TLS are spread over all ten.
    #[test]
    fn parts_add_up_to_the_mean_latency() {
        let mut op = OpSummary::empty(OpKind::Get);
        op.latency_us = stats(10, 1500.0);
        op.service_us = stats(10, 1200.0);
        op.ttfb_us = stats(10, 1300.0);
        op.connect_us = stats(2, 100.0);
        op.tls_us = stats(2, 400.0);
        let p = parts(&op).unwrap();
        assert_eq!(p, [300.0, 20.0, 80.0, 900.0, 200.0]);
        assert!((p.iter().sum::<f64>() - 1500.0).abs() < 1e-9);
    }

    #[test]
    fn an_op_without_ok_requests_has_no_breakdown() {
        assert_eq!(parts(&OpSummary::empty(OpKind::Put)), None);
    }
}
