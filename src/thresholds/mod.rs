//! Thresholds judged: the scenario's pass/fail rules ([`crate::plan::threshold`])
//! evaluated against a run's [`Summary`], and the renderings of the results (console,
//! Markdown). It reads only the summary, never histograms or the engine; the exit code is
//! the command line's business. The grammar is documented in docs/ci.md.

use std::fmt::Write;

use crate::plan::threshold::{Metric, Selector, Stat, Subject, Threshold};
use crate::record::OutcomeClass;
use crate::results::summary::{LatencyStats, OpSummary, Summary, TargetSummary, ThresholdResult};
use crate::shared::units::format_us;

/// The statistic `stat` of `l`, in µs.
fn stat_of(stat: Stat, l: &LatencyStats) -> f64 {
    match stat {
        Stat::P50 => l.p50 as f64,
        Stat::P90 => l.p90 as f64,
        Stat::P99 => l.p99 as f64,
        Stat::P99_9 => l.p99_9 as f64,
        Stat::Max => l.max as f64,
        Stat::Mean => l.mean,
    }
}

fn unit(metric: Metric) -> &'static str {
    match metric {
        Metric::Latency(_) => "us",
        Metric::ErrorRate | Metric::ThrottledRatio => "ratio",
        Metric::Throughput | Metric::OpsPerSec => "ops/s",
        Metric::ThroughputMibps => "MiB/s",
    }
}

fn metric_name(metric: Metric) -> &'static str {
    match metric {
        Metric::Latency(Stat::P50) => "p50",
        Metric::Latency(Stat::P90) => "p90",
        Metric::Latency(Stat::P99) => "p99",
        Metric::Latency(Stat::P99_9) => "p99_9",
        Metric::Latency(Stat::Max) => "max",
        Metric::Latency(Stat::Mean) => "mean",
        Metric::ErrorRate => "error_rate",
        Metric::ThrottledRatio => "throttled_ratio",
        Metric::Throughput => "throughput",
        Metric::OpsPerSec => "ops_per_sec",
        Metric::ThroughputMibps => "throughput_mibps",
    }
}

fn ok(op: &OpSummary) -> u64 {
    op.outcomes.get(&OutcomeClass::Ok).copied().unwrap_or(0)
}

fn throttled(op: &OpSummary) -> u64 {
    [OutcomeClass::Throttled, OutcomeClass::Quota]
        .iter()
        .map(|c| op.outcomes.get(c).copied().unwrap_or(0))
        .sum()
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The value of `metric` over `ops` (one op, or all ops of a target), if there is data.
fn measure(metric: Metric, ops: &[&OpSummary]) -> Option<f64> {
    if ops.is_empty() {
        return None;
    }
    let requests: u64 = ops.iter().map(|o| o.requests).sum();
    let sum = |f: fn(&OpSummary) -> f64| Some(ops.iter().map(|o| f(o)).sum());
    match metric {
        Metric::Latency(stat) => match ops {
            [op] => op.latency_us.as_ref().map(|l| stat_of(stat, l)),
            _ => None,
        },
        Metric::ErrorRate => ratio(requests - ops.iter().map(|o| ok(o)).sum::<u64>(), requests),
        Metric::ThrottledRatio => ratio(ops.iter().map(|o| throttled(o)).sum(), requests),
        Metric::Throughput => sum(|o| o.ok_ops_per_sec),
        Metric::OpsPerSec => sum(|o| o.ops_per_sec),
        Metric::ThroughputMibps => sum(|o| o.mib_per_sec),
    }
}

fn targets<'a>(summary: &'a Summary, sel: &Selector) -> Vec<(String, Option<&'a TargetSummary>)> {
    match &sel.name {
        Some(n) => vec![(n.clone(), summary.targets.iter().find(|t| &t.name == n))],
        None => summary
            .targets
            .iter()
            .map(|t| (t.name.clone(), Some(t)))
            .collect(),
    }
}

