//! `gatebench baseline save RESULTS NAME`: keeps a results folder as a named baseline.
//!
//! A baseline is a trimmed copy of a results folder that `compare` reads like any other:
//! `summary.json`, `histograms.hlog`, `provenance.json` and `scenario.resolved.toml`
//! (and, for a repeated run, `repetitions.json` with one `rep-N/` folder each). Owns that
//! copy only; it refuses folders `compare` could not read.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::folder;
use crate::results::hlog::STEADY_LOG;
use crate::results::repetitions::REPETITIONS;
use crate::results::{PROVENANCE, RunFolder, SCENARIO, SUMMARY};

/// Files copied from each run folder (the first two are required).
const FILES: [&str; 4] = [SUMMARY, STEADY_LOG, PROVENANCE, SCENARIO];

/// Copies `results` into `dir/name`, replacing an existing baseline only with `force`.
/// Returns the baseline's folder.
pub fn save(results: &Path, name: &str, dir: &Path, force: bool) -> anyhow::Result<PathBuf> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        bail!("baseline name {name:?}: use letters, digits, '-', '_' and '.'");
    }
    // Refuse what compare would refuse, before copying anything.
    let data = folder::load(results)?;
    let dest = dir.join(name);
    if dest.exists() {
        if !force {
            bail!(
                "baseline {} exists; pass --force to replace it",
                dest.display()
            );
        }
        std::fs::remove_dir_all(&dest)
            .with_context(|| format!("cannot remove {}", dest.display()))?;
    }
    std::fs::create_dir_all(&dest).with_context(|| format!("cannot create {}", dest.display()))?;
    if RunFolder::open(results)?.is_repeated() {
        copy(results, &dest, REPETITIONS)?;
        for run in &data.runs {
            let rel = run.dir.strip_prefix(results).unwrap_or(&run.dir);
            copy_run(&run.dir, &dest.join(rel))?;
        }
    } else {
        copy_run(results, &dest)?;
    }
    Ok(dest)
}

fn copy_run(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for name in FILES {
        if from.join(name).is_file() {
            copy(from, to, name)?;
        }
    }
    Ok(())
}

fn copy(from: &Path, to: &Path, name: &str) -> anyhow::Result<()> {
    std::fs::copy(from.join(name), to.join(name)).with_context(|| {
        format!(
            "cannot copy {} to {}",
            from.join(name).display(),
            to.display()
        )
    })?;
    Ok(())
}
