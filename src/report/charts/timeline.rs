//! Charts over time from the per-second series: `throughput` (ok ops/s per target),
//! `outcomes` (requests per second stacked by outcome class, one panel per target, with
//! a configured rate limit) and `latency-over-time` (p50 and p99 of ok latency).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{
    BLUISH_GREEN, Dash, Key, Line, Marker, ORANGE, REDDISH_PURPLE, SKY_BLUE, SeriesStyle,
    VERMILLION, YELLOW, draw_lines, fmt_tick, font, linear, max_y, no_data, panel, series_style,
    y_range,
};
use super::{DrawResult, TIME_AXIS, with_legend};
use crate::record::OutcomeClass;
use crate::report::Report;
use crate::report::series::{Second, TargetSeries};

/// Outcome classes bottom to top of the stack, with their colours.
const STACK: [(OutcomeClass, RGBColor); 7] = [
    (OutcomeClass::Ok, BLUISH_GREEN),
    (OutcomeClass::ClientError, SKY_BLUE),
    (OutcomeClass::AuthFailure, REDDISH_PURPLE),
    (OutcomeClass::Throttled, ORANGE),
    (OutcomeClass::Quota, YELLOW),
    (OutcomeClass::ServerError, VERMILLION),
    (OutcomeClass::Transport, BLACK),
];

/// The style of a configured limit line.
const LIMIT: SeriesStyle = SeriesStyle {
    color: BLACK,
    dash: Dash::Dashed(10, 6),
    marker: Marker::Cross,
};

/// Per-target lines of `value` per second. Seconds in which the target completed no
/// request (the other target's turn) or where `value` is `None` are left out, and the
/// line is broken there rather than drawn across.
fn lines_of(data: &Report, value: impl Fn(&Second) -> Option<f64>) -> Vec<Line> {
    data.targets()
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let s: &TargetSeries = data.series.targets.get(&t.name)?;
            let points: Vec<(f64, f64)> = s
                .seconds
                .iter()
                .enumerate()
                .filter(|(_, v)| v.requests > 0)
                .filter_map(|(sec, v)| value(v).map(|y| (sec as f64 + 0.5, y)))
                .collect();
            (!points.is_empty()).then(|| Line::per_second(t.name.clone(), series_style(i), points))
        })
        .collect()
}

/// One panel of lines over time.
fn time_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    lines: &[Line],
) -> DrawResult<DB> {
    let x_end = lines
        .iter()
        .flat_map(|l| &l.points)
        .map(|p| p.0 + 0.5)
        .fold(1.0, f64::max);
    let mut chart = panel(
        area,
        caption,
        (linear(0.0..x_end), linear(y_range(max_y(lines), 0.1))),
        (TIME_AXIS, y_desc),
        &fmt_tick,
    )?;
    draw_lines(&mut chart, lines)
}

fn legend_of(lines: &[Line]) -> Vec<(String, Key)> {
    lines
        .iter()
        .map(|l| (l.label.clone(), Key::Line(l.style)))
        .collect()
}

/// `throughput`.
pub fn throughput<DB: DrawingBackend>(
    data: &Report,
    area: &DrawingArea<DB, Shift>,
) -> DrawResult<DB> {
    let lines = lines_of(data, |s| Some(s.count(OutcomeClass::Ok) as f64));
    if lines.is_empty() {
        return no_data(area, "no data: no request was recorded in the steady phase");
    }
    let plot = with_legend(
        area,
        &legend_of(&lines),
        Some(
            "MiB/s over time is not available (the interval log records latency only): see the table for MiB/s totals.",
        ),
    )?;
    time_panel(&plot, "", "ok requests per second", &lines)
}

/// `latency-over-time`.
pub fn latency<DB: DrawingBackend>(data: &Report, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    let ms = |us: Option<u64>| us.map(|v| v as f64 / 1000.0);
    let p50 = lines_of(data, |s| ms(s.ok_p50_us));
    let p99 = lines_of(data, |s| ms(s.ok_p99_us));
    if p50.is_empty() {
        return no_data(
            area,
            "no data: no ok request was recorded in the steady phase",
        );
    }
    let plot = with_legend(area, &legend_of(&p50), None)?;
    let panels = plot.split_evenly((2, 1));
    time_panel(&panels[0], "p50 per second", "latency (ms)", &p50)?;
    time_panel(&panels[1], "p99 per second", "latency (ms)", &p99)
}

