//! `time-breakdown`: one horizontal bar per target and operation, the mean `ok`
//! response time stacked by where it went (see `report::breakdown`).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{BLUE, BLUISH_GREEN, GREY, Key, ORANGE, VERMILLION, fmt_tick, font, no_data};
use super::{DrawResult, with_legend};
use crate::report::Report;
use crate::report::breakdown::{PARTS, breakdowns};

/// Colours of the parts, in [`PARTS`] order.
const COLOURS: [RGBColor; 5] = [GREY, ORANGE, VERMILLION, BLUE, BLUISH_GREEN];

/// Pixel height of the chart for `bars` bars.
pub fn height(bars: usize) -> u32 {
    220 + 44 * bars.max(1) as u32
}

/// Number of bars the chart draws.
pub fn bars(data: &Report) -> usize {
    breakdowns(&data.summary).len()
}

/// Draws the chart.
pub fn draw<DB: DrawingBackend>(data: &Report, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    let rows = breakdowns(&data.summary);
    if rows.is_empty() {
        return no_data(area, "no ok requests to break down");
    }
    let legend: Vec<(String, Key)> = PARTS
        .iter()
        .zip(COLOURS)
        .map(|(p, c)| (p.to_string(), Key::Swatch(c)))
        .collect();
    let plot = with_legend(area, &legend, None)?;
    let max_ms = rows.iter().map(|r| r.total_us()).fold(0.0, f64::max) / 1000.0;
    let n = rows.len() as f64;
    let labels: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {}", r.target, r.op.name().to_uppercase()))
        .collect();
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .margin_right(36)
        .x_label_area_size(48)
        .y_label_area_size(180)
        .build_cartesian_2d(0.0..max_ms.max(0.001) * 1.15, -0.5..n - 0.5)?;
    let label_of = |y: &f64| {
        let i = n - 1.0 - y.round();
        match labels.get(i as usize) {
            Some(l) if (y - y.round()).abs() < 1e-6 && i >= 0.0 => l.clone(),
            _ => String::new(),
        }
    };
    chart
        .configure_mesh()
        .x_desc("mean response time of ok requests (ms)")
        .x_label_formatter(&fmt_tick)
        .y_labels(rows.len() * 2 + 1)
        .y_label_formatter(&label_of)
        .disable_y_mesh()
        .label_style(font(14))
        .axis_desc_style(font(15))
        .bold_line_style(RGBColor(220, 220, 220))
        .light_line_style(RGBColor(246, 246, 246))
        .draw()?;
    // The first row at the top.
    for (i, row) in rows.iter().enumerate() {
        let y = n - 1.0 - i as f64;
        let mut start = 0.0;
        for (part, colour) in row.parts_us.iter().zip(COLOURS) {
            let end = start + part / 1000.0;
            if end > start {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(start, y - 0.32), (end, y + 0.32)],
                    colour.filled(),
                )))?;
            }
            start = end;
        }
        chart.draw_series(std::iter::once(Text::new(
            format!("{:.2} ms", start),
            (start, y),
            font(14).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            )),
        )))?;
    }
    Ok(())
}
