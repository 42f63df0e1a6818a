//! `gatebench compare` and `gatebench baseline`: their options, the comparison of two
//! results folders as the user asked for it, and saving baselines.

use std::path::PathBuf;

use clap::Subcommand;

use super::ExitStatus;
use crate::compare;

/// `gatebench compare` options.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The reference results folder (or baselines/NAME).
    pub baseline: PathBuf,
    /// The results folder to judge.
    pub candidate: PathBuf,
    /// Two-sided confidence of the intervals.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Smallest relative change that counts (percent of the baseline).
    #[arg(long, default_value = "5%", value_parser = crate::compare::parse_fraction)]
    pub min_effect: f64,
    /// Smallest absolute change that counts (e.g. 0.5ms, 200us).
    #[arg(long, default_value = "0.5ms", value_parser = crate::compare::parse_time_us)]
    pub min_effect_abs: f64,
    /// With repetitions on both sides: a change must also exceed this many times the
    /// larger of the two sides' spreads between their own repetitions (session drift).
    #[arg(long, default_value_t = 1.5)]
    pub noise_factor: f64,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    /// Seed of the bootstrap RNG (same seed, same intervals).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::compare::render::Format,
    /// Exit with 3 when any metric regressed.
    #[arg(long)]
    pub fail_on_regression: bool,
}

/// `gatebench baseline` actions.
#[derive(Debug, Subcommand)]
pub enum BaselineAction {
    /// Copy a results folder to DIR/NAME (summary, interval log, provenance, scenario).
    #[command(after_help = "\
Examples:
  gatebench baseline save results/quickstart-20260101T000000Z main
  gatebench compare baselines/main results/quickstart-20260102T000000Z")]
    Save {
        /// The results folder (single or repeated run).
        results: PathBuf,
        /// The baseline's name (letters, digits, '-', '_', '.').
        name: String,
        /// Folder holding baselines.
        #[arg(long, value_name = "DIR", default_value = "baselines")]
        dir: PathBuf,
        /// Replace an existing baseline of that name.
        #[arg(long)]
        force: bool,
    },
}

/// Compares the two folders and prints the report; `ThresholdFailed` for a regression
/// with `--fail-on-regression`, `Invalid` when the folders cannot be compared.
pub fn compare(args: &CompareArgs) -> ExitStatus {
    let opts = compare::CompareOptions {
        confidence: args.confidence,
        min_effect: args.min_effect,
        min_effect_abs_us: args.min_effect_abs,
        noise_factor: args.noise_factor,
        resamples: args.resamples,
        seed: args.seed,
    };
    match compare::compare_folders(&args.baseline, &args.candidate, &opts) {
        Ok(report) => {
            print!("{}", compare::render::render(&report, args.format));
            if args.fail_on_regression && report.regressions() > 0 {
                ExitStatus::ThresholdFailed
            } else {
                ExitStatus::Success
            }
        }
        Err(e) => ExitStatus::Invalid.with_error(format!("cannot compare: {e:#}")),
    }
}

/// Does the baseline action and prints where the baseline went.
pub fn baseline(action: BaselineAction) -> ExitStatus {
    let BaselineAction::Save {
        results,
        name,
        dir,
        force,
    } = action;
    match compare::baseline::save(&results, &name, &dir, force) {
        Ok(dest) => {
            println!("baseline saved: {}", dest.display());
            ExitStatus::Success
        }
        Err(e) => ExitStatus::Invalid.with_error(format!("{e:#}")),
    }
}
