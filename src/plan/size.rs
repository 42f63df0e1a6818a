//! Object size distributions and how to draw from them.

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand_distr::LogNormal;
use serde::Serialize;

/// Largest object a single S3 PUT may carry (5 GiB); draws are clamped to it.
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// z-score of the 99th percentile of a standard normal distribution.
const Z_P99: f64 = 2.326_347_874;

/// How object sizes are chosen, in bytes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SizeDist {
    Fixed(u64),
    Uniform { min: u64, max: u64 },
    Lognormal { median: u64, p99: u64 },
    Weighted(Vec<(u64, u32)>),
}

/// A `SizeDist` made ready for fast sampling.
#[derive(Debug, Clone)]
pub struct SizeSampler {
    kind: SamplerKind,
}

#[derive(Debug, Clone)]
enum SamplerKind {
    Fixed(u64),
    Uniform(u64, u64),
    Lognormal(LogNormal<f64>),
    Weighted(Vec<u64>, WeightedIndex<u32>),
}

impl SizeDist {
    /// Checks the parameters and prepares a sampler; the error says what is wrong.
    pub fn sampler(&self) -> Result<SizeSampler, String> {
        let kind = match self {
            SizeDist::Fixed(n) => SamplerKind::Fixed(*n),
            SizeDist::Uniform { min, max } => {
                if min > max {
                    return Err(format!(
                        "uniform min ({min} B) is larger than max ({max} B)"
                    ));
                }
                SamplerKind::Uniform(*min, *max)
            }
            SizeDist::Lognormal { median, p99 } => {
                if *median == 0 || p99 <= median {
                    return Err("lognormal needs 0 < median < p99".into());
                }
                let mu = (*median as f64).ln();
                let sigma = ((*p99 as f64).ln() - mu) / Z_P99;
                let d = LogNormal::new(mu, sigma).map_err(|e| format!("lognormal: {e}"))?;
                SamplerKind::Lognormal(d)
            }
            SizeDist::Weighted(rows) => {
                let sizes = rows.iter().map(|r| r.0).collect();
                let index = WeightedIndex::new(rows.iter().map(|r| r.1)).map_err(|_| {
                    "weighted sizes need at least one row with weight > 0".to_string()
                })?;
                SamplerKind::Weighted(sizes, index)
            }
        };
        Ok(SizeSampler { kind })
    }
}

impl SizeSampler {
    /// Draws one size in bytes, at most `MAX_OBJECT_BYTES`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let n = match &self.kind {
            SamplerKind::Fixed(n) => *n,
            SamplerKind::Uniform(min, max) => rng.random_range(*min..=*max),
            SamplerKind::Lognormal(d) => d.sample(rng).round() as u64,
            SamplerKind::Weighted(sizes, index) => sizes[index.sample(rng)],
        };
        n.min(MAX_OBJECT_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    #[test]
    fn lognormal_hits_its_median_and_p99() {
        let s = SizeDist::Lognormal {
            median: 16_384,
            p99: 1 << 20,
        }
        .sampler()
        .unwrap();
        let mut rng = Pcg64::seed_from_u64(1);
        let mut v: Vec<u64> = (0..20_000).map(|_| s.sample(&mut rng)).collect();
        v.sort_unstable();
        let median = v[v.len() / 2] as f64;
        let p99 = v[v.len() * 99 / 100] as f64;
        assert!((median / 16_384.0 - 1.0).abs() < 0.05, "median {median}");
        assert!((p99 / (1 << 20) as f64 - 1.0).abs() < 0.15, "p99 {p99}");
    }

    #[test]
    fn weighted_follows_weights() {
        let s = SizeDist::Weighted(vec![(1, 9), (2, 1)]).sampler().unwrap();
        let mut rng = Pcg64::seed_from_u64(2);
        let ones = (0..10_000).filter(|_| s.sample(&mut rng) == 1).count();
        assert!((8_800..9_200).contains(&ones), "{ones}");
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(SizeDist::Uniform { min: 5, max: 1 }.sampler().is_err());
        assert!(
            SizeDist::Lognormal { median: 10, p99: 5 }
                .sampler()
                .is_err()
        );
        assert!(SizeDist::Weighted(vec![(1, 0)]).sampler().is_err());
    }
}
