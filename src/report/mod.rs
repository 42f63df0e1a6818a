//! Presenting results to people: the end-of-run console table, and the report of a
//! results folder (`charts/*.svg|png`, `report.html`, `summary.md`).
//!
//! The report reads only the results folder (summary, provenance, interval log) through
//! [`RunFolder`], never the engine; `recover` rebuilds the summary of a killed run that
//! left none. [`write_report`] regenerates everything from a folder: `series` turns the
//! interval log into per-second series, `charts` draws, `verdict` words the findings,
//! and one [`Exporter`] per document format writes a file.

pub mod attribution;
pub mod breakdown;
pub mod capacity;
pub mod charts;
pub mod clients;
pub mod console;
pub mod html;
pub mod markdown;
pub mod nines;
pub mod overhead;
pub mod recover;
pub mod series;
pub mod shards;
pub mod slowest;
pub mod table;
pub mod verdict;

use std::path::{Path, PathBuf};

use anyhow::Context;

use charts::RenderedChart;
use series::Series;

use crate::record::Phase;
use crate::results::RunFolder;
use crate::results::read::ProvenanceInfo;
use crate::results::summary::{RunStatus, Summary, TargetSummary};

/// Everything a chart or an exporter needs: what the folder holds, the drawn charts and
/// the verdict.
#[derive(Debug)]
pub struct Report {
    pub summary: Summary,
    /// `None` if the folder has no `provenance.json`.
    pub provenance: Option<ProvenanceInfo>,
    pub series: Series,
    /// Empty while the charts are drawn.
    pub charts: Vec<RenderedChart>,
    pub verdict: Vec<String>,
}

impl Report {
    /// The configured rate limit of `target`, calls per second.
    pub fn rate_limit(&self, target: &str) -> Option<f64> {
        self.targets()
            .iter()
            .find(|t| t.name == target)?
            .throttle
            .as_ref()?
            .rate_limit?
            .per_second()
    }

    /// The summary targets, in run order.
    pub fn targets(&self) -> &[TargetSummary] {
        &self.summary.targets
    }
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
/// `summary.json` and `histograms.hlog` must exist and parse; `provenance.json` may be
/// missing.
pub fn build(dir: &Path) -> anyhow::Result<Report> {
    let folder = RunFolder::open(dir)?;
    let summary = folder.summary()?;
    let provenance = folder.provenance()?;
    let log = folder.interval_log(Phase::Steady)?;
    // A killed run's log may end in part of a line.
    let log = match summary.status {
        RunStatus::Incomplete => log.without_partial_last_line(),
        _ => log,
    };
    let series = Series::read(&log.bytes).with_context(|| format!("{}", log.path.display()))?;
    let verdict = verdict::verdict(&summary, &series.targets);
    let mut report = Report {
        summary,
        provenance,
        series,
        charts: Vec::new(),
        verdict,
    };
    report.charts = charts::render_all(&report, dir)?;
    Ok(report)
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
