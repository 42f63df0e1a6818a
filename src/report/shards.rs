//! The shard table of a merged distributed run (`summary.json`'s `shards`), shared by
//! the console, `report.html` and `summary.md`, and the warning lines of shards whose
//! clock was off or unknown. Cells are formatted, not escaped: each format escapes.

use std::fmt::Write;

use crate::report::table::Table;
use crate::results::shards::MergedShard;
use crate::results::summary::Summary;

/// The shard table, one row per shard in index order; `None` if the run is not a merge.
pub fn table(summary: &Summary) -> Option<Table> {
    if summary.shards.is_empty() {
        return None;
    }
    let header = vec![
        "shard",
        "host",
        "began at",
        "clock offset",
        "requests",
        "failures",
        "peak RSS",
        "CPU s",
        "status",
    ];
    let rows = summary
        .shards
        .iter()
        .map(|m| {
            let s = &m.shard;
            vec![
                format!("{}/{}", s.index, s.count),
                s.host.clone(),
                s.began_at.clone(),
                offset(m),
                m.requests.to_string(),
                m.failures.to_string(),
                s.peak_rss_bytes
                    .map_or("-".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0)),
                s.cpu_seconds.map_or("-".into(), |c| format!("{c:.1}")),
                m.status.clone(),
            ]
        })
        .collect();
    Some(Table { header, rows })
}

/// `+12.3 ms`, with `FLAG` when the offset is unknown or over the bound.
fn offset(m: &MergedShard) -> String {
    let value = m
        .shard
        .clock_offset_ms
        .map_or("unknown".to_string(), |o| format!("{o:+.1} ms"));
    if m.clock_flagged {
        format!("{value} FLAG")
    } else {
        value
    }
}

/// One warning line per flagged shard: whose clock, by how much, against what bound.
pub fn warnings(summary: &Summary) -> Vec<String> {
    summary
        .shards
        .iter()
        .filter(|m| m.clock_flagged)
        .map(|m| {
            let s = &m.shard;
            let what = match s.clock_offset_ms {
                Some(o) => format!(
                    "its clock was off by {o:+.1} ms, over the {} ms bound (--max-clock-offset)",
                    s.max_clock_offset_ms
                ),
                None => "its clock offset is unknown (no reference could be read)".to_string(),
            };
            format!(
                "shard {}/{} on {}: {what}; its seconds may be misplaced in the merged interval \
                 logs by that much",
                s.index, s.count, s.host
            )
        })
        .collect()
}

/// The shard table and warning lines as console text; empty if the run is not a merge.
pub fn console(summary: &Summary) -> String {
    let Some(table) = table(summary) else {
        return String::new();
    };
    let mut out = format!("shards: {}\n", summary.shards.len());
    out.push_str(&super::console::render(&table));
    for w in warnings(summary) {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}
