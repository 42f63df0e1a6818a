//! `summary.md`: notes, verdict and summary table in GitHub Markdown, for CI step
//! summaries (`cat summary.md >> "$GITHUB_STEP_SUMMARY"`).

use std::fmt::Write;

use crate::report::table::{Table, table};
use crate::report::{Exporter, Report};
use crate::report::{attribution, clients, shards, slowest};

/// File name of the Markdown summary in the results folder.
pub const FILE_NAME: &str = "summary.md";

/// The Markdown exporter.
pub struct Markdown;

/// Escapes text for a Markdown table cell or line: no raw HTML, no column breaks.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

impl Exporter for Markdown {
    fn file_name(&self) -> &'static str {
        FILE_NAME
    }

    fn serialize(&self, report: &Report) -> String {
        let s = &report.summary;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "## gatebench: {} ({})\n",
            escape(&s.scenario),
            format!("{:?}", s.status).to_lowercase()
        );
        let _ = writeln!(
            o,
            "Run `{}`, {} to {}.\n",
            s.run_id.replace('`', "'"),
            escape(&s.started_at),
            escape(&s.ended_at)
        );
        if let Some(e) = &s.error {
            let _ = writeln!(o, "> **Error:** {}\n", escape(e));
        }
        for t in &s.targets {
            if let Some(note) = &t.note {
                let _ = writeln!(o, "> **Note ({}):** {}\n", escape(&t.name), escape(note));
            }
            if let Some(e) = &t.error {
                let _ = writeln!(o, "> **Error ({}):** {}\n", escape(&t.name), escape(e));
            }
        }
        o.push_str("### Verdict\n\n");
        for line in &report.verdict {
            let _ = writeln!(o, "- {}", escape(line));
        }
        o.push_str("\n### Summary\n\n");
        write_table(&mut o, &table(s));
        if let Some(t) = shards::table(s) {
            o.push_str("\n### Shards\n\n");
            for w in shards::warnings(s) {
                let _ = writeln!(o, "> **Warning:** {}\n", escape(&w));
            }
            write_table(&mut o, &t);
        }
        if let Some(t) = clients::table(s) {
            o.push_str("\n### By client\n\n");
            write_table(&mut o, &t);
            let _ = writeln!(o, "\n{}", escape(clients::NOTE));
        }
        if let Some(c) = &s.capacity {
            o.push_str("\n### Capacity\n\n");
            write_table(&mut o, &crate::report::capacity::table(c));
        }
        if let Some(t) = attribution::table(s) {
            o.push_str("\n### Server-side timing\n\n");
            write_table(&mut o, &t);
            let _ = writeln!(o, "\n{}", escape(attribution::NOTE));
        }
        for (target, t) in slowest::tables(s) {
            let _ = writeln!(o, "\n### Slowest requests: {}\n", escape(target));
            write_table(&mut o, &t);
            // Prose whose markup is all in code spans, where escapes would show literally.
            let _ = writeln!(o, "\n{}", slowest::LOOKUP);
        }
        if !s.thresholds.is_empty() {
            o.push_str("\n### Thresholds\n\n");
            o.push_str(&crate::thresholds::thresholds_markdown(&s.thresholds));
        }
        o.push_str(
            "\nLatency: ok requests, from when each was due to its last byte; ops/s and MiB/s \
             over the measured steady phase. Charts and the full report are in the results \
             folder: `report.html`, `charts/`.\n",
        );
        o
    }
}

fn write_table(o: &mut String, t: &Table) {
    let _ = writeln!(o, "| {} |", t.header.join(" | "));
    let align: Vec<&str> = (0..t.header.len())
        .map(|i| {
            if i >= Table::FIRST_NUMERIC {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    let _ = writeln!(o, "| {} |", align.join(" | "));
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether every `<`, `>` and `|` of `text` lies inside a code span.
    fn markup_only_in_code_spans(text: &str) -> bool {
        let mut in_code = false;
        text.chars().all(|c| {
            if c == '`' {
                in_code = !in_code;
            }
            in_code || !matches!(c, '<' | '>' | '|')
        })
    }

    #[test]
    fn the_prose_written_unescaped_has_its_markup_in_code_spans() {
        assert!(markup_only_in_code_spans(slowest::LOOKUP));
        assert!(!markup_only_in_code_spans("a (<id>) `b`"));
    }

    #[test]
    fn cells_cannot_break_the_table_or_inject_html() {
        assert_eq!(escape("a|b <img>\nc"), "a\\|b &lt;img&gt; c");
    }
}
