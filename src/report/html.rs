//! `report.html`: one self-contained page (inline CSS and SVG charts, no scripts, no
//! external requests) with notes, verdict, summary table, charts and provenance.
//!
//! Owns the page's markup; every piece of text from the results folder is escaped.

use std::fmt::Write;

use crate::report::charts::CHARTS_DIR;
use crate::report::table::{Table, table};
use crate::report::{Exporter, Report};
use crate::report::{attribution, clients, shards, slowest};

/// File name of the page in the results folder.
pub const FILE_NAME: &str = "report.html";

/// Escapes `text`, a note written for Markdown too, showing its code spans (between
/// backticks) as `<code>` elements.
fn with_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    for (i, part) in text.split('`').enumerate() {
        match i % 2 {
            0 => out.push_str(&escape(part)),
            _ => {
                out.push_str("<code>");
                out.push_str(&escape(part));
                out.push_str("</code>");
            }
        }
    }
    out
}

/// The HTML exporter.
pub struct Html;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1240px;margin:2em auto;padding:0 1em;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.sub{color:#555;margin-top:0}
.note{border-left:6px solid #E69F00;background:#fff6e0;padding:.7em 1em;margin:1em 0;font-size:1.05em}
.error{border-left:6px solid #D55E00;background:#fdeee6;padding:.7em 1em;margin:1em 0}
table{border-collapse:collapse;font-size:.92em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.3em .6em}th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.5em 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#333;max-width:60em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}dt{font-weight:600}dd{margin:0}
.small{color:#555;font-size:.9em}
";

impl Exporter for Html {
    fn file_name(&self) -> &'static str {
        FILE_NAME
    }

    fn serialize(&self, report: &Report) -> String {
        let s = &report.summary;
        let mut o = String::new();
        let _ = write!(
            o,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>gatebench report: {}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
            escape(&s.scenario)
        );
        let _ = writeln!(o, "<h1>gatebench report: {}</h1>", escape(&s.scenario));
        let _ = writeln!(
            o,
            "<p class=\"sub\">run {} · status <strong>{}</strong> · {} to {}</p>",
            escape(&s.run_id),
            escape(&format!("{:?}", s.status).to_lowercase()),
            escape(&s.started_at),
            escape(&s.ended_at)
        );
        if let Some(e) = &s.error {
            let _ = writeln!(
                o,
                "<div class=\"error\"><strong>Error:</strong> {}</div>",
                escape(e)
            );
        }
        for t in &s.targets {
            if let Some(note) = &t.note {
                let _ = writeln!(
                    o,
                    "<div class=\"note\"><strong>Note ({}):</strong> {}</div>",
                    escape(&t.name),
                    escape(note)
                );
            }
            if let Some(e) = &t.error {
                let _ = writeln!(
                    o,
                    "<div class=\"error\"><strong>Error ({}):</strong> {}</div>",
                    escape(&t.name),
                    escape(e)
                );
            }
        }

        o.push_str("<h2>Verdict</h2>\n<ul>\n");
        for line in &report.verdict {
            let _ = writeln!(o, "<li>{}</li>", escape(line));
        }
        o.push_str("</ul>\n");

        o.push_str("<h2>Summary</h2>\n");
        write_table(&mut o, &table(s));
        o.push_str(
            "<p class=\"small\">Latency: ok requests, from when each was due to its last byte. \
             ops/s and MiB/s: over the measured steady phase (warm-up excluded). \
             Failed: every outcome other than ok.</p>\n",
        );

        if let Some(t) = shards::table(s) {
            let _ = writeln!(o, "<h2>Shards</h2>");
            for w in shards::warnings(s) {
                let _ = writeln!(
                    o,
                    "<div class=\"note\"><strong>Warning:</strong> {}</div>",
                    escape(&w)
                );
            }
            write_table(&mut o, &t);
            o.push_str(
                "<p class=\"small\">A merge of the shards' interval logs, second by second on \
                 their wall clocks; percentiles come from the merged histograms. Clock offset: \
                 the shard's clock minus its reference; FLAG: unknown or over the bound.</p>\n",
            );
        }

        if let Some(t) = clients::table(s) {
            o.push_str("<h2>By client</h2>\n");
            write_table(&mut o, &t);
            let _ = writeln!(o, "<p class=\"small\">{}</p>", escape(clients::NOTE));
        }

        if let Some(c) = &s.capacity {
            o.push_str("<h2>Capacity</h2>\n");
            write_table(&mut o, &crate::report::capacity::table(c));
            let _ = writeln!(
                o,
                "<p class=\"small\">Each step offers a constant open-loop rate; accepted: ok \
                 responses per second. A step is good with p99 &lt; {} and within the error, \
                 throttle and accepted-rate bounds; the knee is the highest good rate.</p>",
                escape(&crate::report::verdict::fmt_ms(c.slo_p99_ms))
            );
        }

        if let Some(t) = attribution::table(s) {
            o.push_str("<h2>Server-side timing</h2>\n");
            write_table(&mut o, &t);
            let _ = writeln!(o, "<p class=\"small\">{}</p>", with_code(attribution::NOTE));
        }

        for (target, t) in slowest::tables(s) {
            let _ = writeln!(o, "<h2>Slowest requests: {}</h2>", escape(target));
            write_table(&mut o, &t);
            let _ = writeln!(o, "<p class=\"small\">{}</p>", with_code(slowest::LOOKUP));
        }

        o.push_str("<h2>Charts</h2>\n");
        for c in &report.charts {
            let name = c.kind.name();
            let _ = writeln!(
                o,
                "<figure id=\"{name}\" aria-label=\"{}\">\n{}\n<figcaption>{} \
                 Files: <a href=\"{CHARTS_DIR}/{name}.svg\">{name}.svg</a>, \
                 <a href=\"{CHARTS_DIR}/{name}.png\">{name}.png</a>.</figcaption>\n</figure>",
                escape(c.kind.title()),
                c.svg.trim(),
                escape(c.kind.how_to_read())
            );
        }

        o.push_str("<h2>Provenance</h2>\n<dl>\n");
        let mut item = |k: &str, v: &str| {
            let _ = writeln!(o, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(v));
        };
        match &report.provenance {
            Some(p) => {
                let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
                item("gatebench", &or(&p.gatebench_version));
                item("commit", &or(&p.git_commit));
                item("host", &or(&p.host));
                item("system", format!("{} {}", or(&p.os), or(&p.arch)).trim());
                item("CPUs", &p.cpus.map_or("unknown".into(), |n| n.to_string()));
                item("command", &p.command.join(" "));
                item("started", &or(&p.started_at));
                item("ended", &or(&p.ended_at));
                if let Some(merged) = &p.merged_from {
                    item("merged from", merged);
                }
                if let Some(rss) = p.peak_rss_bytes {
                    item("peak memory", &format!("{:.1} MiB", rss as f64 / 1048576.0));
                }
            }
            None => item(
                "provenance",
                "provenance.json not found in the results folder",
            ),
        }
        for t in &s.targets {
            item(
                &format!("target {}", t.name),
                &format!(
                    "{} {} · {} (max in flight {}) · {:.1} s measured",
                    t.kind, t.endpoint, t.load.executor, t.load.max_in_flight, t.measured_seconds
                ),
            );
        }
        o.push_str("</dl>\n");
        let _ = writeln!(
            o,
            "<p class=\"small\">Generated by <code>gatebench report</code> from the files of \
             this results folder (summary.json, histograms.hlog, provenance.json).</p>\n\
             </body>\n</html>"
        );
        o
    }
}

fn write_table(o: &mut String, t: &Table) {
    o.push_str("<table>\n<thead><tr>");
    for h in &t.header {
        let _ = write!(o, "<th>{}</th>", escape(h));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for row in &t.rows {
        o.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if i >= Table::FIRST_NUMERIC {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(o, "<td{class}>{}</td>", escape(cell));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    /// The report's notes mark code as Markdown does; HTML shows it as code, not as
    /// backticks.
    #[test]
    fn code_spans_become_code_elements() {
        assert_eq!(
            with_code("as `a | b <id>` and `c`."),
            "as <code>a | b &lt;id&gt;</code> and <code>c</code>."
        );
        let lookup = with_code(slowest::LOOKUP);
        assert!(!lookup.contains('`'), "{lookup}");
        assert!(lookup.contains("<code>debug rgw</code>"), "{lookup}");
    }
}
