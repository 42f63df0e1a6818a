//! `overhead`: per operation, the baseline's latency and each gateway's extra latency
//! over it at p50, p90, p99 and p99.9, on the "nines" axis.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::spectrum::NinesAxis;
use super::style::{GREY, Key, Line, REFERENCE, draw_lines, linear, no_data, panel, series_style};
use super::{DrawResult, grid, with_legend};
use crate::plan::OpKind;
use crate::report::Report;
use crate::report::nines;
use crate::report::overhead::{OpOverhead, Overheads, PERCENTILES, overheads};

/// Draws the chart.
pub fn draw<DB: DrawingBackend>(data: &Report, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    let pairs = match overheads(&data.summary) {
        Overheads::NoGateway => return no_data(area, "no gateway target in this run"),
        Overheads::NoBaseline => {
            return no_data(area, "no s3 or embedded target to compare the gateway with");
        }
        Overheads::Pairs(p) if p.is_empty() => {
            return no_data(
                area,
                "no operation has ok requests on both the baseline and a gateway",
            );
        }
        Overheads::Pairs(p) => p,
    };
    let style_of = |name: &str| {
        let i = data
            .targets()
            .iter()
            .position(|t| t.name == name)
            .unwrap_or(0);
        series_style(i)
    };
    let baseline = pairs[0].baseline.clone();
    let mut legend = vec![(
        format!("{baseline} latency (baseline)"),
        Key::Line(REFERENCE),
    )];
    let mut candidates: Vec<&str> = pairs.iter().map(|p| p.candidate.as_str()).collect();
    candidates.dedup();
    for c in &candidates {
        legend.push((
            format!("{c} minus {baseline} (overhead)"),
            Key::Line(style_of(c)),
        ));
    }
    let plot = with_legend(area, &legend, None)?;
    let mut ops: Vec<OpKind> = pairs.iter().map(|p| p.op).collect();
    ops.sort();
    ops.dedup();
    let xs = PERCENTILES.map(|(q, _)| nines::x_of(q));
    for (op, area) in ops.iter().zip(grid(&plot, ops.len())) {
        let of_op: Vec<&OpOverhead> = pairs.iter().filter(|p| p.op == *op).collect();
        let mut lines = vec![Line::new(
            format!("{baseline} latency"),
            REFERENCE,
            xs.iter()
                .zip(of_op[0].baseline_us)
                .map(|(x, us)| (*x, us as f64 / 1000.0))
                .collect(),
        )];
        for p in &of_op {
            lines.push(Line::new(
                p.candidate.clone(),
                style_of(&p.candidate),
                xs.iter()
                    .enumerate()
                    .map(|(i, x)| (*x, p.delta_ms(i)))
                    .collect(),
            ));
        }
        for l in &mut lines {
            l.markers = l.points.clone();
        }
        let ys = lines.iter().flat_map(|l| &l.points).map(|p| p.1);
        let lo = ys.clone().fold(0.0, f64::min);
        let hi = ys.fold(0.0, f64::max).max(0.1);
        let pad = (hi - lo) * 0.08;
        let lo = lo - if lo < 0.0 { pad } else { 0.0 };
        let mut chart = panel(
            &area,
            &op.name().to_uppercase(),
            (NinesAxis { end: 3.3 }, linear(lo..hi + pad)),
            ("percentile (%)", "ms"),
            &|x| nines::label(*x),
        )?;
        chart.draw_series(LineSeries::new(
            [(0.0, 0.0), (3.3, 0.0)],
            GREY.stroke_width(1),
        ))?;
        draw_lines(&mut chart, &lines)?;
    }
    Ok(())
}
