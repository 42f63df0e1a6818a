//! The "nines" percentile axis of latency spectrum charts: x = -log10(1 - p), so 50 %,
//! 90 %, 99 %, 99.9 %… are evenly spaced and the tail gets the room it deserves.
//!
//! Owns the mapping, tick positions and labels, and sampling a histogram along the axis.

use hdrhistogram::Histogram;

/// Highest percentile drawn: 99.999 (x = 5).
pub const MAX_X: f64 = 5.0;

/// Sampling step along the axis.
const STEP: f64 = 0.02;

/// The axis position of quantile `q` (0 ≤ q < 1).
pub fn x_of(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// The quantile at axis position `x`.
pub fn q_of(x: f64) -> f64 {
    1.0 - 10f64.powf(-x)
}

/// The tick positions up to `max_x`: 50, 90, 99, 99.9… (x = log10 2, 1, 2, 3…).
pub fn ticks(max_x: f64) -> Vec<f64> {
    let mut out = vec![x_of(0.5)];
    out.extend((1..=MAX_X as u32).map(f64::from));
    out.retain(|x| *x <= max_x + 1e-9);
    out
}

/// The percentile label of axis position `x`: `50`, `99.9`, `99.99`.
pub fn label(x: f64) -> String {
    let pct = format!("{:.4}", 100.0 * q_of(x));
    pct.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Where a histogram of `count` values ends on the axis: its maximum is the quantile
/// 1 - 1/count, capped at [`MAX_X`].
pub fn end_of(count: u64) -> f64 {
    (count.max(1) as f64).log10().min(MAX_X)
}

/// The axis range for spectra ending at `end`: up to the next whole nine (at least 99).
pub fn range_end(end: f64) -> f64 {
    end.ceil().clamp(2.0, MAX_X)
}

/// Samples `h` along the axis: `(x, latency in ms)` from the minimum to the last
/// percentile the data supports, ending at the maximum.
pub fn spectrum(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let end = end_of(h.len());
    let ms = |us: u64| us as f64 / 1000.0;
    let steps = (end / STEP).floor() as usize;
    let mut out: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let x = i as f64 * STEP;
            (x, ms(h.value_at_quantile(q_of(x))))
        })
        .collect();
    out.push((end, ms(h.max())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::new_histogram;

    #[test]
    fn nines_are_evenly_spaced_and_labelled() {
        assert!((x_of(0.9) - 1.0).abs() < 1e-9);
        assert!((x_of(0.999) - 3.0).abs() < 1e-9);
        assert!((q_of(2.0) - 0.99).abs() < 1e-12);
        let t = ticks(4.0);
        assert_eq!(t.len(), 5);
        let labels: Vec<String> = t.iter().map(|x| label(*x)).collect();
        assert_eq!(labels, ["50", "90", "99", "99.9", "99.99"]);
        assert_eq!(ticks(2.5).len(), 3);
        assert_eq!(label(0.0), "0");
    }

    #[test]
    fn the_axis_ends_where_the_data_does() {
        assert_eq!(end_of(1), 0.0);
        assert!((end_of(1000) - 3.0).abs() < 1e-9);
        assert_eq!(end_of(10_000_000), MAX_X);
        assert_eq!(range_end(0.0), 2.0);
        assert_eq!(range_end(3.2), 4.0);
        assert_eq!(range_end(9.0), MAX_X);
    }

    #[test]
    fn a_spectrum_rises_from_the_minimum_to_the_maximum() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 10).unwrap();
        }
        let s = spectrum(&h);
        assert!((s[0].1 - 0.01).abs() < 1e-3, "{:?}", s[0]);
        let last = s.last().unwrap();
        assert!((last.0 - 3.0).abs() < 1e-9);
        assert!((last.1 - 10.0).abs() < 0.01, "{last:?}");
        assert!(
            s.windows(2)
                .all(|w| w[0].0 < w[1].0 + 1e-12 && w[0].1 <= w[1].1)
        );
        // p90 of 10 µs .. 10 ms is 9 ms.
        let p90 = s.iter().find(|(x, _)| (x - 1.0).abs() < 1e-9).unwrap();
        assert!((p90.1 - 9.0).abs() < 0.01, "{p90:?}");
        assert!(spectrum(&new_histogram()).is_empty());
    }
}
