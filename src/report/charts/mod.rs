//! The report charts (eight, and `capacity` after a capacity search), drawn with `plotters` once as SVG (inlined into `report.html`
//! and written to `charts/<name>.svg`) and once as PNG (`charts/<name>.png`).
//!
//! Owns chart names, titles, sizes and layout; each chart module draws from [`Report`]
//! only and draws a "no data" message rather than failing when it has nothing to show.

mod attribution;
mod breakdown;
mod cache;
mod capacity;
mod clients;
mod overhead;
mod spectrum;
mod stacked;
pub mod style;
mod timeline;

use std::path::{Path, PathBuf};

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::Report;
use crate::report::overhead::{Overheads, overheads};
use style::{Key, draw_legend, font, legend_height};

/// What drawing on a backend `DB` returns.
pub type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Folder of the chart files inside the results folder.
pub const CHARTS_DIR: &str = "charts";

/// Label of time axes.
const TIME_AXIS: &str = "seconds since the target's steady phase began";

/// The charts of a report, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    LatencySpectrum,
    Overhead,
    TimeBreakdown,
    ServerTiming,
    Throughput,
    Outcomes,
    Cache,
    LatencyOverTime,
    Capacity,
}

impl ChartKind {
    /// Every chart, in report order.
    pub const ALL: [ChartKind; 9] = [
        ChartKind::LatencySpectrum,
        ChartKind::Overhead,
        ChartKind::TimeBreakdown,
        ChartKind::ServerTiming,
        ChartKind::Throughput,
        ChartKind::Outcomes,
        ChartKind::Cache,
        ChartKind::LatencyOverTime,
        ChartKind::Capacity,
    ];

    /// File stem under `charts/`.
    pub fn name(self) -> &'static str {
        match self {
            ChartKind::LatencySpectrum => "latency-spectrum",
            ChartKind::Overhead => "overhead",
            ChartKind::TimeBreakdown => "time-breakdown",
            ChartKind::ServerTiming => "server-timing",
            ChartKind::Throughput => "throughput",
            ChartKind::Outcomes => "outcomes",
            ChartKind::Cache => "cache",
            ChartKind::LatencyOverTime => "latency-over-time",
            ChartKind::Capacity => "capacity",
        }
    }

    /// The chart's title.
    pub fn title(self) -> &'static str {
        match self {
            ChartKind::LatencySpectrum => "Latency by percentile (ok requests)",
            ChartKind::Overhead => "Gateway overhead by percentile",
            ChartKind::TimeBreakdown => "Where the time went (mean of ok requests)",
            ChartKind::ServerTiming => {
                "Where the time went, as the servers tell it (Server-Timing)"
            }
            ChartKind::Throughput => "Throughput over time (ok requests per second)",
            ChartKind::Outcomes => "Outcomes per second",
            ChartKind::Cache => "Gateway cache",
            ChartKind::LatencyOverTime => "Latency over time (ok requests)",
            ChartKind::Capacity => "Capacity search: each step's rates and latency",
        }
    }

    /// One or two sentences on how to read the chart.
    pub fn how_to_read(self) -> &'static str {
        match self {
            ChartKind::LatencySpectrum => {
                "One panel per operation; x is the percentile on a \"nines\" scale (50, 90, 99, \
                 99.9 equally spaced), y the response time in ms from when each request was due. \
                 Lower is better; the right end is the tail and ends at the slowest request."
            }
            ChartKind::Overhead => {
                "Per operation, the baseline's own latency (black) and each gateway's extra \
                 latency over it (candidate minus baseline) at p50, p90, p99 and p99.9. Above \
                 zero, the gateway is slower."
            }
            ChartKind::TimeBreakdown => {
                "Per target and operation, the mean response time cut into waiting to be sent \
                 (open loop), TCP connect, TLS handshake, waiting for the first byte (the server, \
                 and the gateway in front of it) and transfer. Connect and TLS are spread over \
                 all requests: near zero with keep-alive, their full cost with per-request \
                 connections. Means add up; percentiles would not."
            }
            ChartKind::ServerTiming => {
                "Per target, operation and percentile, the ok response time split by the \
                 responses' Server-Timing header: the gateway's own time, the backend's (from \
                 the forwarded request to its response headers) or the gateway cache's, and \
                 the rest (network and client). Each part is its own percentile, so the split \
                 is a close reading, not an exact sum."
            }
            ChartKind::Throughput => {
                "Successful requests completed per second, all operations together. \
                 MiB/s per second is not recorded; MiB/s totals are in the table."
            }
            ChartKind::Outcomes => {
                "One panel per target: requests per second stacked by outcome class. Throttled \
                 and quota refusals show where the gateway started to push back; a dashed line \
                 marks a configured rate limit. A target that sent as several clients has one \
                 line per client: its throttled responses per second."
            }
            ChartKind::Cache => {
                "Left: share of cacheable ok requests served from the cache, per second. Right: \
                 latency by percentile of cache hits against misses."
            }
            ChartKind::LatencyOverTime => {
                "Median (top) and 99th percentile (bottom) of ok response times in each second, \
                 all operations together."
            }
            ChartKind::Capacity => {
                "One point per step, every target on the same axes. Left: ok responses per \
                 second against the offered rate (on the diagonal, everything offered was \
                 served). Right: p50 and p99 against the offered rate, with the SLO. A dotted \
                 vertical line marks each target's knee, its highest good rate."
            }
        }
    }

    /// Whether the report has this chart: `capacity` only after a capacity search.
    fn shown(self, data: &Report) -> bool {
        self != ChartKind::Capacity || data.summary.capacity.is_some()
    }

    /// Pixel size of the chart.
    fn size(self, data: &Report) -> (u32, u32) {
        let panels = |n: usize| n.div_ceil(2).max(1) as u32;
        let empty = (1200, 400);
        match self {
            ChartKind::Overhead if !has_overhead(data) => empty,
            ChartKind::Cache if !has_cache(data) => empty,
            _ if data.series.targets.is_empty() => empty,
            ChartKind::LatencySpectrum => (1200, 180 + 380 * panels(data.series.ops().len())),
            ChartKind::Overhead => (1200, 180 + 380 * panels(data.series.ops().len())),
            ChartKind::TimeBreakdown => (1200, stacked::height(breakdown::bars(data))),
            ChartKind::ServerTiming => (1200, stacked::height(attribution::bars(data))),
            ChartKind::Outcomes => (1200, 200 + 300 * data.targets().len().max(1) as u32),
            ChartKind::LatencyOverTime => (1200, 900),
            ChartKind::Throughput | ChartKind::Cache => (1200, 600),
            ChartKind::Capacity => (1400, 650),
        }
    }

    fn draw<DB: DrawingBackend>(
        self,
        data: &Report,
        root: &DrawingArea<DB, Shift>,
    ) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let body = root.titled(self.title(), font(26))?;
        match self {
            ChartKind::LatencySpectrum => spectrum::draw(data, &body),
            ChartKind::Overhead => overhead::draw(data, &body),
            ChartKind::TimeBreakdown => breakdown::draw(data, &body),
            ChartKind::ServerTiming => attribution::draw(data, &body),
            ChartKind::Throughput => timeline::throughput(data, &body),
            ChartKind::Outcomes => timeline::outcomes(data, &body),
            ChartKind::Cache => cache::draw(data, &body),
            ChartKind::LatencyOverTime => timeline::latency(data, &body),
            ChartKind::Capacity => capacity::draw(data, &body),
        }
    }
}

