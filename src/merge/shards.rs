//! The shard folders a merge reads: each opened through [`RunFolder`] and checked
//! against the others (same run, same count, same scenario, every index once) before
//! anything is written.
//!
//! Owns the refusals: a missing shard is named by index, a folder that does not belong
//! is named by path.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::results::RunFolder;
use crate::results::shards::ShardRecord;
use crate::results::summary::{RunStatus, Summary};

/// Folders that are not shards of one run of one scenario: they cannot be merged (the
/// command line's `Invalid`, as for folders `compare` cannot compare).
#[derive(Debug)]
pub struct Mismatch(pub String);

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Mismatch {}

/// One shard's folder, read.
pub struct Shard {
    pub folder: RunFolder,
    pub summary: Summary,
    /// The shard as it recorded itself.
    pub record: ShardRecord,
    /// From `provenance.json`.
    pub scenario_sha256: String,
}

/// Opens every folder of `dirs` and checks that together they are all shards of one
/// distributed run; returns them in index order.
pub fn open_all(dirs: &[PathBuf]) -> anyhow::Result<Vec<Shard>> {
    let Some(first) = dirs.first() else {
        bail!("nothing to merge: give shard folders or an s3:// source");
    };
    let mut shards = dirs
        .iter()
        .map(|d| open(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (count, run_id, sha) = {
        let s = &shards[0];
        (
            s.record.count,
            s.record.run_id.clone(),
            s.scenario_sha256.clone(),
        )
    };
    let mismatch = |text: String| Err(Mismatch(text).into());
    for s in &shards {
        let dir = s.folder.dir.display();
        if s.record.run_id != run_id {
            return mismatch(format!(
                "{dir} is a shard of run {}, {} of run {run_id}: only shards of one run merge",
                s.record.run_id,
                first.display()
            ));
        }
        if s.record.count != count {
            return mismatch(format!(
                "{dir} is shard {} of {}, {} one of {count}",
                s.record.index,
                s.record.count,
                first.display()
            ));
        }
        if s.scenario_sha256 != sha {
            return mismatch(format!(
                "{dir} ran a different scenario (scenario_sha256 {}) from {} ({sha}): shards \
                 merge only if they ran the same scenario with the same overrides",
                s.scenario_sha256,
                first.display()
            ));
        }
        if s.record.index >= count {
            return mismatch(format!(
                "{dir} says it is shard {} of {count}: shards count from 0",
                s.record.index
            ));
        }
    }
    shards.sort_by_key(|s| s.record.index);
    for pair in shards.windows(2) {
        if pair[0].record.index == pair[1].record.index {
            return mismatch(format!(
                "shard {} twice: {} and {}",
                pair[0].record.index,
                pair[0].folder.dir.display(),
                pair[1].folder.dir.display()
            ));
        }
    }
    let present: Vec<u32> = shards.iter().map(|s| s.record.index).collect();
    check_complete(&present, count, &run_id)?;
    Ok(shards)
}

/// An error naming the shards of `0..count` not in `present`, e.g. `missing shards 1, 3
/// of 4 of run ID`.
pub fn check_complete(present: &[u32], count: u32, run_id: &str) -> anyhow::Result<()> {
    let missing = missing(present, count);
    if missing.is_empty() {
        return Ok(());
    }
    bail!("{} of run {run_id}", missing_text(&missing, count));
}

/// The indexes of `0..count` not in `present`.
pub fn missing(present: &[u32], count: u32) -> Vec<u32> {
    (0..count).filter(|i| !present.contains(i)).collect()
}

/// `missing shard 2 of 4` or `missing shards 1, 3 of 4`.
pub fn missing_text(missing: &[u32], count: u32) -> String {
    let list: Vec<String> = missing.iter().map(u32::to_string).collect();
    let s = if missing.len() == 1 { "" } else { "s" };
    format!("missing shard{s} {} of {count}", list.join(", "))
}

/// One shard folder: its summary (with a `shard` record) and its scenario hash.
fn open(dir: &Path) -> anyhow::Result<Shard> {
    let folder = RunFolder::open(dir)?;
    let summary = folder.summary()?;
    let Some(record) = summary.shard.clone() else {
        if summary.status == RunStatus::Failed {
            bail!(
                "{}: the run failed before its shard began its load: {}",
                dir.display(),
                summary.error.as_deref().unwrap_or("no error recorded")
            );
        }
        return Err(Mismatch(format!(
            "{}: summary.json has no shard record: it is not the folder of a shard of a \
             distributed run (gatebench run --shard I/N)",
            dir.display()
        ))
        .into());
    };
    let Some(scenario_sha256) = folder.provenance()?.and_then(|p| p.scenario_sha256) else {
        return Err(Mismatch(format!(
            "{}: provenance.json is missing or has no scenario_sha256: the shard's scenario \
             cannot be checked",
            dir.display()
        ))
        .into());
    };
    Ok(Shard {
        folder,
        summary,
        record,
        scenario_sha256,
    })
}
