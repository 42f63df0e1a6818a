//! Printing a comparison: console table, Markdown (PR comments, CI step summaries), JSON.
//!
//! Reads only the [`Report`]; decides nothing.

use std::fmt::Write;

use super::{Report, Verdict};
use crate::thresholds::format_value;

/// Output formats of `gatebench compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    /// A Markdown table for PR comments and CI step summaries.
    Markdown,
    /// The whole report, `gatebench.compare/1`.
    Json,
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => table(report),
        Format::Markdown => markdown(report),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
    }
}

fn us(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format_value("us", v))
}

fn signed_us(v: Option<f64>) -> String {
    match v {
        Some(v) if v > 0.0 => format!("+{}", format_value("us", v)),
        Some(v) => format_value("us", v),
        None => "-".into(),
    }
}

fn percent(v: Option<f64>) -> String {
    v.map_or(String::new(), |r| format!(" ({:+.1}%)", r * 100.0))
}

fn cells(report: &Report) -> Vec<[String; 8]> {
    report
        .rows
        .iter()
        .map(|r| {
            [
                format!("{}/{}", r.target, r.op),
                r.metric.clone(),
                us(r.baseline_us),
                us(r.candidate_us),
                format!("{}{}", signed_us(r.change_us), percent(r.change_ratio)),
                match (r.ci_low_us, r.ci_high_us) {
                    (Some(l), Some(h)) => {
                        format!("[{}, {}]", signed_us(Some(l)), signed_us(Some(h)))
                    }
                    _ => "-".into(),
                },
                us(r.noise_us),
                r.verdict.words().to_string(),
            ]
        })
        .collect()
}

const HEADER: [&str; 8] = [
    "target/op",
    "metric",
    "baseline",
    "candidate",
    "change",
    "CI",
    "noise",
    "verdict",
];

fn method(report: &Report) -> String {
    let o = &report.options;
    format!(
        "{:.0}% bootstrap intervals over {} ({} vs {} repetitions, {} resamples, seed {}); a change counts when its interval excludes 0, it is at least {:.1}% and {}{}",
        o.confidence * 100.0,
        report.method,
        report.repetitions_baseline,
        report.repetitions_candidate,
        o.resamples,
        o.seed,
        o.min_effect * 100.0,
        format_value("us", o.min_effect_abs_us),
        if report.method == "repetitions" {
            format!(
                ", and it exceeds {} × the noise (the larger spread of a side between its own repetitions)",
                o.noise_factor
            )
        } else {
            String::new()
        },
    )
}

fn totals(report: &Report) -> String {
    format!(
        "{} regression(s), {} improvement(s), {} unchanged, {} with insufficient data",
        report.count(Verdict::Regression),
        report.count(Verdict::Improvement),
        report.count(Verdict::NoSignificantChange),
        report.count(Verdict::InsufficientData),
    )
}

fn one_sided(report: &Report, out: &mut String) {
    if !report.only_in_baseline.is_empty() {
        let _ = writeln!(
            out,
            "only in the baseline: {}",
            report.only_in_baseline.join(", ")
        );
    }
    if !report.only_in_candidate.is_empty() {
        let _ = writeln!(
            out,
            "only in the candidate: {}",
            report.only_in_candidate.join(", ")
        );
    }
}

/// The console table.
pub fn table(report: &Report) -> String {
    let rows = cells(report);
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([HEADER[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!(
        "compare {} (baseline) → {} (candidate), scenario {}\n",
        report.baseline, report.candidate, report.scenario
    );
    let header = HEADER.map(str::to_string);
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let _ = write!(line, "{cell:w$}  ", w = widths[c]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let _ = writeln!(out, "{}", totals(report));
    let _ = writeln!(out, "{}", method(report));
    one_sided(report, &mut out);
    out
}

/// Markdown, for PR comments and `$GITHUB_STEP_SUMMARY`.
pub fn markdown(report: &Report) -> String {
    let mut out = format!(
        "### gatebench compare: {}\n\nBaseline `{}` → candidate `{}`: **{}**\n\n",
        report.scenario,
        report.baseline,
        report.candidate,
        totals(report)
    );
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | --- | ---: | --- |");
    for (row, r) in cells(report).iter().zip(&report.rows) {
        let mut row = row.clone();
        row[7] = match r.verdict {
            Verdict::Regression => "❌ regression".into(),
            Verdict::Improvement => "✅ improvement".into(),
            v => v.words().into(),
        };
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    let _ = writeln!(out, "\n{}\n", method(report));
    let mut rest = String::new();
    one_sided(report, &mut rest);
    if !rest.is_empty() {
        let _ = writeln!(out, "{rest}");
    }
    out
}
