//! Looks shared by every chart: the embedded font, the colour-blind-safe Okabe-Ito
//! palette, one style per series (colour + dash pattern + marker shape, so lines differ
//! in greyscale and without colour vision), lines, legends and "no data" panels.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::DrawResult;

/// The font charts are drawn with, embedded so no system font is needed.
const FONT_FAMILY: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font with plotters (once per process).
pub fn register_font() -> anyhow::Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    anyhow::ensure!(ok, "the embedded chart font does not load");
    Ok(())
}

/// The chart font at `size` pixels.
pub fn font(size: u32) -> TextStyle<'static> {
    (FONT_FAMILY, size).into_font().color(&BLACK)
}

/// Okabe-Ito colours.
pub const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
pub const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
pub const BLUISH_GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
pub const REDDISH_PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
pub const SKY_BLUE: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
pub const YELLOW: RGBColor = RGBColor(0xF0, 0xE4, 0x42);
pub const GREY: RGBColor = RGBColor(0x70, 0x70, 0x70);

/// Dash pattern of a line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dash {
    Solid,
    /// Dash and gap lengths, pixels.
    Dashed(i32, i32),
}

/// Marker shape drawn on a line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
    Diamond,
}

/// How one series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesStyle {
    pub color: RGBColor,
    pub dash: Dash,
    pub marker: Marker,
}

const STYLES: [SeriesStyle; 6] = [
    SeriesStyle {
        color: BLUE,
        dash: Dash::Solid,
        marker: Marker::Circle,
    },
    SeriesStyle {
        color: VERMILLION,
        dash: Dash::Dashed(12, 6),
        marker: Marker::Triangle,
    },
    SeriesStyle {
        color: BLUISH_GREEN,
        dash: Dash::Dashed(3, 4),
        marker: Marker::Square,
    },
    SeriesStyle {
        color: REDDISH_PURPLE,
        dash: Dash::Dashed(20, 5),
        marker: Marker::Diamond,
    },
    SeriesStyle {
        color: ORANGE,
        dash: Dash::Dashed(7, 7),
        marker: Marker::Cross,
    },
    SeriesStyle {
        color: SKY_BLUE,
        dash: Dash::Solid,
        marker: Marker::Triangle,
    },
];

/// The style of series `i` (the i-th target, in run order, on every chart).
pub fn series_style(i: usize) -> SeriesStyle {
    STYLES[i % STYLES.len()]
}

/// The style of a reference series (a baseline): black, solid, squares.
pub const REFERENCE: SeriesStyle = SeriesStyle {
    color: BLACK,
    dash: Dash::Solid,
    marker: Marker::Square,
};

/// One labelled line of a chart.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub style: SeriesStyle,
    pub points: Vec<(f64, f64)>,
    /// Indices into `points` where a new piece starts: the line is not drawn across a
    /// gap (seconds in which its target did not run).
    pub breaks: Vec<usize>,
    /// Where markers go (by default about ten points along the line).
    pub markers: Vec<(f64, f64)>,
}

impl Line {
    /// A line with markers on about ten of its points.
    pub fn new(label: String, style: SeriesStyle, points: Vec<(f64, f64)>) -> Line {
        let every = points.len().div_ceil(10).max(1);
        let markers = points.iter().step_by(every).copied().collect();
        Line {
            label,
            style,
            points,
            breaks: Vec::new(),
            markers,
        }
    }

    /// A line of one point per second, broken wherever seconds are missing; a piece of
    /// a single second gets a marker, so it shows.
    pub fn per_second(label: String, style: SeriesStyle, points: Vec<(f64, f64)>) -> Line {
        let mut line = Line::new(label, style, points);
        line.breaks = (1..line.points.len())
            .filter(|&i| line.points[i].0 - line.points[i - 1].0 > 1.5)
            .collect();
        let lone: Vec<(f64, f64)> = line
            .pieces()
            .into_iter()
            .filter(|piece| piece.len() == 1 && !line.markers.contains(&piece[0]))
            .map(|piece| piece[0])
            .collect();
        line.markers.extend(lone);
        line
    }

