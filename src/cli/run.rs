//! `gatebench run`: its options, the plan they adjust, and what is printed and returned
//! after a single or repeated run.

use std::path::PathBuf;
use std::time::Duration;

use super::{ExitStatus, async_runtime, load_plan};
use crate::plan::{Plan, Shard};
use crate::redact::redact;
use crate::results::summary::{RunStatus, Summary};
use crate::run::{RunOptions, RunOutput};
use crate::{report, thresholds};

/// `gatebench run` options.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Write results into this folder instead of results/<scenario>-<time>/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Folder in which run folders are made.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results: PathBuf,
    /// Override the measured duration (e.g. 30s, 2m).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Override the number of measured operations.
    #[arg(long)]
    pub ops: Option<u64>,
    /// Override the seed of the operation sequence.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Leave this run's objects in the buckets (default: delete them at the end).
    #[arg(long)]
    pub keep_data: bool,
    /// No progress display; print the table and results path only.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print summary.json to stdout instead of the table (with --repeat: repetitions.json).
    #[arg(long)]
    pub json: bool,
    /// Run the scenario N times, into rep-1/ … rep-N/ with a repetitions.json index;
    /// thresholds must pass in every repetition.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
    #[command(flatten)]
    pub shard: super::shard::ShardArgs,
    /// Generator threads: each runs its own single-threaded runtime with its share of the
    /// workers (default: one per core this process may use, e.g. under taskset).
    #[arg(long, value_name = "N", env = "GATEBENCH_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Test and debugging aid: write one CSV line per request (what, when due, how long)
    /// into FILE. Costs a lock per request.
    #[arg(long, value_name = "FILE", hide = true)]
    pub trace_requests: Option<PathBuf>,
    #[command(flatten)]
    pub publish: super::publish::PublishArgs,
}

/// Runs the scenario (`--repeat` times), writes its report and prints the outcome.
pub fn run(args: RunArgs) -> ExitStatus {
    let plan = match load_plan(&args.scenario) {
        Ok(p) => adjusted(p, &args),
        Err(status) => return status,
    };
    if let Err(e) = refuse_for_capacity_search(&plan, &args) {
        return ExitStatus::Invalid.with_error(e);
    }
    let distributed = match args.shard.distributed(&plan) {
        Ok(d) => d,
        Err(e) => return ExitStatus::Invalid.with_error(e),
    };
    let shard = distributed.as_ref().map_or(Shard::WHOLE, |d| d.shard);
    if distributed.is_some() && args.repeat > 1 {
        return ExitStatus::Invalid
            .with_error("--repeat cannot be combined with a distributed run");
    }
    let opts = RunOptions {
        results_base: args.results,
        out: args.out,
        keep_data: args.keep_data,
        quiet: args.quiet,
        distributed,
        trace: args.trace_requests,
        threads: args
            .threads
            .map_or_else(crate::engine::threads::default_threads, usize::from),
    };
    let runtime = match async_runtime() {
        Ok(r) => r,
        Err(status) => return status,
    };
    if args.repeat > 1 {
        return run_repeated(&runtime, plan, opts, args.repeat, args.json);
    }
    match runtime.block_on(crate::run::run(plan.clone(), opts)) {
        Ok(out) => {
            print_run(&out, args.json);
            if let Err(status) =
                super::publish::publish(&args.publish, &plan, shard, &runtime, &out)
            {
                return status;
            }
            let status = status_of(&out.summary);
            if status == ExitStatus::Failed
                && let Some(e) = &out.summary.error
            {
                eprintln!("error: {e}");
            }
            status
        }
        Err(e) => ExitStatus::Failed.with_error(redact(&format!("{e:#}"))),
    }
}

