//! `gatebench compare BASELINE CANDIDATE`: did latency change between two results
//! folders, beyond noise?
//!
//! Per target × op × percentile (p50, p90, p99) the change candidate − baseline with a
//! bootstrap confidence interval: over repetitions when both folders have at least
//! [`MIN_REPETITIONS`], else over the per-second histograms of `histograms.hlog`. A
//! change is a regression (or improvement) only when its interval excludes zero and it
//! is at least `min_effect` of the baseline, at least `min_effect_abs_us`, and (over
//! repetitions) more than `noise_factor` times the noise: the larger of the two sides'
//! spreads between their own repetitions.
//!
//! That last floor is what keeps an unchanged setup quiet on a shared machine: two
//! sessions minutes apart drift (other tenants, CPU frequency, page cache) by more than
//! a bootstrap over a few repetitions can see, and a change no larger than a side moved
//! between its own repetitions cannot be told from that drift. The default factor 1.5:
//! the range of 3 normal samples averages 1.69 σ, while two independent sessions differ
//! by up to 2.77 σ (95%), about 1.6 ranges.
//!
//! Owns the method and the verdicts; `folder` takes what it compares from a folder, `bootstrap`
//! does the statistics, `render` prints. Folders are only read.

pub mod baseline;
pub mod bootstrap;
pub mod folder;
pub mod render;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::bail;
use serde::Serialize;

use bootstrap::{Settings, Unit};
use folder::{ResultsData, SeriesName};

/// Repetitions each side needs for the bootstrap to resample repetitions.
pub const MIN_REPETITIONS: usize = 3;

/// The schema identifier of `compare --format json`.
pub const SCHEMA: &str = "gatebench.compare/1";

/// The percentiles compared, with their names.
const PERCENTILES: [(&str, f64); 3] = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)];

/// How to decide.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CompareOptions {
    /// Two-sided confidence of the intervals (0.95).
    pub confidence: f64,
    /// Smallest relative change that counts, as a fraction of the baseline (0.05).
    pub min_effect: f64,
    /// Smallest absolute change that counts, µs (500).
    pub min_effect_abs_us: f64,
    /// Over repetitions: a change must exceed this many times the noise (1.5).
    pub noise_factor: f64,
    /// Bootstrap resamples (1000).
    pub resamples: usize,
    /// Seed of the bootstrap RNG.
    pub seed: u64,
}

/// What a comparison found for one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Slower: the interval is above zero and the change is large enough.
    Regression,
    /// Faster: the interval is below zero and the change is large enough.
    Improvement,
    /// Within noise, or smaller than the minimum effect.
    NoSignificantChange,
    /// Too few seconds or repetitions with data on one side (fewer than 2).
    InsufficientData,
}

impl Verdict {
    /// Words for tables.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::Improvement => "improvement",
            Verdict::NoSignificantChange => "no significant change",
            Verdict::InsufficientData => "insufficient data",
        }
    }
}

/// One target × op × percentile.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub target: String,
    pub op: String,
    /// `p50`, `p90` or `p99` of `ok` latency.
    pub metric: String,
    pub baseline_us: Option<f64>,
    pub candidate_us: Option<f64>,
    /// candidate − baseline.
    pub change_us: Option<f64>,
    /// change ÷ baseline.
    pub change_ratio: Option<f64>,
    /// Confidence interval of the change.
    pub ci_low_us: Option<f64>,
    pub ci_high_us: Option<f64>,
    /// Over repetitions: the larger of the two sides' spreads between their own
    /// repetitions (largest minus smallest of this percentile); a change must exceed
    /// `noise_factor` times it to count.
    pub noise_us: Option<f64>,
    /// Units resampled on each side (repetitions or seconds).
    pub units_baseline: usize,
    pub units_candidate: usize,
    pub verdict: Verdict,
}

