//! Presenting results to people: the end-of-run console table, and the report of a
//! results folder (`charts/*.svg|png`, `report.html`, `summary.md`).
//!
//! The report reads only the results folder (summary, provenance, interval log), never
//! the engine; `recover` rebuilds the summary of a killed run that left none.
//! [`write_report`] regenerates everything from a folder: `input` reads it,
//! `series` turns the interval log into per-second series, `charts` draws, `verdict`
//! words the findings, and one [`Exporter`] per document format writes a file.

pub mod breakdown;
pub mod charts;
pub mod console;
pub mod html;
pub mod input;
pub mod markdown;
pub mod nines;
pub mod overhead;
pub mod recover;
pub mod series;
pub mod table;
pub mod verdict;

use std::path::{Path, PathBuf};

use anyhow::Context;

use charts::RenderedChart;
use input::RunData;

/// Everything an exporter needs: the data, the drawn charts and the verdict.
#[derive(Debug)]
pub struct Report {
    pub data: RunData,
    pub charts: Vec<RenderedChart>,
    pub verdict: Vec<String>,
}

/// One document format of the report (hyperfine's `export/` pattern): adding a format
/// is one new file and one entry in [`exporters`].
pub trait Exporter {
    /// File name in the results folder.
    fn file_name(&self) -> &'static str;
    /// The document.
    fn serialize(&self, report: &Report) -> String;
}

/// Every document exporter.
pub fn exporters() -> Vec<Box<dyn Exporter>> {
    vec![Box::new(html::Html), Box::new(markdown::Markdown)]
}

/// The files [`write_report`] wrote.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// `report.html`.
    pub html: PathBuf,
    /// `summary.md`.
    pub markdown: PathBuf,
    /// `charts/<name>.svg` and `charts/<name>.png`, in report order.
    pub charts: Vec<PathBuf>,
}

/// Reads the results folder `dir` and draws its charts into `dir/charts/`.
pub fn build(dir: &Path) -> anyhow::Result<Report> {
    let data = RunData::read(dir)?;
    let charts = charts::render_all(&data, dir)?;
    let verdict = verdict::verdict(&data.summary, &data.series.targets);
    Ok(Report {
        data,
        charts,
        verdict,
    })
}

/// Regenerates the whole report of the results folder `dir`: the charts as SVG and PNG
/// under `dir/charts/`, `dir/report.html` and `dir/summary.md`. Fails, naming the file,
/// if `summary.json` or `histograms.hlog` is missing or malformed.
pub fn write_report(dir: &Path) -> anyhow::Result<ReportFiles> {
    let report = build(dir)?;
    for exporter in exporters() {
        let path = dir.join(exporter.file_name());
        std::fs::write(&path, exporter.serialize(&report))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ReportFiles {
        html: dir.join(html::FILE_NAME),
        markdown: dir.join(markdown::FILE_NAME),
        charts: report
            .charts
            .iter()
            .flat_map(|c| [c.svg_path.clone(), c.png_path.clone()])
            .collect(),
    })
}
