//! `targets[].by_client` of `summary.json`: a target that sends as several identities
//! (`clients`), broken down per identity. Labels only, never a key or secret.
//!
//! Built from the recorder's per-identity tallies ([`ClientTallies`]), which are not in
//! the interval log: a run rebuilt from its logs, and `gatebench merge`, have none.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::record::clients::ClientTallies;

/// One identity's steady-phase results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientSummary {
    /// Its `name`, else `client-N`.
    pub label: String,
    pub requests: u64,
    pub ok: u64,
    pub throttled: u64,
    /// Neither ok nor throttled.
    pub errors: u64,
    /// Median and 99th percentile of its ok response times, µs (`None`: no ok request).
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    /// Ok responses per second of the target's measured time: what it was let through.
    pub ok_per_s: f64,
    /// Throttled responses per second of the target's measured time.
    pub throttled_per_s: f64,
    /// Throttled responses in each second (for the outcomes chart).
    pub throttled_by_second: SecondCounts,
}

/// Counts per second: `counts[i]` is second `first_second + i` since the run started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondCounts {
    pub first_second: u64,
    pub counts: Vec<u64>,
}

/// Target `index`'s identities, `labels` in identity order, over `measured` steady time;
/// empty when it has one identity.
pub fn of_target(
    labels: &[String],
    index: usize,
    tallies: &ClientTallies,
    measured: Duration,
) -> Vec<ClientSummary> {
    if labels.len() < 2 {
        return Vec::new();
    }
    let of = tallies.of_target(index);
    let secs = measured.as_secs_f64();
    let per_s = |n: u64| match secs > 0.0 {
        true => (n as f64 / secs * 100.0).round() / 100.0,
        false => 0.0,
    };
    labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let tally = u16::try_from(i).ok().and_then(|i| of.get(&i));
            let Some(t) = tally else {
                return ClientSummary {
                    label: label.clone(),
                    requests: 0,
                    ok: 0,
                    throttled: 0,
                    errors: 0,
                    p50_us: None,
                    p99_us: None,
                    ok_per_s: 0.0,
                    throttled_per_s: 0.0,
                    throttled_by_second: SecondCounts::default(),
                };
            };
            let q = |p: f64| (t.ok > 0).then(|| t.ok_latency.value_at_quantile(p));
            let throttled_by_second = match (
                t.throttled_by_second.keys().next(),
                t.throttled_by_second.keys().last(),
            ) {
                (Some(&first), Some(&last)) => SecondCounts {
                    first_second: first,
                    counts: (first..=last)
                        .map(|s| t.throttled_by_second.get(&s).copied().unwrap_or(0))
                        .collect(),
                },
                _ => SecondCounts::default(),
            };
            ClientSummary {
                label: label.clone(),
                requests: t.requests,
                ok: t.ok,
                throttled: t.throttled,
                errors: t.errors(),
                p50_us: q(0.5),
                p99_us: q(0.99),
                ok_per_s: per_s(t.ok),
                throttled_per_s: per_s(t.throttled),
                throttled_by_second,
            }
        })
        .collect()
}
