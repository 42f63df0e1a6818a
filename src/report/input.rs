//! Reading a results folder: `summary.json`, the optional parts of it that the summary
//! types do not (yet) carry, `provenance.json` and the steady-phase interval log.
//!
//! Owns what counts as a readable folder; every failure names the file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::report::series::Series;
use crate::results::hlog::STEADY_LOG;
use crate::results::summary::{Summary, TargetSummary};
use crate::results::{PROVENANCE, SUMMARY};

/// Everything the report is made from.
#[derive(Debug)]
pub struct RunData {
    pub summary: Summary,
    /// Optional per-target settings, by target name (absent from older summaries).
    pub extras: BTreeMap<String, TargetExtras>,
    /// `None` if the folder has no `provenance.json`.
    pub provenance: Option<ProvenanceInfo>,
    pub series: Series,
}

/// Optional fields of a `summary.json` target entry; every one may be absent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TargetExtras {
    /// The gateway's configured throttling.
    #[serde(default)]
    pub throttle: Option<ThrottleInfo>,
}

/// A target's configured throttling (`targets[].throttle`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ThrottleInfo {
    /// `rate-limit`/`rate-limit-by-key`: calls per renewal period.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

/// A configured rate limit.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimit {
    pub calls: u64,
    pub renewal_period_s: f64,
}

impl RateLimit {
    /// The limit as a rate, calls per second (`None` for a zero period).
    pub fn per_second(&self) -> Option<f64> {
        (self.renewal_period_s > 0.0).then(|| self.calls as f64 / self.renewal_period_s)
    }
}

/// `provenance.json`, read tolerantly: every field may be missing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProvenanceInfo {
    pub gatebench_version: Option<String>,
    pub git_commit: Option<String>,
    pub host: Option<String>,
    pub os: Option<String>,
    pub arch: Option<String>,
    pub cpus: Option<u64>,
    pub command: Vec<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub peak_rss_bytes: Option<u64>,
}

#[derive(Deserialize)]
struct ExtrasFile {
    #[serde(default)]
    targets: Vec<NamedExtras>,
}

#[derive(Deserialize)]
struct NamedExtras {
    name: String,
    #[serde(flatten)]
    extras: TargetExtras,
}

impl RunData {
    /// Reads the results folder `dir`. `summary.json` and `histograms.hlog` must exist
    /// and parse; `provenance.json` may be missing.
    pub fn read(dir: &Path) -> anyhow::Result<RunData> {
        anyhow::ensure!(dir.is_dir(), "{} is not a results folder", dir.display());
        let summary_path = dir.join(SUMMARY);
        let text = std::fs::read_to_string(&summary_path)
            .with_context(|| format!("cannot read {}", summary_path.display()))?;
        let summary: Summary = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a gatebench summary", summary_path.display()))?;
        let extras: ExtrasFile = serde_json::from_str(&text)
            .with_context(|| format!("{}: bad optional target fields", summary_path.display()))?;
        let extras = extras
            .targets
            .into_iter()
            .map(|t| (t.name, t.extras))
            .collect();

        let prov_path = dir.join(PROVENANCE);
        let provenance = match std::fs::read_to_string(&prov_path) {
            Ok(text) => Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not valid JSON", prov_path.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).context(format!("cannot read {}", prov_path.display())),
        };

        let log_path = dir.join(STEADY_LOG);
        let log = std::fs::read(&log_path)
            .with_context(|| format!("cannot read {}", log_path.display()))?;
        let series = Series::read(&log).with_context(|| format!("{}", log_path.display()))?;
        Ok(RunData {
            summary,
            extras,
            provenance,
            series,
        })
    }

    /// The configured rate limit of `target`, calls per second.
    pub fn rate_limit(&self, target: &str) -> Option<f64> {
        self.extras
            .get(target)?
            .throttle
            .as_ref()?
            .rate_limit
            .as_ref()?
            .per_second()
    }

    /// The summary targets, in run order.
    pub fn targets(&self) -> &[TargetSummary] {
        &self.summary.targets
    }
}