    /// The pieces drawn: runs of points between breaks.
    pub fn pieces(&self) -> Vec<&[(f64, f64)]> {
        let mut bounds = vec![0];
        bounds.extend(&self.breaks);
        bounds.push(self.points.len());
        bounds
            .windows(2)
            .map(|w| &self.points[w[0]..w[1]])
            .collect()
    }
}

/// Stroke width of lines, pixels.
const STROKE: u32 = 2;
/// Marker size, pixels.
const MARK: i32 = 5;

/// Draws `lines` on a chart with f64 axes.
pub fn draw_lines<DB, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    lines: &[Line],
) -> DrawResult<DB>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for line in lines {
        let st = line.style.color.stroke_width(STROKE);
        for piece in line.pieces() {
            match line.style.dash {
                Dash::Solid => {
                    chart.draw_series(LineSeries::new(piece.iter().copied(), st))?;
                }
                Dash::Dashed(dash, gap) => {
                    chart.draw_series(DashedLineSeries::new(
                        piece.iter().copied(),
                        dash,
                        gap,
                        st,
                    ))?;
                }
            }
        }
        let pts = line.markers.iter().copied();
        let c = line.style.color;
        match line.style.marker {
            Marker::Circle => {
                chart.draw_series(pts.map(|p| Circle::new(p, MARK, c.filled())))?;
            }
            Marker::Triangle => {
                chart.draw_series(pts.map(|p| TriangleMarker::new(p, MARK + 1, c.filled())))?;
            }
            Marker::Square => {
                chart.draw_series(pts.map(|p| {
                    EmptyElement::at(p) + Rectangle::new([(-MARK, -MARK), (MARK, MARK)], c.filled())
                }))?;
            }
            Marker::Cross => {
                chart.draw_series(pts.map(|p| Cross::new(p, MARK, c.stroke_width(STROKE))))?;
            }
            Marker::Diamond => {
                chart.draw_series(pts.map(|p| {
                    EmptyElement::at(p)
                        + Polygon::new(
                            vec![(0, -MARK - 1), (MARK + 1, 0), (0, MARK + 1), (-MARK - 1, 0)],
                            c.filled(),
                        )
                }))?;
            }
        }
    }
    Ok(())
}

/// Draws one legend sample (line and marker) centred at `(x, y)` in pixels.
fn draw_sample<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    style: &SeriesStyle,
) -> DrawResult<DB> {
    let st = style.color.stroke_width(STROKE);
    let ends = vec![(x - 18, y), (x + 18, y)];
    match style.dash {
        Dash::Solid => area.draw(&PathElement::new(ends, st))?,
        Dash::Dashed(dash, gap) => {
            area.draw(&DashedPathElement::new(ends, dash.min(10), gap.min(5), st))?
        }
    }
    let c = style.color;
    match style.marker {
        Marker::Circle => area.draw(&Circle::new((x, y), MARK, c.filled())),
        Marker::Triangle => area.draw(&TriangleMarker::new((x, y), MARK + 1, c.filled())),
        Marker::Square => area.draw(&Rectangle::new(
            [(x - MARK, y - MARK), (x + MARK, y + MARK)],
            c.filled(),
        )),
        Marker::Cross => area.draw(&Cross::new((x, y), MARK, c.stroke_width(STROKE))),
        Marker::Diamond => area.draw(&Polygon::new(
            vec![
                (x, y - MARK - 1),
                (x + MARK + 1, y),
                (x, y + MARK + 1),
                (x - MARK - 1, y),
            ],
            c.filled(),
        )),
    }
}

/// A legend entry: a line sample, or a filled swatch.
#[derive(Debug, Clone)]
pub enum Key {
    Line(SeriesStyle),
    Swatch(RGBColor),
}

