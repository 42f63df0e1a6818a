//! The end-of-run console table: one row per target × operation.

use std::fmt::Write;

use crate::record::OutcomeClass;
use crate::results::summary::Summary;

/// `412µs`, `1.23ms`, `2.50s`.
pub fn format_us(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=999_999 => format!("{:.2}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// The table, followed by per-target notes and errors.
pub fn table(summary: &Summary) -> String {
    let header = [
        "target", "op", "requests", "ok", "failed", "ops/s", "MiB/s", "p50", "p90", "p99", "p99.9",
        "max",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for t in &summary.targets {
        for op in &t.ops {
            let ok = op.outcomes.get(&OutcomeClass::Ok).copied().unwrap_or(0);
            let lat = |f: fn(&crate::results::summary::LatencyStats) -> u64| {
                op.latency_us
                    .as_ref()
                    .map_or("-".to_string(), |l| format_us(f(l)))
            };
            rows.push(vec![
                t.name.clone(),
                op.op.to_string(),
                op.requests.to_string(),
                ok.to_string(),
                (op.requests - ok).to_string(),
                format!("{:.1}", op.ops_per_sec),
                format!("{:.2}", op.mib_per_sec),
                lat(|l| l.p50),
                lat(|l| l.p90),
                lat(|l| l.p99),
                lat(|l| l.p99_9),
                lat(|l| l.max),
            ]);
        }
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c < 2 {
                let _ = write!(out, "{cell}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(out, "{}{cell}  ", " ".repeat(pad));
            }
        }
        out = out.trim_end().to_string();
        out.push('\n');
    }
    out.push_str("latency: ok requests, from when each was due to its last byte\n");
    for t in &summary.targets {
        if let Some(note) = &t.note {
            let _ = writeln!(out, "note ({}): {note}", t.name);
        }
        if let Some(err) = &t.error {
            let _ = writeln!(out, "error ({}): {err}", t.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(format_us(412), "412µs");
        assert_eq!(format_us(1_234), "1.23ms");
        assert_eq!(format_us(2_500_000), "2.50s");
    }
}
