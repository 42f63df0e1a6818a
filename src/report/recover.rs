//! Rebuilding `summary.json` of a killed run (SIGKILL, OOM, node eviction) from what the
//! run wrote as it went: `run.json` (the planned summary, no secrets needed), the
//! interval logs and `counters.jsonl`.
//!
//! Owns the `incomplete` summary. It only ever adds `summary.json` to a folder that has
//! none; a summary written by the run itself is never replaced.

use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, bail};

use crate::record::{Phase, SeriesData, SeriesKey, Totals, new_histogram};
use crate::results::hlog::{CounterLine, LogLine, Metric, SeriesId, Tag};
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

    let mut rebuilt = Rebuilt::new(&names);
    for phase in [Phase::Steady, Phase::Warmup] {
        folder
            .interval_log(phase)?
            .without_partial_last_line()
            .decode(|_| true, |line| rebuilt.add_line(phase, line))?;
    }
    for counters in folder.counters()? {
        rebuilt.add_counters(&counters);
    }

    for (index, t) in summary.targets.iter_mut().enumerate() {
        let rate_limit = t.throttle.as_ref().and_then(|th| th.rate_limit);
        let measured = rebuilt.steady_seconds(index);
        summary::add_totals(t, index, &rebuilt.totals, measured, rate_limit);
    }
    summary::recompute_overheads(&mut summary);
    let (first, last) = rebuilt.steady_span();
    if let (Ok(started), Some(last)) = (
        humantime::parse_rfc3339(&summary.started_at),
        last.map(|l| std::time::Duration::from_secs(l + 1)),
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

/// Totals being rebuilt, and which seconds each target's steady phase had data in.
struct Rebuilt<'a> {
    names: &'a [String],
    totals: Totals,
    steady_seconds: HashMap<usize, std::collections::BTreeSet<u64>>,
}

impl<'a> Rebuilt<'a> {
    fn new(names: &'a [String]) -> Self {
        Rebuilt {
            names,
            totals: Totals::default(),
            steady_seconds: HashMap::new(),
        }
    }

    /// The series of `id` in `phase`, if its target is one of the run's.
    fn series(&mut self, id: &SeriesId, phase: Phase, second: u64) -> Option<&mut SeriesData> {
        let target = self.names.iter().position(|n| *n == id.target)?;
        let key = SeriesKey {
            target,
            op: id.op,
            class: id.class,
            cache: id.cache,
            phase,
        };
        if phase == Phase::Steady {
            self.steady_seconds
                .entry(target)
                .or_default()
                .insert(second);
        }
        let first = self
            .totals
            .first_seconds
            .entry((target, id.class))
            .or_insert(second);
        *first = (*first).min(second);
        Some(self.totals.series.entry(key).or_default())
    }

    fn add_line(&mut self, phase: Phase, line: LogLine) {
        let LogLine {
            tag: Tag { series, metric },
            second,
            histogram,
        } = line;
        let Some(data) = self.series(&series, phase, second) else {
            return;
        };
        let h = match metric {
            Metric::Latency => &mut data.latency,
            Metric::Service => &mut data.service,
            Metric::Ttfb => &mut data.ttfb,
            Metric::Connect => &mut data.connect,
            Metric::Tls => &mut data.tls,
            Metric::Corrected => data.corrected.get_or_insert_with(new_histogram),
        };
        // Auto-resizing, so adding cannot fail on range.
        let _ = h.add(&histogram);
    }

    fn add_counters(&mut self, c: &CounterLine) {
        let id = SeriesId {
            target: c.target.clone(),
            op: c.op,
            class: c.class,
            cache: c.cache,
        };
        let Some(data) = self.series(&id, c.phase, c.second) else {
            return;
        };
        data.merge(&c.data());
    }

    /// Whole seconds target `index` had steady-phase data in (its measured time).
    fn steady_seconds(&self, index: usize) -> std::time::Duration {
        let n = self.steady_seconds.get(&index).map_or(0, |s| s.len());
        std::time::Duration::from_secs(n as u64)
    }

    /// First and last steady second of any target.
    fn steady_span(&self) -> (Option<u64>, Option<u64>) {
        let all = self.steady_seconds.values().flatten();
        (all.clone().min().copied(), all.max().copied())
    }
}
