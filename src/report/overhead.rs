//! What a gateway adds: candidate minus baseline latency, per operation and percentile.
//!
//! The baseline is the first target of kind `s3` or `embedded`; candidates are targets of
//! kind `gateway`. Values come from the summary's merged `ok` latency.

use crate::plan::{Kind, OpKind};
use crate::results::summary::{LatencyStats, Summary, TargetSummary};

/// Reads one percentile of a summary's latency stats.
pub type Field = fn(&LatencyStats) -> u64;

/// The percentiles compared (p50, p90, p99, p99.9): quantile and summary field.
pub const PERCENTILES: [(f64, Field); 4] = [
    (0.50, |l| l.p50),
    (0.90, |l| l.p90),
    (0.99, |l| l.p99),
    (0.999, |l| l.p99_9),
];

/// One candidate against the baseline on one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct OpOverhead {
    pub op: OpKind,
    pub baseline: String,
    pub candidate: String,
    /// Baseline `ok` latency at [`PERCENTILES`], µs.
    pub baseline_us: [u64; 4],
    /// Candidate `ok` latency at [`PERCENTILES`], µs.
    pub candidate_us: [u64; 4],
}

impl OpOverhead {
    /// Candidate minus baseline at percentile index `i`, ms.
    pub fn delta_ms(&self, i: usize) -> f64 {
        (self.candidate_us[i] as f64 - self.baseline_us[i] as f64) / 1000.0
    }
}

/// The outcome of looking for a comparison in a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Overheads {
    /// No target of kind `gateway`.
    NoGateway,
    /// Gateways but no `s3`/`embedded` target to compare them with.
    NoBaseline,
    /// Pairs on operations both sides have `ok` latency for (may be empty).
    Pairs(Vec<OpOverhead>),
}

/// The baseline target: the first of kind `s3` or `embedded`.
pub fn baseline(summary: &Summary) -> Option<&TargetSummary> {
    summary.targets.iter().find(|t| t.kind.is_direct())
}

/// Compares every gateway target with the baseline.
pub fn overheads(summary: &Summary) -> Overheads {
    let candidates: Vec<&TargetSummary> = summary
        .targets
        .iter()
        .filter(|t| t.kind == Kind::Gateway)
        .collect();
    if candidates.is_empty() {
        return Overheads::NoGateway;
    }
    let Some(base) = baseline(summary) else {
        return Overheads::NoBaseline;
    };
    let at = |l: &LatencyStats| PERCENTILES.map(|(_, f)| f(l));
    let mut pairs = Vec::new();
    for cand in candidates {
        for op in &cand.ops {
            let Some(c) = &op.latency_us else { continue };
            let Some(b) = base
                .ops
                .iter()
                .find(|b| b.op == op.op)
                .and_then(|b| b.latency_us.as_ref())
            else {
                continue;
            };
            pairs.push(OpOverhead {
                op: op.op,
                baseline: base.name.clone(),
                candidate: cand.name.clone(),
                baseline_us: at(b),
                candidate_us: at(c),
            });
        }
    }
    Overheads::Pairs(pairs)
}
