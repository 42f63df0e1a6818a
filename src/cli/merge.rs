//! `gatebench merge`: the shards of a distributed run, from local folders or from
//! `s3://BUCKET/PREFIX/`, merged into one results folder.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::{ExitStatus, async_runtime, load_plan};
use crate::merge::store::{self, Location};
use crate::merge::{self, Mismatch};
use crate::plan::Plan;
use crate::redact::redact;
use crate::results::summary::Summary;
use crate::{report, thresholds};

/// `gatebench merge` options.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Shard folders, or one s3://BUCKET/PREFIX/ the shards uploaded to (--results-to).
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    /// The merged results folder (default: results/merge-<UTC time>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The scenario the shards ran: its thresholds judge the merged run; for an s3://
    /// source also its endpoint and credentials (required then).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// The scenario's s3 target the results are stored through (default: its first).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// How many shards to wait for (default: from the first marker's name).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: Option<u32>,
    /// Longest wait for all shards' markers.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub wait: Duration,
}

/// Merges the shards, writes the merged folder and its report, prints the outcome;
/// exits as the merged run would (thresholds included), `Failed` if shards are missing
/// or unreadable, `Invalid` if they do not belong together.
pub fn merge(args: MergeArgs) -> ExitStatus {
    let plan = match &args.scenario {
        Some(path) => match load_plan(path) {
            Ok(p) => Some(p),
            Err(status) => return status,
        },
        None => None,
    };
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(format!(
            "merge-{}",
            crate::results::compact_timestamp(SystemTime::now())
        ))
    });
    let remote = match args.sources.as_slice() {
        [one] if one.starts_with("s3://") => match one.parse::<Location>() {
            Ok(loc) => Some(loc),
            Err(e) => return ExitStatus::Invalid.with_error(format!("{e:#}")),
        },
        many if many.iter().any(|s| s.starts_with("s3://")) => {
            return ExitStatus::Invalid
                .with_error("an s3:// source is merged on its own, not with other sources");
        }
        _ => None,
    };
    let merged = match (&remote, &plan) {
        (Some(loc), Some(plan)) => from_store(loc, plan, &args, &out),
        (Some(_), None) => {
            return ExitStatus::Invalid
                .with_error("an s3:// source needs --scenario (its endpoint and credentials)");
        }
        (None, _) => {
            let dirs: Vec<PathBuf> = args.sources.iter().map(PathBuf::from).collect();
            merge::merge(&dirs, &out, plan.as_ref())
        }
    };
    match merged {
        Ok(summary) => {
            print_merged(&summary, &out);
            super::run::status_of(&summary)
        }
        Err(e) => {
            let status = if e.downcast_ref::<Mismatch>().is_some() {
                ExitStatus::Invalid
            } else {
                ExitStatus::Failed
            };
            status.with_error(redact(&format!("cannot merge: {e:#}")))
        }
    }
}

/// Waits for the shards under `from`, downloads them into `out/shards/`, merges them
/// into `out` and uploads that to `PREFIX/merged/`.
fn from_store(
    from: &Location,
    plan: &Plan,
    args: &MergeArgs,
    out: &std::path::Path,
) -> anyhow::Result<Summary> {
    let runtime = async_runtime().map_err(|_| anyhow::anyhow!("no async runtime"))?;
    runtime.block_on(async {
        let admin = store::admin(plan, args.target.as_deref())?;
        let count =
            store::wait_for_markers(&admin, from, args.shards, args.wait, |s| eprintln!("{s}"))
                .await?;
        let shards_dir = out.join("shards");
        let dirs = store::download(&admin, from, count, &shards_dir).await?;
        eprintln!(
            "downloaded {count} shard folders into {}",
            shards_dir.display()
        );
        let summary = merge::merge(&dirs, out, Some(plan))?;
        let n = store::upload(&admin, from, out, store::MERGED, Some(&shards_dir)).await?;
        println!("uploaded {n} files to {from}{}/", store::MERGED);
        Ok(summary)
    })
}

/// The merged run's table, shard table, thresholds and where its files are.
fn print_merged(summary: &Summary, out: &std::path::Path) {
    print!("{}", report::console::table(summary));
    print!("{}", report::shards::console(summary));
    print!("{}", thresholds::console(&summary.thresholds));
    println!("results: {}", out.display());
    println!("report:  {}", out.join(report::html::FILE_NAME).display());
}
