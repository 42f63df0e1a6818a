//! Optional latency added to every request, to imitate a remote APIM or to inject a
//! known slowdown in tests: `5ms` (fixed) or `lognormal:median=2ms,p99=20ms`.

use std::time::{Duration, Instant};

use rand_distr::{Distribution, LogNormal};

/// z-score of the 99th percentile of a standard normal distribution.
const Z_P99: f64 = 2.326_347_874;

/// A per-request delay.
#[derive(Debug, Clone)]
pub enum AddedLatency {
    Fixed(Duration),
    /// Log-normal in seconds.
    LogNormal(LogNormal<f64>),
}

impl AddedLatency {
    /// Parses `5ms` or `lognormal:median=2ms,p99=20ms`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let Some(params) = s.strip_prefix("lognormal:") else {
            return humantime::parse_duration(s)
                .map(AddedLatency::Fixed)
                .map_err(|e| format!("added latency `{s}`: {e}"));
        };
        let (mut median, mut p99) = (None, None);
        for kv in params.split(',') {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("added latency: expected key=value, got `{kv}`"))?;
            let d = humantime::parse_duration(v.trim())
                .map_err(|e| format!("added latency {k}: {e}"))?;
            match k.trim() {
                "median" => median = Some(d),
                "p99" => p99 = Some(d),
                other => return Err(format!("added latency: unknown parameter `{other}`")),
            }
        }
        let (Some(median), Some(p99)) = (median, p99) else {
            return Err("added latency: lognormal needs median= and p99=".into());
        };
        if median.is_zero() || p99 < median {
            return Err("added latency: need 0 < median <= p99".into());
        }
        let mu = median.as_secs_f64().ln();
        let sigma = (p99.as_secs_f64().ln() - mu) / Z_P99;
        LogNormal::new(mu, sigma)
            .map(AddedLatency::LogNormal)
            .map_err(|e| format!("added latency: {e}"))
    }

    /// One delay.
    pub fn sample(&self) -> Duration {
        match self {
            AddedLatency::Fixed(d) => *d,
            AddedLatency::LogNormal(d) => {
                Duration::from_secs_f64(d.sample(&mut rand::rng()).min(60.0))
            }
        }
    }
}

/// Sleeps until `t`, to within a few microseconds: tokio's timer rounds a deadline up to
/// the next millisecond, so it sleeps until 1.5 ms before `t` and yields in a loop for
/// the rest. An injected "2 ms" is then 2 ms, not 2-3 ms.
pub async fn sleep_until_precisely(t: Instant) {
    let coarse = t.checked_sub(Duration::from_micros(1500));
    if let Some(c) = coarse.filter(|c| *c > Instant::now()) {
        tokio::time::sleep_until(c.into()).await;
    }
    while Instant::now() < t {
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fixed_and_lognormal() {
        assert!(matches!(
            AddedLatency::parse("5ms").unwrap(),
            AddedLatency::Fixed(d) if d == Duration::from_millis(5)
        ));
        let l = AddedLatency::parse("lognormal:median=2ms,p99=20ms").unwrap();
        let mut v: Vec<Duration> = (0..2001).map(|_| l.sample()).collect();
        v.sort();
        let median = v[1000].as_secs_f64();
        assert!((0.0015..0.0027).contains(&median), "{median}");
        assert!(AddedLatency::parse("lognormal:median=2ms").is_err());
        assert!(AddedLatency::parse("fast").is_err());
    }
}