/// Whether the run has a gateway to compare with a baseline on some operation.
fn has_overhead(data: &Report) -> bool {
    matches!(overheads(&data.summary), Overheads::Pairs(p) if !p.is_empty())
}

/// Whether some target saw cache hits or misses.
fn has_cache(data: &Report) -> bool {
    data.series.targets.values().any(|s| s.has_cache_data())
}

/// A drawn chart: its SVG text and where its files are.
#[derive(Debug, Clone)]
pub struct RenderedChart {
    pub kind: ChartKind,
    pub svg: String,
    pub svg_path: PathBuf,
    pub png_path: PathBuf,
}

/// Draws every chart into `<dir>/charts/` as SVG and PNG.
pub fn render_all(data: &Report, dir: &Path) -> anyhow::Result<Vec<RenderedChart>> {
    style::register_font()?;
    let charts_dir = dir.join(CHARTS_DIR);
    std::fs::create_dir_all(&charts_dir)
        .with_context(|| format!("cannot create {}", charts_dir.display()))?;
    ChartKind::ALL
        .iter()
        .filter(|kind| kind.shown(data))
        .map(|kind| render(*kind, data, &charts_dir))
        .collect()
}

fn render(kind: ChartKind, data: &Report, charts_dir: &Path) -> anyhow::Result<RenderedChart> {
    let size = kind.size(data);
    let fail = |e: String| anyhow::anyhow!("cannot draw chart {}: {e}", kind.name());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        kind.draw(data, &root).map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    let svg_path = charts_dir.join(format!("{}.svg", kind.name()));
    std::fs::write(&svg_path, &svg)
        .with_context(|| format!("cannot write {}", svg_path.display()))?;
    let png_path = charts_dir.join(format!("{}.png", kind.name()));
    {
        let root = BitMapBackend::new(&png_path, size).into_drawing_area();
        kind.draw(data, &root).map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(RenderedChart {
        kind,
        svg,
        svg_path,
        png_path,
    })
}

/// Draws `legend` across the top of `area` and `footnote` (if any) at its bottom;
/// returns what is left for plotting.
fn with_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    legend: &[(String, Key)],
    footnote: Option<&str>,
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, h) = area.dim_in_pixel();
    let top = legend_height(legend, w);
    let (legend_area, rest) = area.split_vertically(top);
    draw_legend(&legend_area, legend)?;
    let Some(note) = footnote else {
        return Ok(rest);
    };
    let (plot, note_area) = rest.split_vertically(h.saturating_sub(top + 30));
    note_area.draw(&Text::new(
        note.to_string(),
        (20, 6),
        font(15).color(&style::GREY),
    ))?;
    Ok(plot)
}

/// Splits `area` into `n` panels, two per row when there is more than one.
fn grid<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    n: usize,
) -> Vec<DrawingArea<DB, Shift>> {
    let cols = if n > 1 { 2 } else { 1 };
    area.split_evenly((n.div_ceil(cols).max(1), cols))
}
