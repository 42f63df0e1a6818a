//! Horizontal stacked bars, one per labelled row, the first row at the top, each ending
//! in its total: the drawing shared by `time-breakdown` and `server-timing`.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{Key, fmt_tick, font};
use super::{DrawResult, with_legend};

/// One bar: its label and the length of each part, µs, in legend order.
pub struct Bar {
    pub label: String,
    pub parts_us: Vec<f64>,
}

/// Pixel height of a chart of `bars` bars.
pub fn height(bars: usize) -> u32 {
    220 + 44 * bars.max(1) as u32
}

/// Draws `bars` with one legend entry per part (`parts`: name and colour) and `x_desc`
/// under the time axis (ms).
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    bars: &[Bar],
    parts: &[(&str, RGBColor)],
    x_desc: &str,
) -> DrawResult<DB> {
    let legend: Vec<(String, Key)> = parts
        .iter()
        .map(|(p, c)| (p.to_string(), Key::Swatch(*c)))
        .collect();
    let plot = with_legend(area, &legend, None)?;
    let total_ms = |b: &Bar| b.parts_us.iter().sum::<f64>() / 1000.0;
    let max_ms = bars.iter().map(total_ms).fold(0.0, f64::max);
    let n = bars.len() as f64;
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .margin_right(36)
        .x_label_area_size(48)
        .y_label_area_size(180)
        .build_cartesian_2d(0.0..max_ms.max(0.001) * 1.15, -0.5..n - 0.5)?;
    let label_of = |y: &f64| {
        let i = n - 1.0 - y.round();
        match bars.get(i as usize) {
            Some(b) if (y - y.round()).abs() < 1e-6 && i >= 0.0 => b.label.clone(),
            _ => String::new(),
        }
    };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .x_label_formatter(&fmt_tick)
        .y_labels(bars.len() * 2 + 1)
        .y_label_formatter(&label_of)
        .disable_y_mesh()
        .label_style(font(14))
        .axis_desc_style(font(15))
        .bold_line_style(RGBColor(220, 220, 220))
        .light_line_style(RGBColor(246, 246, 246))
        .draw()?;
    for (i, bar) in bars.iter().enumerate() {
        let y = n - 1.0 - i as f64;
        let mut start = 0.0;
        for (part, (_, colour)) in bar.parts_us.iter().zip(parts) {
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
            format!("{start:.2} ms"),
            (start, y),
            font(14).pos(Pos::new(HPos::Left, VPos::Center)),
        )))?;
    }
    Ok(())
}
