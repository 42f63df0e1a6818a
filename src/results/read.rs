//! Reading a run folder back: the one reader of `summary.json`, `provenance.json`,
//! `run.json`, `repetitions.json`, the interval logs and `counters.jsonl` for
//! everything after a run (report, recovery, compare, baselines).
//!
//! Owns what counts as a readable folder and the refusals: every error names the file.
//! It never changes a folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::hlog::{
    COUNTERS, CounterLine, IntervalLog, STEADY_LOG, SeriesId, WARMUP_LOG, complete_lines,
};
use super::repetitions::{self, REPETITIONS, Repetitions};
use super::summary::{self, Summary};
use super::{PROVENANCE, RUN, RunFolder, SUMMARY};
use crate::record::{Interval, Phase, SeriesData, SeriesKey};

/// `provenance.json` as read back, tolerantly: every field may be missing.
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
    pub cpu_seconds: Option<f64>,
    pub scenario_sha256: Option<String>,
    pub merged_from: Option<String>,
}

impl RunFolder {
    /// Opens the existing folder `dir` for reading; its files are read by the methods
    /// below, each when asked for.
    pub fn open(dir: &Path) -> anyhow::Result<RunFolder> {
        if !dir.is_dir() {
            bail!(
                "{} is not a results folder: it is not a folder",
                dir.display()
            );
        }
        Ok(RunFolder {
            dir: dir.to_path_buf(),
        })
    }

    /// The path of `name` in this folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `summary.json`, which must exist, be of this gatebench's schema and parse.
    pub fn summary(&self) -> anyhow::Result<Summary> {
        if !self.path(SUMMARY).is_file() {
            bail!(
                "{} is not a gatebench results folder: it has no {SUMMARY}",
                self.dir.display()
            );
        }
        self.read_json(SUMMARY, summary::SCHEMA)
    }

    /// `run.json`: the summary planned at the start of the run (status `incomplete`).
    pub fn run_record(&self) -> anyhow::Result<Summary> {
        self.read_json(RUN, summary::SCHEMA)
    }

    /// `provenance.json`; `None` if the folder has none.
    pub fn provenance(&self) -> anyhow::Result<Option<ProvenanceInfo>> {
        let path = self.path(PROVENANCE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                Ok(Some(serde_json::from_str(&text).with_context(|| {
                    format!("{} is not valid JSON", path.display())
                })?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).context(format!("cannot read {}", path.display())),
        }
    }

    /// Whether this is the folder of a repeated run (it has `repetitions.json`).
    pub fn is_repeated(&self) -> bool {
        self.path(REPETITIONS).is_file()
    }

    /// `repetitions.json` of a repeated run, of this gatebench's schema.
    pub fn repetitions(&self) -> anyhow::Result<Repetitions> {
        self.read_json(REPETITIONS, repetitions::SCHEMA)
    }

    /// The interval log of `phase` (`histograms.hlog` or `warmup.hlog`), as it is on disk.
    pub fn interval_log(&self, phase: Phase) -> anyhow::Result<IntervalLog> {
        let path = self.path(match phase {
            Phase::Steady => STEADY_LOG,
            Phase::Warmup => WARMUP_LOG,
        });
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read the interval log {}", path.display()))?;
        Ok(IntervalLog { path, bytes })
    }

    /// Every complete line of `counters.jsonl`, in order.
    pub fn counters(&self) -> anyhow::Result<Vec<CounterLine>> {
        let path = self.path(COUNTERS);
        let text =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut out = Vec::new();
        for (n, line) in complete_lines(&text).split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            out.push(
                serde_json::from_slice(line).with_context(|| {
                    format!("{}:{}: not a counters line", path.display(), n + 1)
                })?,
            );
        }
        Ok(out)
    }

