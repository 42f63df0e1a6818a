//! Rebuilding `summary.json` of a killed run (SIGKILL, OOM, node eviction) from what the
//! run wrote as it went: `run.json` (the planned summary, no secrets needed), the
//! interval logs and `counters.jsonl`.
//!
//! Owns the `incomplete` summary. It only ever adds `summary.json` to a folder that has
//! none; a summary written by the run itself is never replaced.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};

use crate::record::{Interval, Phase, Totals};
use crate::results::summary::{self, Recovery, RunStatus, Summary};
use crate::results::{PROVENANCE, RUN, RunFolder, SUMMARY};

/// If `dir` is the folder of a killed run (no `summary.json`, no `provenance.json`),
/// rebuilds its summary from `run.json` and the interval logs, writes it and returns it;
/// `None` if it is not such a folder (the report then says what is wrong with it).
pub fn rebuild_if_missing(dir: &Path) -> anyhow::Result<Option<Summary>> {
    // A run that ended wrote its summary before its provenance: without the summary
    // but with the provenance, the summary was removed, not never written.
    if !dir.is_dir() || dir.join(SUMMARY).exists() || dir.join(PROVENANCE).exists() {
        return Ok(None);
    }
    let summary = rebuild(dir)?;
    let path = dir.join(SUMMARY);
    let text = serde_json::to_string_pretty(&summary)? + "\n";
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Some(summary))
}

/// The summary of the killed run in `dir`, status `incomplete`.
pub fn rebuild(dir: &Path) -> anyhow::Result<Summary> {
    let folder = RunFolder::open(dir)?;
    if !folder.path(RUN).is_file() {
        bail!(
            "{} has no {SUMMARY} and no {RUN} to rebuild it from: it is not the folder of \
             a gatebench run, or of one that ended before it started",
            dir.display()
        );
    }
    let mut summary = folder.run_record()?;
    let names: Vec<String> = summary.targets.iter().map(|t| t.name.clone()).collect();
    let intervals = folder.intervals(&names)?;
    let steady = steady_seconds(&intervals);
    let mut totals = Totals::default();
    for iv in intervals.into_values() {
        totals.add(iv);
    }

    for (index, t) in summary.targets.iter_mut().enumerate() {
        let rate_limit = t.throttle.as_ref().and_then(|th| th.rate_limit);
        let measured = steady.get(&index).map_or(0, BTreeSet::len);
        summary::add_totals(
            t,
            index,
            &totals,
            Duration::from_secs(measured as u64),
            rate_limit,
        );
    }
    summary::recompute_overheads(&mut summary);
    let all = steady.values().flatten();
    let (first, last) = (all.clone().min().copied(), all.max().copied());
    if let (Ok(started), Some(last)) = (
        humantime::parse_rfc3339(&summary.started_at),
        last.map(|l| Duration::from_secs(l + 1)),
    ) {
        summary.ended_at = crate::results::timestamp(started + last);
    }
    summary.status = RunStatus::Incomplete;
    summary.recovery = Some(Recovery {
        first_second: first,
        last_second: last,
        rebuilt_at: crate::results::timestamp(SystemTime::now()),
    });
    Ok(summary)
}

/// The seconds in which each target had steady-phase data (its measured time).
pub fn steady_seconds(intervals: &BTreeMap<u64, Interval>) -> BTreeMap<usize, BTreeSet<u64>> {
    let mut out: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
    for iv in intervals.values() {
        for key in iv.series.keys().filter(|k| k.phase == Phase::Steady) {
            out.entry(key.target).or_default().insert(iv.second);
        }
    }
    out
}