/// Height of a legend with `entries` on an area `width` pixels wide.
pub fn legend_height(entries: &[(String, Key)], width: u32) -> u32 {
    if entries.is_empty() {
        return 0;
    }
    layout(entries, width).last().map_or(0, |(_, y)| *y as u32) + 24
}

/// Row-wrapped positions of legend entries.
fn layout(entries: &[(String, Key)], width: u32) -> Vec<(i32, i32)> {
    let (mut x, mut y) = (20i32, 14i32);
    let mut out = Vec::new();
    for (label, _) in entries {
        // DejaVu Sans at 15 px averages about 8.5 px per character.
        let w = 56 + (label.chars().count() as i32 * 17) / 2 + 24;
        if x + w > width as i32 && x > 20 {
            x = 20;
            y += 26;
        }
        out.push((x, y));
        x += w;
    }
    out
}

/// Draws a legend across the top of `area`.
pub fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, Key)],
) -> DrawResult<DB> {
    let (width, _) = area.dim_in_pixel();
    for ((label, key), (x, y)) in entries.iter().zip(layout(entries, width)) {
        match key {
            Key::Line(style) => draw_sample(area, (x + 20, y), style)?,
            Key::Swatch(c) => {
                area.draw(&Rectangle::new(
                    [(x + 8, y - 7), (x + 32, y + 7)],
                    c.filled(),
                ))?;
                area.draw(&Rectangle::new(
                    [(x + 8, y - 7), (x + 32, y + 7)],
                    BLACK.stroke_width(1),
                ))?;
            }
        }
        area.draw(&Text::new(label.clone(), (x + 46, y - 8), font(15)))?;
    }
    Ok(())
}

/// Writes `message` in the middle of `area`, for a chart or panel without data.
pub fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, message: &str) -> DrawResult<DB> {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Rectangle::new(
        [(10, 10), (w as i32 - 10, h as i32 - 10)],
        GREY.stroke_width(1),
    ))?;
    let style = font(20)
        .color(&GREY)
        .pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ));
    area.draw(&Text::new(
        message.to_string(),
        (w as i32 / 2, h as i32 / 2),
        style,
    ))
}

/// A y range from 0 to a bit above `max` (at least `floor`).
pub fn y_range(max: f64, floor: f64) -> std::ops::Range<f64> {
    0.0..(max.max(floor) * 1.08)
}

/// Largest y of `lines`.
pub fn max_y(lines: &[Line]) -> f64 {
    lines
        .iter()
        .flat_map(|l| &l.points)
        .map(|p| p.1)
        .fold(0.0, f64::max)
}

/// A linear f64 axis over `range`.
pub fn linear(range: std::ops::Range<f64>) -> RangedCoordf64 {
    range.into()
}

/// `12`, `0.5`, `1250`: a tick label without a needless `.0`.
pub fn fmt_tick(v: &f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A chart on a panel, or why it could not be drawn.
pub type Panel<'a, DB, X, Y> = Result<
    ChartContext<'a, DB, Cartesian2d<X, Y>>,
    DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>,
>;

/// A chart context on `area` with light grid lines, axis descriptions and the shared
/// margins; `x_fmt` labels the x ticks (y ticks use [`fmt_tick`]).
pub fn panel<'a, DB, X, Y>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    (x, y): (X, Y),
    (x_desc, y_desc): (&str, &str),
    x_fmt: &dyn Fn(&f64) -> String,
) -> Panel<'a, DB, X, Y>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut builder = ChartBuilder::on(area);
    if !caption.is_empty() {
        builder.caption(caption, font(19));
    }
    let mut chart = builder
        .margin(12)
        .margin_right(36)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(x_fmt)
        .y_label_formatter(&fmt_tick)
        .label_style(font(14))
        .axis_desc_style(font(15))
        .bold_line_style(RGBColor(220, 220, 220))
        .light_line_style(RGBColor(246, 246, 246))
        .draw()?;
    Ok(chart)
}
