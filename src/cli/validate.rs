//! `gatebench validate`: checks scenario files without running them.

use std::path::PathBuf;

use super::ExitStatus;

/// Loads every file, printing `ok` or its problems; `Invalid` if any has one.
pub fn validate(files: &[PathBuf]) -> ExitStatus {
    let mut status = ExitStatus::Success;
    for f in files {
        match crate::scenario::load(f) {
            Ok(plan) => println!(
                "{}: ok ({} targets, {} operations in the mix)",
                f.display(),
                plan.targets.len(),
                plan.mix.len()
            ),
            Err(e) => {
                eprintln!("{e}");
                status = ExitStatus::Invalid;
            }
        }
    }
    status
}