/// Evaluates every threshold against `summary`. A wildcard gives one result per
/// concrete subject; a subject without data fails with the note `no data`.
pub fn evaluate(thresholds: &[Threshold], summary: &Summary) -> Vec<ThresholdResult> {
    let mut out = Vec::new();
    for t in thresholds {
        let metric = t.subject.metric();
        let mut measured: Vec<(String, Option<f64>)> = Vec::new();
        match &t.subject {
            Subject::Op { target, op, .. } => {
                for (name, ts) in targets(summary, target) {
                    let ops: Vec<&OpSummary> = ts.map_or(Vec::new(), |ts| ts.ops.iter().collect());
                    match &op.name {
                        Some(o) => {
                            let found: Vec<&OpSummary> =
                                ops.into_iter().filter(|s| s.op.name() == o).collect();
                            measured.push((
                                format!("{name}.{o}.{}", metric_name(metric)),
                                measure(metric, &found),
                            ));
                        }
                        None if ops.is_empty() => {
                            measured.push((format!("{name}.*.{}", metric_name(metric)), None));
                        }
                        None => {
                            for s in ops {
                                measured.push((
                                    format!("{name}.{}.{}", s.op, metric_name(metric)),
                                    measure(metric, &[s]),
                                ));
                            }
                        }
                    }
                }
            }
            Subject::Target { target, .. } => {
                for (name, ts) in targets(summary, target) {
                    let ops: Vec<&OpSummary> = ts.map_or(Vec::new(), |ts| ts.ops.iter().collect());
                    measured.push((
                        format!("{name}.{}", metric_name(metric)),
                        measure(metric, &ops),
                    ));
                }
            }
            Subject::Overhead { op, stat } => {
                for c in &summary.overheads {
                    for o in &c.ops {
                        if op.name.as_deref().is_some_and(|n| n != o.op.name()) {
                            continue;
                        }
                        let v = match stat {
                            Stat::P50 => o.p50_us,
                            Stat::P90 => o.p90_us,
                            Stat::P99 => o.p99_us,
                            _ => o.p99_9_us,
                        };
                        measured.push((
                            format!(
                                "overhead({}-{}).{}.{}",
                                c.candidate,
                                c.baseline,
                                o.op,
                                metric_name(metric)
                            ),
                            Some(v as f64),
                        ));
                    }
                }
                if measured.is_empty() {
                    let o = op.name.as_deref().unwrap_or("*");
                    measured.push((format!("overhead.{o}.{}", metric_name(metric)), None));
                }
            }
        }
        for (subject, value) in measured {
            out.push(ThresholdResult {
                expression: t.expression.clone(),
                subject,
                unit: unit(metric).to_string(),
                measured: value,
                limit: t.value,
                passed: value.is_some_and(|v| t.cmp.holds(v, t.value)),
                note: value.is_none().then(|| "no data".to_string()),
            });
        }
    }
    out
}

/// A value in its unit, for people: `12.30ms`, `0.05%`, `812.4 ops/s`.
pub fn format_value(unit: &str, v: f64) -> String {
    match unit {
        "us" if v < 0.0 => format!("-{}", format_us((-v).round() as u64)),
        "us" if v.fract() != 0.0 && v < 1000.0 => format!("{v:.1}µs"),
        "us" => format_us(v.round() as u64),
        "ratio" => format!("{:.3}%", v * 100.0),
        _ => format!("{v:.2} {unit}"),
    }
}

fn measured_text(r: &ThresholdResult) -> String {
    match (r.measured, &r.note) {
        (Some(v), _) => format_value(&r.unit, v),
        (None, Some(note)) => note.clone(),
        (None, None) => "-".into(),
    }
}

/// Whether every result passed.
pub fn all_passed(results: &[ThresholdResult]) -> bool {
    results.iter().all(|r| r.passed)
}

/// The console block printed after the results table.
pub fn console(results: &[ThresholdResult]) -> String {
    if results.is_empty() {
        return String::new();
    }
    let failed = results.iter().filter(|r| !r.passed).count();
    let mut out = format!(
        "thresholds: {} passed, {failed} failed\n",
        results.len() - failed
    );
    let width = results
        .iter()
        .map(|r| r.subject.chars().count())
        .max()
        .unwrap_or(0);
    for r in results {
        let _ = writeln!(
            out,
            "  {}  {:width$}  measured {:<14}  rule {}",
            if r.passed { "PASS" } else { "FAIL" },
            r.subject,
            measured_text(r),
            r.expression,
        );
    }
    out
}

/// The threshold results as a Markdown table (for `summary.md` and CI step summaries).
pub fn thresholds_markdown(results: &[ThresholdResult]) -> String {
    if results.is_empty() {
        return String::new();
    }
    let mut out =
        String::from("| result | rule | measured on | measured |\n| --- | --- | --- | ---: |\n");
    for r in results {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            if r.passed { "✅ pass" } else { "❌ fail" },
            r.expression.replace('|', "\\|"),
            r.subject,
            measured_text(r),
        );
    }
    out
}

#[cfg(test)]
mod tests;