/// `outcomes`.
pub fn outcomes<DB: DrawingBackend>(
    data: &Report,
    area: &DrawingArea<DB, Shift>,
) -> DrawResult<DB> {
    let targets: Vec<(&str, &TargetSeries)> = data
        .targets()
        .iter()
        .filter_map(|t| Some((t.name.as_str(), data.series.targets.get(&t.name)?)))
        .collect();
    if targets.is_empty() {
        return no_data(area, "no data: no request was recorded in the steady phase");
    }
    let present: Vec<(OutcomeClass, RGBColor)> = STACK
        .into_iter()
        .filter(|(c, _)| {
            targets
                .iter()
                .any(|(_, s)| s.seconds.iter().any(|sec| sec.count(*c) > 0))
        })
        .collect();
    let mut legend: Vec<(String, Key)> = present
        .iter()
        .map(|(c, colour)| (c.name().replace('_', " "), Key::Swatch(*colour)))
        .collect();
    let client_lines: Vec<Vec<Line>> = targets
        .iter()
        .map(|(name, series)| super::clients::throttled_lines(data, name, series))
        .collect();
    legend.extend(
        client_lines
            .iter()
            .flatten()
            .map(|l| (l.label.clone(), Key::Line(l.style))),
    );
    if targets
        .iter()
        .any(|(name, _)| data.rate_limit(name).is_some())
    {
        legend.push(("configured rate limit".into(), Key::Line(LIMIT)));
    }
    let plot = with_legend(area, &legend, None)?;
    let panels = plot.split_evenly((targets.len(), 1));
    let x_end = targets
        .iter()
        .map(|(_, s)| s.seconds.len())
        .max()
        .unwrap_or(1) as f64;
    for (((name, series), area), client_lines) in targets.iter().zip(panels).zip(&client_lines) {
        let limit = data.rate_limit(name);
        let top = series
            .seconds
            .iter()
            .map(|s| s.requests as f64)
            .fold(limit.unwrap_or(0.0), f64::max);
        let mut chart = panel(
            &area,
            name,
            (linear(0.0..x_end.max(1.0)), linear(y_range(top, 1.0))),
            (TIME_AXIS, "requests per second"),
            &fmt_tick,
        )?;
        let outline = series.seconds.len() <= 120;
        for (sec, s) in series.seconds.iter().enumerate() {
            let x = sec as f64;
            let mut lo = 0.0;
            for (class, colour) in &present {
                let n = s.count(*class) as f64;
                if n == 0.0 {
                    continue;
                }
                let corners = [(x + 0.05, lo), (x + 0.95, lo + n)];
                chart.draw_series(std::iter::once(Rectangle::new(corners, colour.filled())))?;
                if outline {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        corners,
                        WHITE.stroke_width(1),
                    )))?;
                }
                lo += n;
            }
        }
        draw_lines(&mut chart, client_lines)?;
        if let Some(limit) = limit {
            let mut line = Line::new(
                format!("configured rate limit {limit:.0}/s"),
                LIMIT,
                vec![(0.0, limit), (x_end, limit)],
            );
            line.markers.clear();
            draw_lines(&mut chart, &[line])?;
            let label = format!("limit {limit:.0}/s");
            let width = 10 + 8 * label.len() as i32;
            chart.draw_series(std::iter::once(
                EmptyElement::at((0.0, limit))
                    + Rectangle::new([(6, -22), (6 + width, -4)], WHITE.filled())
                    + Text::new(label, (10, -21), font(14)),
            ))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Kind;
    use crate::report::series::Series;
    use crate::report::verdict::tests::{summary, target};

    #[test]
    fn a_line_is_broken_where_its_target_did_not_run() {
        // direct ran seconds 0-1 and 4; 2-3 were the other target's turn.
        let second = |ok: u64| Second {
            requests: ok,
            by_class: [(OutcomeClass::Ok, ok)].into(),
            ok_p50_us: (ok > 0).then_some(1000 * ok),
            ..Second::default()
        };
        let mut series = Series::default();
        series.targets.insert(
            "direct".into(),
            TargetSeries {
                first_second: 3,
                seconds: [10, 12, 0, 0, 11].map(second).to_vec(),
            },
        );
        let data = Report {
            summary: summary(vec![target("direct", Kind::S3, Vec::new())]),
            provenance: None,
            series,
            charts: Vec::new(),
            verdict: Vec::new(),
        };
        let throughput = lines_of(&data, |s| Some(s.count(OutcomeClass::Ok) as f64));
        let pieces: Vec<&[(f64, f64)]> = vec![&[(0.5, 10.0), (1.5, 12.0)], &[(4.5, 11.0)]];
        assert_eq!(throughput[0].pieces(), pieces);
        assert!(
            throughput[0].markers.contains(&(4.5, 11.0)),
            "a lone second shows"
        );
        let p50 = lines_of(&data, |s| s.ok_p50_us.map(|us| us as f64 / 1000.0));
        assert_eq!(p50[0].pieces(), pieces);
    }
}
