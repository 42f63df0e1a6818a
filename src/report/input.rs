//! Reading a results folder: `summary.json`, `provenance.json` and the steady-phase
//! interval log.
//!
//! Owns what counts as a readable folder; every failure names the file.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::report::series::{Series, complete_lines};
use crate::results::hlog::STEADY_LOG;
use crate::results::summary::{RunStatus, Summary, TargetSummary};
use crate::results::{PROVENANCE, SUMMARY};

/// Everything the report is made from.
#[derive(Debug)]
pub struct RunData {
    pub summary: Summary,
    /// `None` if the folder has no `provenance.json`.
    pub provenance: Option<ProvenanceInfo>,
    pub series: Series,
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
        // A killed run's log may end in part of a line.
        let log = match summary.status {
            RunStatus::Incomplete => complete_lines(&log),
            _ => &log,
        };
        let series = Series::read(log).with_context(|| format!("{}", log_path.display()))?;
        Ok(RunData {
            summary,
            provenance,
            series,
        })
    }

    /// The configured rate limit of `target`, calls per second.
    pub fn rate_limit(&self, target: &str) -> Option<f64> {
        self.targets()
            .iter()
            .find(|t| t.name == target)?
            .throttle
            .as_ref()?
            .rate_limit?
            .per_second()
    }

    /// The summary targets, in run order.
    pub fn targets(&self) -> &[TargetSummary] {
        &self.summary.targets
    }
}
