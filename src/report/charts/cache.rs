//! `cache`: hit ratio per second of each target with cache data, and the latency
//! spectrum of cache hits against misses (ok requests, all operations).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::spectrum::{spectrum_line, spectrum_panel};
use super::style::{
    Dash, Key, Line, Marker, SeriesStyle, draw_lines, fmt_tick, linear, no_data, panel,
    series_style,
};
use super::{DrawResult, TIME_AXIS, with_legend};
use crate::record::{CacheClass, OutcomeClass};
use crate::report::Report;

/// Draws the chart.
pub fn draw<DB: DrawingBackend>(data: &Report, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    let cached: Vec<(usize, &str)> = data
        .targets()
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            data.series
                .targets
                .get(&t.name)
                .is_some_and(|s| s.has_cache_data())
        })
        .map(|(i, t)| (i, t.name.as_str()))
        .collect();
    if cached.is_empty() {
        return no_data(
            area,
            "no cache data in this run (no target has a cache rule, or none saw a cacheable request)",
        );
    }
    let (left, right) = area.split_horizontally(area.dim_in_pixel().0 * 45 / 100);

    let ratio: Vec<Line> = cached
        .iter()
        .map(|(i, name)| {
            let points = data.series.targets[*name]
                .seconds
                .iter()
                .enumerate()
                .filter_map(|(sec, s)| s.hit_ratio().map(|r| (sec as f64 + 0.5, 100.0 * r)))
                .collect();
            Line::per_second(name.to_string(), series_style(*i), points)
        })
        .collect();
    let legend: Vec<(String, Key)> = ratio
        .iter()
        .map(|l| (format!("{} hit ratio", l.label), Key::Line(l.style)))
        .collect();
    let plot = with_legend(&left, &legend, None)?;
    let x_end = ratio
        .iter()
        .flat_map(|l| &l.points)
        .map(|p| p.0 + 0.5)
        .fold(1.0, f64::max);
    let mut chart = panel(
        &plot,
        "hit ratio per second",
        (linear(0.0..x_end), linear(0.0..105.0)),
        (TIME_AXIS, "hits / (hits + misses) (%)"),
        &fmt_tick,
    )?;
    draw_lines(&mut chart, &ratio)?;

    // Hits and misses keep their target's colour; line and marker tell them apart.
    let mut spectra = Vec::new();
    for (i, name) in &cached {
        let color = series_style(*i).color;
        let kinds = [
            (CacheClass::Hit, "hits", Dash::Solid, Marker::Circle),
            (
                CacheClass::Miss,
                "misses",
                Dash::Dashed(12, 6),
                Marker::Triangle,
            ),
        ];
        for (class, word, dash, marker) in kinds {
            let h = data.series.merged(|id| {
                id.target == *name && id.class == OutcomeClass::Ok && id.cache == class
            });
            if let Some(h) = h {
                let style = SeriesStyle {
                    color,
                    dash,
                    marker,
                };
                spectra.push(spectrum_line(format!("{name} {word}"), style, &h));
            }
        }
    }
    let legend: Vec<(String, Key)> = spectra
        .iter()
        .map(|l| (l.label.clone(), Key::Line(l.style)))
        .collect();
    let plot = with_legend(&right, &legend, None)?;
    spectrum_panel(&plot, "latency of hits and misses", &spectra)
}