/// The whole comparison (`--format json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub baseline: String,
    pub candidate: String,
    pub scenario: String,
    /// `repetitions` or `seconds`: what the bootstrap resampled.
    pub method: &'static str,
    pub repetitions_baseline: usize,
    pub repetitions_candidate: usize,
    pub options: CompareOptions,
    pub rows: Vec<Row>,
    /// `target/op` series found on one side only.
    pub only_in_baseline: Vec<String>,
    pub only_in_candidate: Vec<String>,
}

impl Report {
    /// Rows judged a regression.
    pub fn regressions(&self) -> usize {
        self.count(Verdict::Regression)
    }

    /// Rows with `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.rows.iter().filter(|r| r.verdict == verdict).count()
    }
}

/// Loads both folders and compares them.
pub fn compare_folders(
    baseline: &Path,
    candidate: &Path,
    opts: &CompareOptions,
) -> anyhow::Result<Report> {
    let b = folder::load(baseline)?;
    let c = folder::load(candidate)?;
    compare(&b, &c, opts)
}

/// The units of one series: whole repetitions or all seconds.
fn units(data: &ResultsData, name: &SeriesName, by_repetition: bool) -> Vec<Unit> {
    let per_run = data.runs.iter().filter_map(|r| r.seconds.get(name));
    if by_repetition {
        per_run.filter_map(Unit::merged).collect()
    } else {
        per_run.flatten().map(Unit::of).collect()
    }
}

/// Compares two loaded folders of the same scenario.
pub fn compare(b: &ResultsData, c: &ResultsData, opts: &CompareOptions) -> anyhow::Result<Report> {
    if b.scenario != c.scenario {
        bail!(
            "{} ran scenario {:?} but {} ran {:?}; only runs of the same scenario compare",
            b.dir.display(),
            b.scenario,
            c.dir.display(),
            c.scenario
        );
    }
    if !(0.5..1.0).contains(&opts.confidence) {
        bail!("--confidence must be at least 0.5 and below 1");
    }
    let by_repetition = b.runs.len() >= MIN_REPETITIONS && c.runs.len() >= MIN_REPETITIONS;
    let names = |d: &ResultsData| -> BTreeMap<SeriesName, ()> {
        d.runs
            .iter()
            .flat_map(|r| r.seconds.keys().cloned())
            .map(|k| (k, ()))
            .collect()
    };
    let (bn, cn) = (names(b), names(c));
    let label = |(t, o): &SeriesName| format!("{t}/{o}");
    let only_in_baseline = bn
        .keys()
        .filter(|k| !cn.contains_key(*k))
        .map(label)
        .collect();
    let only_in_candidate = cn
        .keys()
        .filter(|k| !bn.contains_key(*k))
        .map(label)
        .collect();
    let settings = Settings {
        resamples: opts.resamples.max(1),
        confidence: opts.confidence,
        seed: opts.seed,
    };
    let qs: Vec<f64> = PERCENTILES.iter().map(|(_, q)| *q).collect();
    let mut rows = Vec::new();
    for name in bn.keys().filter(|k| cn.contains_key(*k)) {
        let (bu, cu) = (units(b, name, by_repetition), units(c, name, by_repetition));
        let estimates = if bu.len() >= 2 && cu.len() >= 2 {
            bootstrap::percentile_diffs(&bu, &cu, &qs, settings)
        } else {
            None
        };
        let spreads = by_repetition.then(|| {
            let (b, c) = (spreads(&bu, &qs), spreads(&cu, &qs));
            b.iter().zip(c).map(|(b, c)| b.max(c)).collect::<Vec<f64>>()
        });
        for (k, (metric, _)) in PERCENTILES.iter().enumerate() {
            let e = estimates.as_ref().map(|e| e[k]);
            let noise = spreads.as_ref().map(|s| s[k]);
            rows.push(Row {
                target: name.0.clone(),
                op: name.1.clone(),
                metric: metric.to_string(),
                baseline_us: e.map(|e| e.baseline),
                candidate_us: e.map(|e| e.candidate),
                change_us: e.map(|e| e.diff),
                change_ratio: e.and_then(|e| (e.baseline > 0.0).then(|| e.diff / e.baseline)),
                ci_low_us: e.map(|e| e.low),
                ci_high_us: e.map(|e| e.high),
                noise_us: noise,
                units_baseline: bu.len(),
                units_candidate: cu.len(),
                verdict: e.map_or(Verdict::InsufficientData, |e| {
                    verdict(&e, opts, noise.map_or(0.0, |n| n * opts.noise_factor))
                }),
            });
        }
    }
    Ok(Report {
        schema: SCHEMA,
        baseline: b.dir.display().to_string(),
        candidate: c.dir.display().to_string(),
        scenario: b.scenario.clone(),
        method: if by_repetition {
            "repetitions"
        } else {
            "seconds"
        },
        repetitions_baseline: b.runs.len(),
        repetitions_candidate: c.runs.len(),
        options: *opts,
        rows,
        only_in_baseline,
        only_in_candidate,
    })
}

