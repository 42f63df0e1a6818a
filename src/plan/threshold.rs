//! Thresholds as the scenario declares them: pass/fail rules over a run's summary.
//!
//! ```toml
//! thresholds = ["gateway.get.p99 < 40ms", "overhead.get.p50 < 3ms", "gateway.*.error_rate < 0.1%"]
//! ```
//!
//! Owns the grammar ([`parse`]) and the check of names against the scenario; evaluating
//! them against a run's summary is `crate::thresholds`'s business. The grammar is
//! documented in docs/ci.md.

mod parse;

use serde::{Serialize, Serializer};

pub use parse::{ParseError, parse};

use super::OpKind;

/// One parsed threshold expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The expression as written (trimmed).
    pub expression: String,
    /// What is measured.
    pub subject: Subject,
    pub cmp: Cmp,
    /// The limit in the metric's canonical unit: µs for latencies and overheads, a
    /// fraction for ratios, ops/s for throughput, MiB/s for `throughput_mibps`.
    pub value: f64,
}

/// Serialized as the expression, e.g. in `scenario.resolved.toml`.
impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expression)
    }
}

/// What a threshold measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// `<target|*>.<op|*>.<metric>`: one operation of a target.
    Op {
        target: Selector,
        op: Selector,
        metric: Metric,
    },
    /// `<target|*>.<metric>`: all operations of a target together.
    Target { target: Selector, metric: Metric },
    /// `overhead.<op|*>.<percentile>`: candidate − baseline of every summary comparison.
    Overhead { op: Selector, stat: Stat },
}

impl Subject {
    /// The metric measured (an overhead is a latency difference).
    pub fn metric(&self) -> Metric {
        match self {
            Subject::Op { metric, .. } | Subject::Target { metric, .. } => *metric,
            Subject::Overhead { stat, .. } => Metric::Latency(*stat),
        }
    }
}

/// A name or `*` (every name), with its character offset in the expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// `None` for `*`.
    pub name: Option<String>,
    /// Character offset in the expression, for messages.
    pub at: usize,
}

/// A summary statistic of `ok` latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P99_9,
    /// Largest value.
    Max,
    /// Arithmetic mean.
    Mean,
}

/// A measured quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `ok` latency (due time to last byte), µs.
    Latency(Stat),
    /// Requests not `ok` ÷ all requests.
    ErrorRate,
    /// `throttled` + `quota` requests ÷ all requests.
    ThrottledRatio,
    /// `ok` requests per second (`ok_ops_per_sec`).
    Throughput,
    /// All completed requests per second (`ops_per_sec`).
    OpsPerSec,
    /// Body MiB (up + down) per second (`mib_per_sec`).
    ThroughputMibps,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Cmp {
    /// Whether `measured` compared with `limit` holds.
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Cmp::Lt => measured < limit,
            Cmp::Le => measured <= limit,
            Cmp::Gt => measured > limit,
            Cmp::Ge => measured >= limit,
        }
    }
}

impl Threshold {
    /// Checks the names against the scenario: `targets` by name, the operations of its
    /// mix, and whether it has gateway targets (which make `overhead` comparisons).
    pub fn check_names(
        &self,
        targets: &[&str],
        ops: &[OpKind],
        has_gateway: bool,
    ) -> Result<(), ParseError> {
        let check_op = |op: &Selector| match op.name.as_deref() {
            Some(name) if !ops.iter().any(|o| o.name() == name) => Err(ParseError {
                position: op.at,
                reason: format!("operation {name:?} is not in this scenario's [mix]"),
            }),
            _ => Ok(()),
        };
        let check_target = |t: &Selector| match t.name.as_deref() {
            Some(name) if !targets.contains(&name) => Err(ParseError {
                position: t.at,
                reason: format!(
                    "no target {name:?} in this scenario (targets: {})",
                    targets.join(", ")
                ),
            }),
            _ => Ok(()),
        };
        match &self.subject {
            Subject::Op { target, op, .. } => {
                check_target(target)?;
                check_op(op)
            }
            Subject::Target { target, .. } => check_target(target),
            Subject::Overhead { op, .. } => {
                if !has_gateway {
                    return Err(ParseError {
                        position: 0,
                        reason: "overhead compares a gateway target with its direct target; this scenario has no gateway target".into(),
                    });
                }
                check_op(op)
            }
        }
    }
}
