//! `server-timing`: per target, operation and percentile (p50, p90, p99), the `ok`
//! response time stacked into gateway, backend, gateway cache and network + client, as
//! the responses' `Server-Timing` headers tell it (see `report::attribution`).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::DrawResult;
use super::stacked::{self, Bar};
use super::style::{BLUE, GREY, ORANGE, VERMILLION, no_data};
use crate::report::Report;
use crate::report::attribution::{PARTS, splits};

/// Colours of the parts, in [`PARTS`] order.
const COLOURS: [RGBColor; 4] = [VERMILLION, BLUE, ORANGE, GREY];

/// Number of bars the chart draws.
pub fn bars(data: &Report) -> usize {
    splits(&data.summary).len()
}

/// Draws the chart.
pub fn draw<DB: DrawingBackend>(data: &Report, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    let bars: Vec<Bar> = splits(&data.summary)
        .into_iter()
        .map(|s| Bar {
            label: format!(
                "{} {} {}",
                s.target,
                s.op.name().to_uppercase(),
                s.percentile
            ),
            parts_us: s.parts_us.map(|us| us as f64).to_vec(),
        })
        .collect();
    if bars.is_empty() {
        return no_data(
            area,
            "no response carried a Server-Timing header (gateway, backend, cache)",
        );
    }
    let parts: Vec<(&str, RGBColor)> = PARTS.into_iter().zip(COLOURS).collect();
    stacked::draw(
        area,
        &bars,
        &parts,
        "ok response time at the percentile (ms), split by Server-Timing",
    )
}