    /// Every second the interval logs and `counters.jsonl` hold (both phases, a
    /// partial last line left out), by second since the run started, with each series
    /// keyed by its target's index in `targets`; series of other targets are skipped.
    pub fn intervals(&self, targets: &[String]) -> anyhow::Result<BTreeMap<u64, Interval>> {
        let mut out = BTreeMap::new();
        for phase in [Phase::Steady, Phase::Warmup] {
            self.interval_log(phase)?
                .without_partial_last_line()
                .decode(
                    |_| true,
                    |line| {
                        if let Some(data) =
                            series_of(&mut out, targets, line.second, &line.tag.series, phase)
                        {
                            // Auto-resizing, so adding cannot fail on range.
                            let _ = line.tag.metric.histogram_in(data).add(&line.histogram);
                        }
                    },
                )?;
        }
        for c in self.counters()? {
            let id = SeriesId {
                target: c.target.clone(),
                op: c.op,
                class: c.class,
                cache: c.cache,
            };
            if let Some(data) = series_of(&mut out, targets, c.second, &id, c.phase) {
                data.merge(&c.data());
            }
        }
        Ok(out)
    }

    /// The JSON file `name`, refused unless its `schema` is `schema`.
    fn read_json<T: DeserializeOwned>(&self, name: &str, schema: &str) -> anyhow::Result<T> {
        let path = self.path(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        if value["schema"] != schema {
            bail!(
                "{} has schema {}; this gatebench reads {schema}",
                path.display(),
                value["schema"]
            );
        }
        serde_json::from_value(value).with_context(|| format!("{} is malformed", path.display()))
    }
}

/// The series `id` of `phase` in second `second` of `intervals` (made empty if new);
/// `None` if its target is not one of `targets`.
fn series_of<'a>(
    intervals: &'a mut BTreeMap<u64, Interval>,
    targets: &[String],
    second: u64,
    id: &SeriesId,
    phase: Phase,
) -> Option<&'a mut SeriesData> {
    let target = targets.iter().position(|n| *n == id.target)?;
    let key = SeriesKey {
        target,
        op: id.op,
        class: id.class,
        cache: id.cache,
        phase,
    };
    let interval = intervals.entry(second).or_insert_with(|| Interval {
        second,
        ..Interval::default()
    });
    Some(interval.series.entry(key).or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_file_and_what_is_wrong() {
        let tmp = tempfile::tempdir().unwrap();
        let err = |r: anyhow::Result<Summary>| format!("{:#}", r.unwrap_err());

        let missing = RunFolder::open(&tmp.path().join("nowhere")).err().unwrap();
        assert!(format!("{missing}").contains("is not a results folder"));

        let folder = RunFolder::open(tmp.path()).unwrap();
        assert!(err(folder.summary()).contains("it has no summary.json"));
        assert!(folder.provenance().unwrap().is_none());
        let log = folder.interval_log(Phase::Warmup).err().unwrap();
        assert!(format!("{log:#}").contains("cannot read the interval log"));
        assert!(format!("{log:#}").contains(WARMUP_LOG));

        std::fs::write(folder.path(SUMMARY), "{ not json").unwrap();
        assert!(err(folder.summary()).contains("summary.json is not valid JSON"));
        std::fs::write(folder.path(SUMMARY), r#"{"schema": "gatebench.summary/9"}"#).unwrap();
        let e = err(folder.summary());
        assert!(
            e.contains("gatebench.summary/9") && e.contains(summary::SCHEMA),
            "{e}"
        );
        std::fs::write(
            folder.path(SUMMARY),
            format!(r#"{{"schema": "{}"}}"#, summary::SCHEMA),
        )
        .unwrap();
        assert!(err(folder.summary()).contains("summary.json is malformed"));
        std::fs::write(folder.path(RUN), "[]").unwrap();
        assert!(err(folder.run_record()).contains("run.json has schema null"));
    }

    #[test]
    fn counters_stop_at_the_last_complete_line() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = RunFolder::open(tmp.path()).unwrap();
        let line = r#"{"second":3,"phase":"steady","target":"direct","op":"get","class":"ok","cache":"none","bytes_up":0,"bytes_down":10,"statuses":{"200":1},"transport":{},"retry_after":{}}"#;
        std::fs::write(folder.path(COUNTERS), format!("{line}\n{line}\n{{\"sec")).unwrap();
        let counters = folder.counters().unwrap();
        assert_eq!(counters.len(), 2);
        assert_eq!((counters[0].second, counters[0].bytes_down), (3, 10));

        std::fs::write(folder.path(COUNTERS), format!("{line}\nnot json\n")).unwrap();
        let e = format!("{:#}", folder.counters().unwrap_err());
        assert!(e.contains("counters.jsonl:2: not a counters line"), "{e}");
    }
}
