//! Bootstrap confidence intervals for a percentile difference between two sets of
//! histograms.
//!
//! A "unit" is one histogram: a repetition's whole steady phase, or one second of a run.
//! Each resample draws as many units as there are, with replacement, merges their counts
//! and takes the percentile of the merge (histograms are merged, never percentiles
//! averaged). Owns the statistics only; it knows nothing about folders or verdicts.

use hdrhistogram::Histogram;
use rand::Rng;
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// A histogram reduced to its recorded buckets: (highest equivalent value, count).
#[derive(Debug, Clone)]
pub struct Unit(Vec<(u64, u64)>);

impl Unit {
    /// The recorded buckets of `h`.
    pub fn of(h: &Histogram<u64>) -> Self {
        Unit(
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    /// The merge of several histograms as one unit.
    pub fn merged<'a>(hs: impl IntoIterator<Item = &'a Histogram<u64>>) -> Option<Self> {
        // A fresh histogram resizes itself; deserialized ones do not.
        let mut m = Histogram::<u64>::new(3).ok()?;
        for h in hs {
            m.add(h).ok()?;
        }
        Some(Unit::of(&m))
    }

    /// Requests recorded.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|(_, c)| c).sum()
    }

    /// The quantiles `qs` of this unit alone.
    pub fn quantiles(&self, qs: &[f64]) -> Vec<f64> {
        quantiles_of(self.0.iter().copied(), self.count(), qs)
    }
}

/// A percentile difference candidate − baseline with its confidence interval, µs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The percentile of all baseline units merged.
    pub baseline: f64,
    /// The percentile of all candidate units merged.
    pub candidate: f64,
    /// `candidate − baseline`.
    pub diff: f64,
    /// Bounds of the two-sided confidence interval of `diff`.
    pub low: f64,
    pub high: f64,
}

/// Settings of a bootstrap.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Number of resamples (e.g. 1000).
    pub resamples: usize,
    /// Two-sided confidence, e.g. 0.95.
    pub confidence: f64,
    /// Seed of the resampling RNG, for reproducible intervals.
    pub seed: u64,
}

/// Units mapped onto one shared, sorted value axis, so merging is adding counts.
struct Indexed {
    axis: Vec<u64>,
    base: Vec<Vec<(usize, u64)>>,
    cand: Vec<Vec<(usize, u64)>>,
}

impl Indexed {
    fn new(base: &[Unit], cand: &[Unit]) -> Self {
        let mut axis: Vec<u64> = base
            .iter()
            .chain(cand)
            .flat_map(|u| u.0.iter().map(|(v, _)| *v))
            .collect();
        axis.sort_unstable();
        axis.dedup();
        let map = |units: &[Unit]| -> Vec<Vec<(usize, u64)>> {
            units
                .iter()
                .map(|u| {
                    u.0.iter()
                        .map(|(v, c)| (axis.binary_search(v).unwrap_or(0), *c))
                        .collect()
                })
                .collect()
        };
        let (base, cand) = (map(base), map(cand));
        Indexed { axis, base, cand }
    }

    /// Percentiles `qs` of the merge of `picks` (indices into `units`).
    fn quantiles(
        &self,
        units: &[Vec<(usize, u64)>],
        picks: impl Iterator<Item = usize>,
        qs: &[f64],
        counts: &mut [u64],
    ) -> Vec<f64> {
        counts.iter_mut().for_each(|c| *c = 0);
        let mut total = 0;
        for p in picks {
            for &(i, c) in &units[p] {
                counts[i] += c;
                total += c;
            }
        }
        quantiles_of(
            self.axis.iter().copied().zip(counts.iter().copied()),
            total,
            qs,
        )
    }
}

/// The quantiles `qs` of buckets (value, count) in ascending value order holding `total`
/// counts: the smallest value whose cumulative count reaches `ceil(q × total)`.
fn quantiles_of(
    buckets: impl Iterator<Item = (u64, u64)> + Clone,
    total: u64,
    qs: &[f64],
) -> Vec<f64> {
    qs.iter()
        .map(|&q| {
            let rank = ((q * total as f64).ceil() as u64).max(1);
            let mut seen = 0;
            let mut last = 0;
            for (v, c) in buckets.clone() {
                seen += c;
                last = v;
                if seen >= rank {
                    return v as f64;
                }
            }
            last as f64
        })
        .collect()
}