/// A capacity search takes its length from its steps and runs in one process: the
/// options that would change either are refused.
fn refuse_for_capacity_search(plan: &Plan, args: &RunArgs) -> Result<(), String> {
    if matches!(plan.load, crate::plan::LoadModel::Journeys(_)) && args.ops.is_some() {
        return Err("--ops does not apply to journeys: load.iterations sets their count".into());
    }
    if !matches!(plan.load, crate::plan::LoadModel::FindCapacity(_)) {
        return Ok(());
    }
    let length = [
        ("--duration", args.duration.is_some()),
        ("--ops", args.ops.is_some()),
    ];
    if let Some((flag, _)) = length.iter().find(|(_, set)| *set) {
        return Err(format!(
            "{flag} does not apply to find-capacity: its steps set the run's length (load.step_duration)"
        ));
    }
    let shard = &args.shard;
    if shard.shard.is_some()
        || shard.shards.is_some()
        || shard.run_id.is_some()
        || shard.start_at.is_some()
    {
        return Err(
            "find-capacity runs in one process: --shard, --shards, --run-id and --start-at do not apply"
                .into(),
        );
    }
    Ok(())
}

/// The plan with the command line's overrides of duration, operation count and seed.
fn adjusted(mut plan: Plan, args: &RunArgs) -> Plan {
    if let Some(d) = args.duration {
        plan.limits.duration = Some(d);
    }
    if let Some(n) = args.ops {
        plan.limits.ops = Some(n);
    }
    if let Some(s) = args.seed {
        plan.seed = s;
    }
    plan
}

/// Writes the report of a finished run (made from the saved results, exactly as
/// `gatebench report` does) and prints the summary as JSON or as the table.
fn print_run(out: &RunOutput, json: bool) {
    let report = report::write_report(&out.folder);
    if let Err(e) = &report {
        eprintln!("warning: the report could not be made: {e:#}");
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&out.summary).unwrap_or_default()
        );
    } else {
        print!("{}", report::console::table(&out.summary));
        print!("{}", thresholds::console(&out.summary.thresholds));
        println!("results: {}", out.folder.display());
        if let Ok(files) = &report {
            println!("report:  {}", files.html.display());
        }
    }
}

/// The exit status a run's summary calls for.
pub(super) fn status_of(summary: &Summary) -> ExitStatus {
    match summary.status {
        RunStatus::Complete if !thresholds::all_passed(&summary.thresholds) => {
            ExitStatus::ThresholdFailed
        }
        RunStatus::Complete => ExitStatus::Success,
        RunStatus::Interrupted => ExitStatus::Interrupted,
        RunStatus::Failed | RunStatus::Incomplete => ExitStatus::Failed,
    }
}

/// Runs the plan `n` times and prints each repetition; the status is the worst one:
/// failed, then interrupted, then a failed threshold.
fn run_repeated(
    runtime: &tokio::runtime::Runtime,
    plan: Plan,
    opts: RunOptions,
    n: u32,
    json: bool,
) -> ExitStatus {
    let each = |i: u32, out: &RunOutput| {
        if json {
            return;
        }
        println!("repetition {i}/{n}: {}", out.folder.display());
        print!("{}", report::console::table(&out.summary));
        print!("{}", thresholds::console(&out.summary.thresholds));
    };
    match runtime.block_on(crate::run::repeat::run_repeated(plan, opts, n, each)) {
        Ok(out) => {
            let index = out.folder.join(crate::results::repetitions::REPETITIONS);
            if json {
                print!("{}", std::fs::read_to_string(&index).unwrap_or_default());
            } else {
                println!(
                    "results: {} ({} repetitions)",
                    out.folder.display(),
                    out.runs.len()
                );
            }
            let status = |s| out.runs.iter().any(|r| r.summary.status == s);
            if status(RunStatus::Failed) {
                if let Some(e) = out.runs.iter().find_map(|r| r.summary.error.as_ref()) {
                    eprintln!("error: {e}");
                }
                ExitStatus::Failed
            } else if status(RunStatus::Interrupted) {
                ExitStatus::Interrupted
            } else if out
                .runs
                .iter()
                .any(|r| !thresholds::all_passed(&r.summary.thresholds))
            {
                ExitStatus::ThresholdFailed
            } else {
                ExitStatus::Success
            }
        }
        Err(e) => ExitStatus::Failed.with_error(redact(&format!("{e:#}"))),
    }
}
