//! The summary table shared by the HTML and Markdown exporters: one row per target ×
//! operation, cells already formatted (not escaped: each exporter escapes for its format).

use crate::record::OutcomeClass;
use crate::results::summary::{LatencyStats, Summary};
use crate::shared::units::format_us;

/// A formatted table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Index of the first numeric column (the ones right-aligned).
    pub const FIRST_NUMERIC: usize = 2;
}

/// The table of `summary`; the hit-ratio column only if some operation has one.
pub fn table(summary: &Summary) -> Table {
    let with_cache = summary
        .targets
        .iter()
        .flat_map(|t| &t.ops)
        .any(|o| o.cache_hit_ratio.is_some());
    let mut header = vec![
        "target", "op", "requests", "ok", "failed", "ops/s", "MiB/s", "p50", "p90", "p99", "p99.9",
        "max",
    ];
    if with_cache {
        header.push("hit ratio");
    }
    let mut rows = Vec::new();
    for t in &summary.targets {
        for op in &t.ops {
            let ok = op.outcomes.get(&OutcomeClass::Ok).copied().unwrap_or(0);
            let lat = |f: fn(&LatencyStats) -> u64| {
                op.latency_us
                    .as_ref()
                    .map_or("-".to_string(), |l| format_us(f(l)))
            };
            let mut row = vec![
                t.name.clone(),
                op.op.to_string(),
                op.requests.to_string(),
                ok.to_string(),
                op.requests.saturating_sub(ok).to_string(),
                format!("{:.1}", op.ops_per_sec),
                format!("{:.2}", op.mib_per_sec),
                lat(|l| l.p50),
                lat(|l| l.p90),
                lat(|l| l.p99),
                lat(|l| l.p99_9),
                lat(|l| l.max),
            ];
            if with_cache {
                row.push(
                    op.cache_hit_ratio
                        .map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0)),
                );
            }
            rows.push(row);
        }
    }
    Table { header, rows }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Kind, OpKind};
    use crate::report::verdict::tests::{op, summary, target};

    #[test]
    fn rows_are_target_by_op_with_a_hit_ratio_only_when_cached() {
        let s = summary(vec![target(
            "direct",
            Kind::S3,
            vec![
                op(OpKind::Get, 90, 10, [1200, 2000, 4000, 8000]),
                op(OpKind::Put, 5, 0, [500, 600, 700, 800]),
            ],
        )]);
        let t = table(&s);
        assert_eq!(t.header.len(), 12);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(
            t.rows[0][..8],
            ["direct", "get", "100", "90", "10", "10.0", "0.04", "1.20ms"]
        );

        let mut cached = s.clone();
        cached.targets[0].ops[0].cache_hit_ratio = Some(0.62);
        let t = table(&cached);
        assert_eq!(t.header.last(), Some(&"hit ratio"));
        assert_eq!(t.rows[0].last().unwrap(), "62%");
        assert_eq!(t.rows[1].last().unwrap(), "-");
    }
}
