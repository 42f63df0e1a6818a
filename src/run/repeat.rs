//! `gatebench run --repeat N`: the same scenario N times, each into its own full
//! results folder (`rep-1/`, `rep-2/`, …) under one folder with `repetitions.json`.
//!
//! Every repetition uses the same plan (same seed, so the same operation sequence) and
//! alternates targets as the plan's compare mode says. Thresholds are evaluated per
//! repetition; a repeated run passes only if each repetition passes. A failed or
//! interrupted repetition ends the series; what ran is kept and indexed.

use std::path::PathBuf;
use std::time::SystemTime;

use super::{RunOptions, RunOutput, run};
use crate::plan::Plan;
use crate::results::repetitions::{REPETITIONS, Repetition, Repetitions, SCHEMA};
use crate::results::summary::RunStatus;
use crate::results::{self, RunFolder};
use crate::thresholds;

/// What a repeated run produced.
pub struct RepeatedOutput {
    /// The folder holding `repetitions.json` and `rep-N/`.
    pub folder: PathBuf,
    /// The repetitions that ran, in order.
    pub runs: Vec<RunOutput>,
}

/// Runs `plan` `n` times; `each` is told about every finished repetition (1-based).
pub async fn run_repeated(
    plan: Plan,
    opts: RunOptions,
    n: u32,
    mut each: impl FnMut(u32, &RunOutput),
) -> anyhow::Result<RepeatedOutput> {
    let run_id = results::new_run_id(&plan.name, SystemTime::now());
    let folder = RunFolder::create(&opts.results_base, &run_id, opts.out.as_deref())?;
    let mut index = Repetitions {
        schema: SCHEMA.to_string(),
        scenario: plan.name.clone(),
        requested: n,
        repetitions: Vec::new(),
    };
    let mut runs = Vec::new();
    for i in 1..=n {
        let name = format!("rep-{i}");
        let rep_opts = RunOptions {
            out: Some(folder.dir.join(&name)),
            ..opts.clone()
        };
        let out = run(plan.clone(), rep_opts).await?;
        index.repetitions.push(Repetition {
            index: i,
            folder: name,
            status: out.summary.status,
            thresholds_passed: thresholds::all_passed(&out.summary.thresholds),
        });
        folder.write_json(REPETITIONS, &index)?;
        each(i, &out);
        let stop = out.summary.status != RunStatus::Complete;
        runs.push(out);
        if stop {
            break;
        }
    }
    Ok(RepeatedOutput {
        folder: folder.dir,
        runs,
    })
}