/// For each quantile of `qs` (e.g. 0.5), the difference candidate − baseline and its
/// bootstrap interval. `None` if either side has no recorded values.
pub fn percentile_diffs(
    base: &[Unit],
    cand: &[Unit],
    qs: &[f64],
    settings: Settings,
) -> Option<Vec<Estimate>> {
    if base.iter().all(|u| u.count() == 0) || cand.iter().all(|u| u.count() == 0) {
        return None;
    }
    let ix = Indexed::new(base, cand);
    let mut counts = vec![0u64; ix.axis.len()];
    let b_all = ix.quantiles(&ix.base, 0..base.len(), qs, &mut counts);
    let c_all = ix.quantiles(&ix.cand, 0..cand.len(), qs, &mut counts);
    let mut rng = Pcg64::seed_from_u64(settings.seed);
    let mut diffs: Vec<Vec<f64>> = vec![Vec::with_capacity(settings.resamples); qs.len()];
    for _ in 0..settings.resamples {
        let (nb, nc) = (base.len(), cand.len());
        let picks_b: Vec<usize> = (0..nb).map(|_| rng.random_range(0..nb)).collect();
        let picks_c: Vec<usize> = (0..nc).map(|_| rng.random_range(0..nc)).collect();
        let b = ix.quantiles(&ix.base, picks_b.into_iter(), qs, &mut counts);
        let c = ix.quantiles(&ix.cand, picks_c.into_iter(), qs, &mut counts);
        for (k, d) in diffs.iter_mut().enumerate() {
            d.push(c[k] - b[k]);
        }
    }
    let alpha = (1.0 - settings.confidence).clamp(0.0, 1.0) / 2.0;
    Some(
        diffs
            .into_iter()
            .enumerate()
            .map(|(k, mut d)| {
                d.sort_by(f64::total_cmp);
                let at = |p: f64| {
                    let i = ((p * (d.len() - 1) as f64).round() as usize).min(d.len() - 1);
                    d[i]
                };
                Estimate {
                    baseline: b_all[k],
                    candidate: c_all[k],
                    diff: c_all[k] - b_all[k],
                    low: at(alpha),
                    high: at(1.0 - alpha),
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    /// `n` one-second histograms of ~200 samples around `center_us`, seeded.
    fn seconds(n: usize, center_us: f64, seed: u64) -> Vec<Unit> {
        let mut rng = Pcg64::seed_from_u64(seed);
        let noise = Normal::new(center_us, 300.0).unwrap();
        (0..n)
            .map(|_| {
                let mut h = Histogram::<u64>::new(3).unwrap();
                for _ in 0..200 {
                    h.record(noise.sample(&mut rng).max(1.0) as u64).unwrap();
                }
                Unit::of(&h)
            })
            .collect()
    }

    const SETTINGS: Settings = Settings {
        resamples: 1000,
        confidence: 0.95,
        seed: 7,
    };

    #[test]
    fn a_two_millisecond_shift_is_found_with_its_sign_and_size() {
        let base = seconds(10, 5_000.0, 1);
        let cand = seconds(10, 7_000.0, 2);
        let e = percentile_diffs(&base, &cand, &[0.5], SETTINGS).unwrap()[0];
        assert!((1_800.0..2_200.0).contains(&e.diff), "{e:?}");
        assert!(e.low > 1_500.0 && e.high < 2_500.0, "{e:?}");
        assert!(e.low <= e.diff && e.diff <= e.high, "{e:?}");
        let back = percentile_diffs(&cand, &base, &[0.5], SETTINGS).unwrap()[0];
        assert!(back.high < -1_500.0, "{back:?}");
    }

    #[test]
    fn identical_inputs_give_a_zero_interval_around_zero() {
        let base = seconds(10, 5_000.0, 1);
        let e = percentile_diffs(&base, &base, &[0.5, 0.9, 0.99], SETTINGS).unwrap();
        for e in e {
            assert_eq!(e.diff, 0.0);
            assert!(e.low <= 0.0 && e.high >= 0.0, "{e:?}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_interval() {
        let base = seconds(6, 5_000.0, 1);
        let cand = seconds(6, 5_100.0, 2);
        let a = percentile_diffs(&base, &cand, &[0.99], SETTINGS).unwrap();
        let b = percentile_diffs(&base, &cand, &[0.99], SETTINGS).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn empty_sides_have_no_estimate() {
        let empty = vec![Unit::of(&Histogram::<u64>::new(3).unwrap())];
        assert!(percentile_diffs(&empty, &seconds(3, 1.0, 1), &[0.5], SETTINGS).is_none());
    }
}