/// Per quantile of `qs`, the largest minus the smallest value it takes in `units`.
fn spreads(units: &[Unit], qs: &[f64]) -> Vec<f64> {
    let each: Vec<Vec<f64>> = units.iter().map(|u| u.quantiles(qs)).collect();
    (0..qs.len())
        .map(|k| {
            let values = each.iter().map(|q| q[k]);
            values.clone().fold(f64::MIN, f64::max) - values.fold(f64::MAX, f64::min)
        })
        .collect()
}

/// Regression or improvement only when the interval excludes zero and the change is
/// at least the relative and the absolute minimum effect and larger than `noise_floor_us`.
pub fn verdict(e: &bootstrap::Estimate, opts: &CompareOptions, noise_floor_us: f64) -> Verdict {
    let floor = (opts.min_effect * e.baseline).max(opts.min_effect_abs_us);
    let counts = |change: f64| change >= floor && change > noise_floor_us;
    if e.low > 0.0 && counts(e.diff) {
        Verdict::Regression
    } else if e.high < 0.0 && counts(-e.diff) {
        Verdict::Improvement
    } else {
        Verdict::NoSignificantChange
    }
}

/// Parses `5%` or `0.05` as a fraction.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("{s:?} is not a percentage like 5% (or a fraction like 0.05)"))?;
    if !(0.0..=10.0).contains(&v) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(v)
}

/// Parses `500us`, `0.5ms` or `1s` as microseconds.
pub fn parse_time_us(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 0.5ms or 500us"))?;
    let scale = match unit.trim() {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        _ => return Err(format!("{s:?}: use a unit: us, ms or s")),
    };
    Ok(v * scale)
}

#[cfg(test)]
mod tests {
    use super::bootstrap::Estimate;
    use super::*;

    const OPTS: CompareOptions = CompareOptions {
        confidence: 0.95,
        min_effect: 0.05,
        min_effect_abs_us: 500.0,
        noise_factor: 1.5,
        resamples: 100,
        seed: 1,
    };

    fn est(baseline: f64, diff: f64, low: f64, high: f64) -> Estimate {
        Estimate {
            baseline,
            candidate: baseline + diff,
            diff,
            low,
            high,
        }
    }

    #[test]
    fn verdicts_need_significance_and_a_large_enough_effect() {
        assert_eq!(
            verdict(&est(5000.0, 2000.0, 1800.0, 2200.0), &OPTS, 0.0),
            Verdict::Regression
        );
        assert_eq!(
            verdict(&est(5000.0, -2000.0, -2200.0, -1800.0), &OPTS, 0.0),
            Verdict::Improvement
        );
        // Significant but below the 5% relative effect.
        assert_eq!(
            verdict(&est(50_000.0, 2000.0, 1800.0, 2200.0), &OPTS, 0.0),
            Verdict::NoSignificantChange
        );
        // Significant, 20%, but below the absolute floor.
        assert_eq!(
            verdict(&est(1000.0, 200.0, 150.0, 250.0), &OPTS, 0.0),
            Verdict::NoSignificantChange
        );
        // Large but the interval includes zero.
        assert_eq!(
            verdict(&est(5000.0, 2000.0, -100.0, 4000.0), &OPTS, 0.0),
            Verdict::NoSignificantChange
        );
        // Significant and large, but within the noise floor.
        assert_eq!(
            verdict(&est(5000.0, 2000.0, 1800.0, 2200.0), &OPTS, 2500.0),
            Verdict::NoSignificantChange
        );
        assert_eq!(
            verdict(&est(5000.0, -2000.0, -2200.0, -1800.0), &OPTS, 1900.0),
            Verdict::Improvement
        );
    }

