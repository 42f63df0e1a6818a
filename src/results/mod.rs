//! The results folder of a run: `summary.json`, interval logs, the resolved scenario
//! (secrets redacted) and provenance.
//!
//! Owns file names and layout under `results/<scenario>-<UTC timestamp>/`, writing them
//! and (in `read`) reading them back: whatever comes after a run opens its folder with
//! [`RunFolder::open`]. Everything is written even when a run fails or is interrupted,
//! so nothing gathered is lost.

pub mod by_client;
pub mod capacity;
pub mod hlog;
pub mod read;
pub mod repetitions;
pub mod server_timing;
pub mod shards;
pub mod slowest;
pub mod summary;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use serde::Serialize;

use crate::plan::Plan;

/// File name of the summary.
pub const SUMMARY: &str = "summary.json";
/// File name of the resolved, redacted scenario.
pub const SCENARIO: &str = "scenario.resolved.toml";
/// File name of the provenance record.
pub const PROVENANCE: &str = "provenance.json";
/// File name of the run record written at the start: the summary as if the run ended
/// at once (status `incomplete`), from which a killed run's summary is rebuilt.
pub const RUN: &str = "run.json";

/// A run's folder: created empty and written by a run, opened and read by what comes after.
pub struct RunFolder {
    pub dir: PathBuf,
}

impl RunFolder {
    /// Creates `out` if given, else `<base>/<run_id>`; refuses an existing non-empty folder.
    pub fn create(base: &Path, run_id: &str, out: Option<&Path>) -> anyhow::Result<Self> {
        let dir = out.map_or_else(|| base.join(run_id), Path::to_path_buf);
        if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
            anyhow::bail!("results folder {} exists and is not empty", dir.display());
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create results folder {}", dir.display()))?;
        Ok(RunFolder { dir })
    }

    /// Writes `value` as pretty JSON to `name`.
    pub fn write_json(&self, name: &str, value: &impl Serialize) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        self.write_text(name, &(text + "\n"))
    }

    /// Writes `text` to `name`, with every secret masked.
    pub fn write_text(&self, name: &str, text: &str) -> anyhow::Result<()> {
        let path = self.dir.join(name);
        std::fs::write(&path, crate::redact::redact(text))
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Writes the resolved plan; secrets serialize as `<redacted>`.
    pub fn write_scenario(&self, plan: &Plan) -> anyhow::Result<()> {
        let body = toml::to_string(plan).context("cannot serialize the resolved scenario")?;
        let head = format!(
            "# Resolved scenario of {} (secrets redacted). For the record, not for re-running as is.\n",
            plan.source.display()
        );
        self.write_text(SCENARIO, &(head + &body))
    }
}

/// SHA-256 (hex) of the resolved plan with its source reduced to the file name: equal
/// for every shard of a distributed run that ran the same scenario with the same
/// overrides, wherever its file was mounted.
pub fn scenario_sha256(plan: &Plan) -> String {
    let mut plan = plan.clone();
    if let Some(name) = plan.source.file_name() {
        plan.source = name.into();
    }
    let body = toml::to_string(&plan).unwrap_or_default();
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        body.as_bytes(),
    ))
}

/// Where and with what a run was made.
#[derive(Debug, Serialize)]
pub struct Provenance {
    pub gatebench_version: &'static str,
    pub git_commit: &'static str,
    pub host: String,
    pub os: &'static str,
    pub arch: &'static str,
    pub cpus: usize,
    /// The command line (secrets only ever come from the environment, never arguments).
    pub command: Vec<String>,
    pub started_at: String,
    pub ended_at: String,
    /// Peak resident memory of the gatebench process, bytes (Linux only).
    pub peak_rss_bytes: Option<u64>,
    /// CPU time (user + system) of the gatebench process, seconds (Linux only).
    pub cpu_seconds: Option<f64>,
    /// [`scenario_sha256`] of the run's plan: shards merge only if theirs agree.
    pub scenario_sha256: String,
    /// A folder made by `gatebench merge`: what it merged, e.g. `4 shards (hosts: a, b,
    /// c, d)`; the other fields then describe the merging process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<String>,
}

impl Provenance {
    /// Provenance of this process for a run of `plan` between `started` and `ended`.
    pub fn collect(started: SystemTime, ended: SystemTime, plan: &Plan) -> Self {
        Self::of_process(started, ended, scenario_sha256(plan))
    }

    /// Provenance of this process for work between `started` and `ended` on the
    /// scenario whose [`scenario_sha256`] is `scenario_sha256`.
    pub fn of_process(started: SystemTime, ended: SystemTime, scenario_sha256: String) -> Self {
        Provenance {
            gatebench_version: env!("CARGO_PKG_VERSION"),
            git_commit: option_env!("GATEBENCH_GIT_COMMIT").unwrap_or("unknown"),
            host: host_name(),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            command: std::env::args().collect(),
            started_at: timestamp(started),
            ended_at: timestamp(ended),
            peak_rss_bytes: peak_rss_bytes(),
            cpu_seconds: cpu_seconds(),
            scenario_sha256,
            merged_from: None,
        }
    }
}

/// This machine's (or pod's) host name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// RFC 3339 UTC timestamp with milliseconds.
pub fn timestamp_millis(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// RFC 3339 UTC timestamp with seconds.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `20261126T031500Z`: a UTC timestamp usable in folder names.
pub fn compact_timestamp(t: SystemTime) -> String {
    timestamp(t).replace(['-', ':'], "")
}

/// A run id unique across processes and hosts: `<scenario>-<UTC time>-<random>`, e.g.
/// `quickstart-20261126T031500Z-5f3a9c0e`. It names the results folder and the S3
/// prefix the run writes under and cleans up, so two runs started in the same second
/// never share (and never delete) each other's objects.
pub fn new_run_id(scenario: &str, started: SystemTime) -> String {
    format!(
        "{scenario}-{}-{:08x}",
        compact_timestamp(started),
        rand::random::<u32>()
    )
}

/// CPU time (user + system) this process has used, seconds, if the platform tells.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks as f64 / per_second as f64)
}

/// The process's peak resident set size (`VmHWM`), if the platform tells.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_started_in_the_same_second_get_different_ids() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| new_run_id("same", t)).collect();
        assert_eq!(ids.len(), 1000);
        let id = ids.iter().next().unwrap();
        assert!(id.starts_with("same-20270115T080000Z-"), "{id}");
    }
}
