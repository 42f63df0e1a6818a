//! The end-of-run console table: one row per target × operation.

use std::fmt::Write;

use super::table::Table;
use crate::results::summary::Summary;

/// `table` as aligned plain text, numeric columns right-aligned.
pub fn render(table: &Table) -> String {
    let header: Vec<String> = table.header.iter().map(|s| s.to_string()).collect();
    let rows: Vec<&Vec<String>> = std::iter::once(&header).chain(&table.rows).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if c < Table::FIRST_NUMERIC {
                let _ = write!(line, "{cell}{pad}  ");
            } else {
                let _ = write!(line, "{pad}{cell}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The table, followed by per-target notes and errors.
pub fn table(summary: &Summary) -> String {
    let mut out = render(&super::table::table(summary));
    out.push_str("latency: ok requests, from when each was due to its last byte\n");
    if let Some(c) = &summary.capacity {
        out.push_str(&render(&super::capacity::table(c)));
        for line in super::capacity::verdict(summary) {
            let _ = writeln!(out, "capacity: {line}");
        }
    }
    for t in &summary.targets {
        if let Some(note) = &t.note {
            let _ = writeln!(out, "note ({}): {note}", t.name);
        }
        let c = &t.connections;
        if let Some(http) = &c.http {
            let tls = c
                .tls
                .as_deref()
                .map_or(String::new(), |v| format!(" over {v}"));
            let _ = writeln!(
                out,
                "connections ({}): {}, {http}{tls}, {} opened",
                t.name, c.reuse, c.opened
            );
        }
        if let Some(err) = &t.error {
            let _ = writeln!(out, "error ({}): {err}", t.name);
        }
        if let Some(s) = &t.load.schedule
            && (s.late_starts > 0 || s.dropped > 0)
        {
            let _ = writeln!(
                out,
                "warning ({}): the open loop fell behind its schedule: {} of {} requests sent \
                 started >1 ms late, {} due requests were never sent (dropped); raise \
                 load.max_in_flight or lower the rate",
                t.name, s.late_starts, s.planned, s.dropped
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Kind, OpKind};
    use crate::report::verdict::tests::{op, summary, target};

    #[test]
    fn the_console_shows_the_report_table_aligned() {
        let s = summary(vec![target(
            "direct",
            Kind::S3,
            vec![op(OpKind::Get, 90, 10, [1200, 2000, 4000, 8000])],
        )]);
        let out = table(&s);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("target  op   requests"), "{out}");
        assert!(lines[1].starts_with("direct  get       100"), "{out}");
        // Numbers are right-aligned under their headers.
        let end = |line: &str, cell: &str| line.find(cell).map(|i| i + cell.len());
        assert_eq!(end(lines[0], "p50"), end(lines[1], "1.20ms"), "{out}");
        assert!(lines[2].starts_with("latency: ok requests"), "{out}");
    }

    #[test]
    fn an_open_loop_that_fell_behind_is_called_out() {
        let mut t = target(
            "direct",
            Kind::S3,
            vec![op(OpKind::Get, 90, 10, [1, 2, 3, 4])],
        );
        t.load.schedule = Some(crate::results::summary::ScheduleSummary {
            planned: 80,
            late_starts: 78,
            cap_waits: 70,
            dropped: 320,
            late_by_us: None,
            dispatch_delay_us: None,
        });
        let out = table(&summary(vec![t]));
        assert!(
            out.contains("warning (direct): the open loop fell behind its schedule: 78 of 80")
                && out.contains("320 due requests were never sent"),
            "{out}"
        );
    }
}
