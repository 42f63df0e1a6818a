//! End-to-end tests of `gatebench report` on a real (embedded-target) results folder
//! and on broken folders.

mod common;

use std::path::Path;

use common::*;

const CHARTS: [&str; 6] = [
    "latency-spectrum",
    "overhead",
    "throughput",
    "outcomes",
    "cache",
    "latency-over-time",
];

/// Makes a 3-second quickstart results folder in `dir`.
fn quickstart(dir: &Path) {
    let out = run(&[
        "run",
        "scenarios/quickstart.toml",
        "--duration",
        "3s",
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// Every value of `attr="…"` in `html`.
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            &rest[..rest.find('"').unwrap_or(rest.len())]
        })
        .collect()
}

#[test]
fn report_of_a_quickstart_run_has_charts_page_and_summary() {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    quickstart(&dir);

    let out = run(&["report", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("report.html"));

    for name in CHARTS {
        let svg = std::fs::read_to_string(dir.join(format!("charts/{name}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("</svg>"),
            "{name}.svg"
        );
        let png = std::fs::read(dir.join(format!("charts/{name}.png"))).unwrap();
        let (w, h) = png_size(&png);
        assert_eq!(w, 1200, "{name}.png");
        assert!((400..=4000).contains(&h), "{name}.png is {w}x{h}");
        assert!(png.len() > 10_000, "{name}.png is only {} bytes", png.len());
    }

    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for attr in ["src", "href"] {
        for v in attr_values(&html, attr) {
            assert!(
                !v.contains("://") && !v.starts_with("//"),
                "{attr}={v:?} points outside the folder"
            );
        }
    }
    assert!(!html.contains("<script"), "no scripts");
    assert!(!html.contains("<link"), "no external stylesheets");
    assert_eq!(html.matches("<svg").count(), 6, "all six charts inline");
    assert!(
        html.contains("measure gatebench and this machine, not storage"),
        "the embedded note is shown"
    );
    assert!(html.contains("No gateway target in this run"));
    assert!(html.contains("<td>embedded</td><td>get</td>"));
    assert!(html.contains("<dt>CPUs</dt>"), "provenance");

    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        md.contains("| target | op | requests | ok | failed |"),
        "{md}"
    );
    assert!(md.contains("| embedded | get |"), "{md}");
    assert!(md.contains("> **Note (embedded):**"), "{md}");
    assert!(md.contains("### Verdict"), "{md}");

    // Regenerating is idempotent and leaves no stray files.
    let again = run(&["report", dir.to_str().unwrap()]);
    assert!(again.status.success(), "{}", text(&again));
    let charts = std::fs::read_dir(dir.join("charts")).unwrap().count();
    assert_eq!(charts, 12);
}

#[test]
fn broken_folders_fail_with_a_clear_message() {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    quickstart(&dir);
    let good_summary = std::fs::read(dir.join("summary.json")).unwrap();
    let good_log = std::fs::read(dir.join("histograms.hlog")).unwrap();
    let report = |d: &Path| run(&["report", d.to_str().unwrap()]);

    let missing = report(&tmp.path().join("nowhere"));
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not a results folder"));

    std::fs::remove_file(dir.join("summary.json")).unwrap();
    let out = report(&dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("summary.json"),
        "{}",
        text(&out)
    );

    std::fs::write(dir.join("summary.json"), b"{\"schema\": ").unwrap();
    let out = report(&dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("summary.json"),
        "{}",
        text(&out)
    );
    std::fs::write(dir.join("summary.json"), &good_summary).unwrap();

    // A log cut in the middle of a line.
    std::fs::write(
        dir.join("histograms.hlog"),
        &good_log[..good_log.len() * 2 / 3],
    )
    .unwrap();
    let out = report(&dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("histograms.hlog") && err.contains("line"),
        "{}",
        text(&out)
    );
    assert!(!err.contains("panicked"), "{}", text(&out));

    // An empty log is a run without data: the report is made, charts say so.
    std::fs::write(dir.join("histograms.hlog"), b"").unwrap();
    let out = report(&dir);
    assert!(out.status.success(), "{}", text(&out));
    let svg = std::fs::read_to_string(dir.join("charts/throughput.svg")).unwrap();
    assert!(
        svg.contains("no data"),
        "throughput.svg says there is no data"
    );
}
