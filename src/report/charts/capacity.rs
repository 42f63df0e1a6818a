//! `capacity`: a capacity search's steps, every target on the same axes. Left, the
//! accepted against the offered rate (the diagonal is "served everything"); right, p50
//! and p99 against the offered rate with the SLO line. A dotted vertical line in the
//! target's colour marks its knee.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::DrawResult;
use super::style::{
    Dash, Key, Line, Marker, REFERENCE, SeriesStyle, draw_lines, fmt_tick, linear, max_y, no_data,
    panel, series_style, y_range,
};
use super::with_legend;
use crate::report::Report;
use crate::results::capacity::TargetCapacity;

/// Label of the x axes.
const OFFERED: &str = "offered rate (requests/s)";

/// Draws the chart.
pub fn draw<DB: DrawingBackend>(data: &Report, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    let Some(c) = data
        .summary
        .capacity
        .as_ref()
        .filter(|c| !c.targets.is_empty())
    else {
        return no_data(area, "no capacity search in this run");
    };
    let styled: Vec<(SeriesStyle, &TargetCapacity)> = c
        .targets
        .iter()
        .map(|t| {
            let i = data.targets().iter().position(|s| s.name == t.target);
            (series_style(i.unwrap_or(0)), t)
        })
        .collect();
    // The steps offered, not the ceiling: a knee far below max_rate stays readable.
    let x_end = styled
        .iter()
        .flat_map(|(_, t)| &t.steps)
        .map(|s| s.stats.offered_rate)
        .fold(1.0, f64::max)
        * 1.05;
    let (left, right) = area.split_horizontally(area.dim_in_pixel().0 / 2);

    // Offered against accepted.
    let mut rates = vec![Line::new(
        "offered = accepted".into(),
        SeriesStyle {
            dash: Dash::Dashed(6, 6),
            ..REFERENCE
        },
        vec![(0.0, 0.0), (x_end, x_end)],
    )];
    rates[0].markers.clear();
    for (style, t) in &styled {
        let points = by_offered(t, |s| s.accepted_rate);
        rates.push(Line::new(format!("{} accepted", t.target), *style, points));
    }
    let plot = with_legend(&left, &legend(&rates), None)?;
    let y_end = x_end.max(max_y(&rates));
    let mut chart = panel(
        &plot,
        "accepted vs offered rate",
        (linear(0.0..x_end), linear(0.0..y_end)),
        (OFFERED, "accepted: ok responses per second"),
        &fmt_tick,
    )?;
    draw_lines(&mut chart, &rates)?;
    mark_knees(&mut chart, &styled, y_end)?;

    // Latency against offered, with the SLO.
    let slo = c.slo_p99_ms;
    let mut latency = vec![Line::new(
        format!("SLO: p99 < {} ms", fmt_tick(&slo)),
        SeriesStyle {
            dash: Dash::Dashed(10, 5),
            ..REFERENCE
        },
        vec![(0.0, slo), (x_end, slo)],
    )];
    latency[0].markers.clear();
    for (style, t) in &styled {
        let p99 = by_offered(t, |s| s.p99_us as f64 / 1e3);
        latency.push(Line::new(format!("{} p99", t.target), *style, p99));
        let p50_style = SeriesStyle {
            dash: Dash::Dashed(3, 4),
            marker: Marker::Cross,
            ..*style
        };
        let p50 = by_offered(t, |s| s.p50_us as f64 / 1e3);
        latency.push(Line::new(format!("{} p50", t.target), p50_style, p50));
    }
    let plot = with_legend(&right, &legend(&latency), None)?;
    let y_end = y_range(max_y(&latency), 1.0).end;
    let mut chart = panel(
        &plot,
        "latency vs offered rate (ok requests)",
        (linear(0.0..x_end), linear(0.0..y_end)),
        (OFFERED, "response time (ms)"),
        &fmt_tick,
    )?;
    draw_lines(&mut chart, &latency)?;
    mark_knees(&mut chart, &styled, y_end)
}

/// The steps of `t` as (offered rate, `y`), in order of offered rate (the bisection
/// runs back and forth).
fn by_offered(
    t: &TargetCapacity,
    y: impl Fn(&crate::plan::capacity::StepStats) -> f64,
) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = t
        .steps
        .iter()
        .map(|s| (s.stats.offered_rate, y(&s.stats)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

fn legend(lines: &[Line]) -> Vec<(String, Key)> {
    lines
        .iter()
        .map(|l| (l.label.clone(), Key::Line(l.style)))
        .collect()
}

/// A dotted vertical line at each target's knee, in its colour.
fn mark_knees<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    styled: &[(SeriesStyle, &TargetCapacity)],
    y_end: f64,
) -> DrawResult<DB> {
    for (style, t) in styled {
        if let Some(rate) = t.knee.rate {
            chart.draw_series(DashedLineSeries::new(
                [(rate, 0.0), (rate, y_end)],
                2,
                5,
                style.color.stroke_width(2),
            ))?;
        }
    }
    Ok(())
}
