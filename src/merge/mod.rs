//! `gatebench merge`: the shards of a distributed run made into one normal results
//! folder, exactly: the interval logs are added histogram by histogram (same tag, same
//! wall-clock second), and every figure of the merged summary comes from the merged
//! histograms or from counts summed over the shards; percentiles are never averaged.
//!
//! `shards` reads and checks the shard folders, `summary` builds the merged summary,
//! `store` moves folders through object storage (`--results-to`, `s3://` sources).
//! Reads shard folders only through `results`; writes the merged folder with the same
//! writers a run uses, then the normal report.

pub mod shards;
pub mod store;
pub mod summary;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, bail};

use crate::plan::Plan;
use crate::record::{Interval, IntervalSink, Phase, Totals};
use crate::results::hlog::HlogWriter;
use crate::results::summary::Summary;
use crate::results::{PROVENANCE, Provenance, RunFolder, SCENARIO, SUMMARY};

pub use shards::Mismatch;

/// Merges the shard folders `dirs` into `out` (created; refused if it holds a
/// `summary.json` already) and writes its report; `plan`, when given, is the scenario
/// whose thresholds the merged summary is judged by. Nothing is written unless every
/// shard is present and they all belong together.
pub fn merge(dirs: &[PathBuf], out: &Path, plan: Option<&Plan>) -> anyhow::Result<Summary> {
    let started = SystemTime::now();
    let shards = shards::open_all(dirs)?;
    let names: Vec<String> = shards[0]
        .summary
        .targets
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let mut logs = Vec::new();
    for s in &shards {
        let start = s.folder.interval_log(Phase::Steady)?.start()?;
        logs.push((start, s.folder.intervals(&names)?));
    }
    let (start, intervals) = align(logs);

    if out.join(SUMMARY).exists() {
        bail!("{} holds a summary.json already", out.display());
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create results folder {}", out.display()))?;
    let folder = RunFolder { dir: out.into() };
    let mut writer = HlogWriter::create(out, names, start)
        .with_context(|| format!("cannot write the interval logs in {}", out.display()))?;
    let mut totals = Totals::default();
    for iv in intervals.into_values() {
        writer
            .write_interval(&iv)
            .with_context(|| format!("cannot write the interval logs in {}", out.display()))?;
        totals.add(iv);
    }
    drop(writer);

    let summary = summary::build(&shards, &totals, plan);
    folder.write_json(SUMMARY, &summary)?;
    let scenario = shards[0].folder.path(SCENARIO);
    if scenario.is_file() {
        std::fs::copy(&scenario, folder.path(SCENARIO))
            .with_context(|| format!("cannot copy {}", scenario.display()))?;
    }
    let hosts: Vec<&str> = shards.iter().map(|s| s.record.host.as_str()).collect();
    let provenance = Provenance {
        merged_from: Some(format!(
            "{} shards of run {} (hosts: {})",
            shards.len(),
            shards[0].record.run_id,
            hosts.join(", ")
        )),
        ..Provenance::of_process(
            started,
            SystemTime::now(),
            shards[0].scenario_sha256.clone(),
        )
    };
    folder.write_json(PROVENANCE, &provenance)?;
    crate::report::write_report(out)?;
    Ok(summary)
}

/// Puts the intervals of every log on one clock: a log whose seconds count from
/// `start` moves by the whole seconds (rounded) it started after the earliest one, and
/// series of the same key in the same second are added. Returns the earliest start and
/// the merged seconds.
pub fn align(
    logs: Vec<(SystemTime, BTreeMap<u64, Interval>)>,
) -> (SystemTime, BTreeMap<u64, Interval>) {
    let first = logs
        .iter()
        .map(|(start, _)| *start)
        .min()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut merged: BTreeMap<u64, Interval> = BTreeMap::new();
    for (start, intervals) in logs {
        let shift = start
            .duration_since(first)
            .unwrap_or_default()
            .as_secs_f64()
            .round() as u64;
        for (second, iv) in intervals {
            let second = second + shift;
            merged
                .entry(second)
                .or_insert_with(|| Interval {
                    second,
                    ..Interval::default()
                })
                .add(iv.series);
        }
    }
    (first, merged)
}

#[cfg(test)]
mod tests;
