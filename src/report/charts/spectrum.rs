//! `latency-spectrum`: the percentile spectrum of `ok` latency, one panel per operation,
//! every target overlaid, on the "nines" axis.

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::prelude::*;

use super::style::{Key, Line, draw_lines, linear, max_y, no_data, panel, series_style, y_range};
use super::{DrawResult, grid, with_legend};
use crate::record::OutcomeClass;
use crate::report::Report;
use crate::report::nines;

/// An x axis on the "nines" scale from 0 to `end`, with ticks and labels at 50, 90,
/// 99, 99.9… (plotters' own f64 axes put ticks at round numbers).
pub(super) struct NinesAxis {
    pub end: f64,
}

impl Ranged for NinesAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let share = v / self.end;
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        nines::ticks(self.end)
    }

    fn range(&self) -> std::ops::Range<f64> {
        0.0..self.end
    }
}

impl ValueFormatter<f64> for NinesAxis {
    fn format(value: &f64) -> String {
        nines::label(*value)
    }
}

/// A spectrum line of `h` with markers on the nines ticks.
pub(super) fn spectrum_line(
    label: String,
    style: super::style::SeriesStyle,
    h: &Histogram<u64>,
) -> Line {
    let mut line = Line::new(label, style, nines::spectrum(h));
    let end = nines::end_of(h.len());
    line.markers = nines::ticks(end)
        .into_iter()
        .map(|x| (x, h.value_at_quantile(nines::q_of(x)) as f64 / 1000.0))
        .collect();
    line
}

/// Draws one spectrum panel of `lines` with `caption`.
pub(super) fn spectrum_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    lines: &[Line],
) -> DrawResult<DB> {
    let end = lines
        .iter()
        .filter_map(|l| l.points.last().map(|p| p.0))
        .fold(0.0, f64::max);
    let x_end = nines::range_end(end);
    let mut chart = panel(
        area,
        caption,
        (NinesAxis { end: x_end }, linear(y_range(max_y(lines), 0.1))),
        ("percentile (%)", "latency (ms)"),
        &|x| nines::label(*x),
    )?;
    draw_lines(&mut chart, lines)
}

/// Draws the chart.
pub fn draw<DB: DrawingBackend>(data: &Report, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    let ops = data.series.ops();
    if ops.is_empty() {
        return no_data(area, "no data: no request was recorded in the steady phase");
    }
    let legend: Vec<(String, Key)> = data
        .targets()
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), Key::Line(series_style(i))))
        .collect();
    let plot = with_legend(area, &legend, None)?;
    for (op, area) in ops.iter().zip(grid(&plot, ops.len())) {
        let lines: Vec<Line> = data
            .targets()
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let h = data.series.merged(|id| {
                    id.target == t.name && id.op == *op && id.class == OutcomeClass::Ok
                })?;
                Some(spectrum_line(t.name.clone(), series_style(i), &h))
            })
            .collect();
        let name = op.name().to_uppercase();
        if lines.is_empty() {
            no_data(&area, &format!("no ok {name} requests"))?;
        } else {
            spectrum_panel(&area, &name, &lines)?;
        }
    }
    Ok(())
}
