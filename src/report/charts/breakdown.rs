//! `time-breakdown`: one horizontal bar per target and operation, the mean `ok`
//! response time stacked by where it went (see `report::breakdown`).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::DrawResult;
use super::stacked::{self, Bar};
use super::style::{BLUE, BLUISH_GREEN, GREY, ORANGE, VERMILLION, no_data};
use crate::report::Report;
use crate::report::breakdown::{PARTS, breakdowns};

/// Colours of the parts, in [`PARTS`] order.
const COLOURS: [RGBColor; 5] = [GREY, ORANGE, VERMILLION, BLUE, BLUISH_GREEN];

/// Number of bars the chart draws.
pub fn bars(data: &Report) -> usize {
    breakdowns(&data.summary).len()
}

/// Draws the chart.
pub fn draw<DB: DrawingBackend>(data: &Report, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    let bars: Vec<Bar> = breakdowns(&data.summary)
        .into_iter()
        .map(|r| Bar {
            label: format!("{} {}", r.target, r.op.name().to_uppercase()),
            parts_us: r.parts_us.to_vec(),
        })
        .collect();
    if bars.is_empty() {
        return no_data(area, "no ok requests to break down");
    }
    let parts: Vec<(&str, RGBColor)> = PARTS.into_iter().zip(COLOURS).collect();
    stacked::draw(
        area,
        &bars,
        &parts,
        "mean response time of ok requests (ms)",
    )
}