    /// `n` one-second histograms of 200 samples, normal around `center_us`, seeded.
    fn seconds(n: usize, center_us: f64, seed: u64) -> Vec<Unit> {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Normal};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let noise = Normal::new(center_us, 400.0).unwrap();
        (0..n)
            .map(|_| {
                let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
                for _ in 0..200 {
                    h.record(noise.sample(&mut rng).max(1.0) as u64).unwrap();
                }
                Unit::of(&h)
            })
            .collect()
    }

    #[test]
    fn a_two_millisecond_shift_at_p50_is_a_regression_and_identical_inputs_are_not() {
        let settings = Settings {
            resamples: 1000,
            confidence: 0.95,
            seed: 3,
        };
        let base = seconds(8, 4_000.0, 10);
        let slower = seconds(8, 6_000.0, 11);
        let e = bootstrap::percentile_diffs(&base, &slower, &[0.5], settings).unwrap()[0];
        assert_eq!(verdict(&e, &OPTS, 0.0), Verdict::Regression, "{e:?}");
        assert!((e.diff - 2_000.0).abs() < 250.0, "~2ms: {e:?}");
        let e = bootstrap::percentile_diffs(&slower, &base, &[0.5], settings).unwrap()[0];
        assert_eq!(verdict(&e, &OPTS, 0.0), Verdict::Improvement, "{e:?}");
        assert!(e.diff < -1_750.0, "{e:?}");
        let same = seconds(8, 4_000.0, 12);
        for e in bootstrap::percentile_diffs(&base, &base, &[0.5, 0.9, 0.99], settings).unwrap() {
            assert_eq!(
                verdict(&e, &OPTS, 0.0),
                Verdict::NoSignificantChange,
                "{e:?}"
            );
        }
        // Another sample of the same distribution: within noise and the minimum effect.
        for e in bootstrap::percentile_diffs(&base, &same, &[0.5, 0.9, 0.99], settings).unwrap() {
            assert_eq!(
                verdict(&e, &OPTS, 0.0),
                Verdict::NoSignificantChange,
                "{e:?}"
            );
        }
    }

    #[test]
    fn the_noise_floor_is_the_spread_of_each_percentile_between_repetitions() {
        let reps = [
            seconds(1, 4_000.0, 1),
            seconds(1, 4_600.0, 2),
            seconds(1, 4_200.0, 3),
        ]
        .concat();
        let p50s: Vec<f64> = reps.iter().map(|u| u.quantiles(&[0.5])[0]).collect();
        let spread = spreads(&reps, &[0.5])[0];
        let (lo, hi) = (
            p50s.iter().copied().fold(f64::MAX, f64::min),
            p50s.iter().copied().fold(f64::MIN, f64::max),
        );
        assert_eq!(spread, hi - lo);
        assert!((400.0..800.0).contains(&spread), "{p50s:?}");
    }

    #[test]
    fn effect_options_parse() {
        assert_eq!(parse_fraction("5%"), Ok(0.05));
        assert_eq!(parse_fraction("0.1"), Ok(0.1));
        assert!(parse_fraction("five").is_err());
        assert_eq!(parse_time_us("0.5ms"), Ok(500.0));
        assert_eq!(parse_time_us("250us"), Ok(250.0));
        assert_eq!(parse_time_us("1s"), Ok(1e6));
        assert!(parse_time_us("1").is_err());
    }
}
