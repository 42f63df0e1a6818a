//! What `compare` takes from a results folder (single run, repeated run, or saved
//! baseline), read through [`RunFolder`].
//!
//! Owns the refusals of runs that cannot be compared (failed, incomplete; missing or
//! malformed files are refused by the reader). Produces per-second `ok` latency
//! histograms per target × op; it never changes a folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;
use hdrhistogram::Histogram;

use crate::record::{OutcomeClass, Phase, new_histogram};
use crate::results::RunFolder;
use crate::results::hlog::{LogLine, Metric, Tag};
use crate::results::repetitions::REPETITIONS;
use crate::results::summary::RunStatus;

/// `(target, op)`, as named in summaries and interval-log tags.
pub type SeriesName = (String, String);

/// One run's per-second `ok` latency histograms.
pub struct RunSeconds {
    /// The run's folder.
    pub dir: PathBuf,
    /// Per target × op, one histogram per second that had `ok` requests (cache
    /// classes merged).
    pub seconds: BTreeMap<SeriesName, Vec<Histogram<u64>>>,
}

/// A results folder: one run, or the repetitions of a repeated run.
pub struct ResultsData {
    pub dir: PathBuf,
    /// The scenario's `name`.
    pub scenario: String,
    pub runs: Vec<RunSeconds>,
}

/// Reads a results folder of either shape, refusing anything it cannot compare.
pub fn load(dir: &Path) -> anyhow::Result<ResultsData> {
    let folder = RunFolder::open(dir)?;
    let (scenario, runs) = if folder.is_repeated() {
        let index = folder.repetitions()?;
        let mut runs = Vec::new();
        for r in &index.repetitions {
            let (scenario, run) = load_run(&dir.join(&r.folder))?;
            if scenario != index.scenario {
                bail!(
                    "{}: scenario {scenario:?} differs from {:?} in {REPETITIONS}",
                    run.dir.display(),
                    index.scenario
                );
            }
            runs.push(run);
        }
        if runs.is_empty() {
            bail!("{}: {REPETITIONS} lists no repetitions", dir.display());
        }
        (index.scenario, runs)
    } else {
        let (scenario, run) = load_run(dir)?;
        (scenario, vec![run])
    };
    Ok(ResultsData {
        dir: dir.to_path_buf(),
        scenario,
        runs,
    })
}

/// The scenario name and per-second `ok` latency of one run that can be compared.
fn load_run(dir: &Path) -> anyhow::Result<(String, RunSeconds)> {
    let folder = RunFolder::open(dir)?;
    let summary = folder.summary()?;
    match summary.status {
        RunStatus::Failed => bail!(
            "{}: the run failed ({}); a failed run cannot be compared",
            dir.display(),
            summary.error.as_deref().unwrap_or("no reason given")
        ),
        RunStatus::Incomplete => bail!(
            "{}: the run was killed before it ended (incomplete; its summary was rebuilt \
             from {}); an incomplete run cannot be compared: run it again",
            dir.display(),
            summary
                .recovery
                .as_ref()
                .map_or("its interval logs".to_string(), |r| r.covered())
        ),
        RunStatus::Complete | RunStatus::Interrupted => {}
    }
    let seconds = ok_latency_seconds(&folder)?;
    Ok((
        summary.scenario,
        RunSeconds {
            dir: folder.dir,
            seconds,
        },
    ))
}

/// Per target × op, the `ok` latency of each second of the steady-phase interval log.
fn ok_latency_seconds(
    folder: &RunFolder,
) -> anyhow::Result<BTreeMap<SeriesName, Vec<Histogram<u64>>>> {
    let mut by_second: BTreeMap<(SeriesName, u64), Histogram<u64>> = BTreeMap::new();
    folder.interval_log(Phase::Steady)?.decode(
        |tag| tag.series.class == OutcomeClass::Ok && tag.metric == Metric::Latency,
        |LogLine {
             tag: Tag { series, .. },
             second,
             histogram,
         }| {
            let key = ((series.target, series.op.name().to_string()), second);
            // Auto-resizing, so adding cannot fail on range.
            let _ = by_second
                .entry(key)
                .or_insert_with(new_histogram)
                .add(&histogram);
        },
    )?;
    let mut out: BTreeMap<SeriesName, Vec<Histogram<u64>>> = BTreeMap::new();
    for ((name, _), h) in by_second {
        out.entry(name).or_default().push(h);
    }
    Ok(out)
}
