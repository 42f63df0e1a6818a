//! `gatebench probe`: the step-by-step check of a scenario's targets, printed as a table
//! or JSON.

use std::path::Path;

use super::{ExitStatus, async_runtime, load_plan};
use crate::probe;

/// Probes every target of the scenario at `path`; `Failed` at the first failing step.
pub fn probe(path: &Path, json: bool) -> ExitStatus {
    let plan = match load_plan(path) {
        Ok(p) => p,
        Err(status) => return status,
    };
    let runtime = match async_runtime() {
        Ok(r) => r,
        Err(status) => return status,
    };
    let result = runtime.block_on(probe::probe(&plan));
    if json {
        println!("{}", probe::render::json(&result));
    } else {
        print!("{}", probe::render::table(&result));
    }
    let verdict = probe::render::verdict(&result);
    match result.first_failure() {
        Some(_) => {
            eprintln!("{verdict}");
            ExitStatus::Failed
        }
        None => {
            if !json {
                println!("{verdict}");
            }
            ExitStatus::Success
        }
    }
}
