//! Reading a results folder (single run, repeated run, or saved baseline) for `compare`.
//!
//! Owns every refusal about a folder: missing files, unreadable JSON or interval logs,
//! unknown schemas, failed runs. Produces per-second `ok` latency histograms per
//! target × op; it never changes a folder.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

use crate::results::SUMMARY;
use crate::results::hlog::STEADY_LOG;
use crate::results::repetitions::{self, REPETITIONS, Repetitions};
use crate::results::summary::{RunStatus, SCHEMA, Summary};

/// `(target, op)`, as named in summaries and interval-log tags.
pub type SeriesName = (String, String);

/// One run's data: its summary and per-second `ok` latency histograms.
pub struct RunData {
    /// The run's folder.
    pub dir: PathBuf,
    pub summary: Summary,
    /// Per target × op, one histogram per second that had `ok` requests (cache
    /// classes merged).
    pub seconds: BTreeMap<SeriesName, Vec<Histogram<u64>>>,
}

/// A results folder: one run, or the repetitions of a repeated run.
pub struct ResultsData {
    pub dir: PathBuf,
    /// The scenario's `name`.
    pub scenario: String,
    pub runs: Vec<RunData>,
}

/// Whether `dir` looks like a results folder of either shape (without reading it all).
pub fn is_repeated(dir: &Path) -> bool {
    dir.join(REPETITIONS).is_file()
}

/// Reads a results folder of either shape, refusing anything it cannot compare.
pub fn load(dir: &Path) -> anyhow::Result<ResultsData> {
    if !dir.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    let runs = if is_repeated(dir) {
        let index = read_repetitions(dir)?;
        let mut runs = Vec::new();
        for r in &index.repetitions {
            runs.push(load_run(&dir.join(&r.folder))?);
        }
        if runs.is_empty() {
            bail!("{}: {REPETITIONS} lists no repetitions", dir.display());
        }
        if let Some(r) = runs.iter().find(|r| r.summary.scenario != index.scenario) {
            bail!(
                "{}: scenario {:?} differs from {:?} in {REPETITIONS}",
                r.dir.display(),
                r.summary.scenario,
                index.scenario
            );
        }
        runs
    } else {
        vec![load_run(dir)?]
    };
    Ok(ResultsData {
        dir: dir.to_path_buf(),
        scenario: runs[0].summary.scenario.clone(),
        runs,
    })
}

/// Reads and checks `repetitions.json` of a repeated run.
pub fn read_repetitions(dir: &Path) -> anyhow::Result<Repetitions> {
    let path = dir.join(REPETITIONS);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    if value["schema"] != repetitions::SCHEMA {
        bail!(
            "{} has schema {}; this gatebench reads {}",
            path.display(),
            value["schema"],
            repetitions::SCHEMA
        );
    }
    serde_json::from_value(value).with_context(|| format!("{} is malformed", path.display()))
}

/// Reads and checks the `summary.json` of one run.
pub fn read_summary(dir: &Path) -> anyhow::Result<Summary> {
    let path = dir.join(SUMMARY);
    if !path.is_file() {
        bail!(
            "{} is not a gatebench results folder: it has no {SUMMARY} (nor {REPETITIONS})",
            dir.display()
        );
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    if value["schema"] != SCHEMA {
        bail!(
            "{} has schema {}; this gatebench compares {SCHEMA} summaries only",
            path.display(),
            value["schema"]
        );
    }
    serde_json::from_value(value).with_context(|| format!("{} is malformed", path.display()))
}

fn load_run(dir: &Path) -> anyhow::Result<RunData> {
    let summary = read_summary(dir)?;
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
    let seconds = read_seconds(&dir.join(STEADY_LOG))?;
    Ok(RunData {
        dir: dir.to_path_buf(),
        summary,
        seconds,
    })
}

/// Per target × op, the `ok` latency of each second of an interval log.
pub fn read_seconds(path: &Path) -> anyhow::Result<BTreeMap<SeriesName, Vec<Histogram<u64>>>> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read {} (compare needs the run's interval log)",
            path.display()
        )
    })?;
    let mut by_second: BTreeMap<(SeriesName, u64), Histogram<u64>> = BTreeMap::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = entry.map_err(|e| {
            anyhow::anyhow!("{} is not a valid interval log: {e:?}", path.display())
        })?;
        let LogEntry::Interval(iv) = entry else {
            continue;
        };
        let Some(tag) = iv.tag() else { continue };
        let parts: Vec<&str> = tag.as_str().split('/').collect();
        let [target, op, "ok", _cache, "latency"] = parts[..] else {
            continue;
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(iv.encoded_histogram())
            .with_context(|| format!("{}: bad base64 in tag {}", path.display(), tag.as_str()))?;
        let h: Histogram<u64> = deserializer
            .deserialize(&mut Cursor::new(raw))
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}: cannot decode a histogram of {}: {e:?}",
                    path.display(),
                    tag.as_str()
                )
            })?;
        let key = (
            (target.to_string(), op.to_string()),
            iv.start_timestamp().as_secs(),
        );
        // A fresh histogram resizes itself to hold any other; a deserialized one does not.
        let merged = match by_second.entry(key) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(Histogram::new(3).map_err(|e| anyhow::anyhow!("{e:?}"))?)
            }
        };
        merged
            .add(&h)
            .map_err(|e| anyhow::anyhow!("{}: {e:?}", path.display()))?;
    }
    let mut out: BTreeMap<SeriesName, Vec<Histogram<u64>>> = BTreeMap::new();
    for ((name, _), h) in by_second {
        out.entry(name).or_default().push(h);
    }
    Ok(out)
}
