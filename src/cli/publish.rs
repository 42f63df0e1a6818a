//! `gatebench run --results-to s3://BUCKET/PREFIX/`: the flags, and the upload of the
//! finished run's folder (after its report) for `gatebench merge` to collect.

use super::ExitStatus;
use crate::merge::store::{self, Location};
use crate::plan::{Plan, Shard};
use crate::redact::redact;
use crate::run::RunOutput;

/// Where a run's results folder travels when it ends.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// After the run, upload its results folder to s3://BUCKET/PREFIX/shard-I-of-N/
    /// (an unsharded run: shard-0-of-1/), then the marker PREFIX/shard-I-of-N.done,
    /// through the scenario's first s3 target (or --results-target); the bucket is
    /// created if missing. For `gatebench merge s3://BUCKET/PREFIX/`.
    #[arg(
        long,
        value_name = "s3://BUCKET/PREFIX/",
        env = "GATEBENCH_RESULTS_TO",
        conflicts_with = "repeat"
    )]
    pub results_to: Option<Location>,
    /// The s3 target of the scenario that --results-to goes through.
    #[arg(long, value_name = "NAME", requires = "results_to")]
    pub results_target: Option<String>,
}

/// Uploads the run's folder (of `shard`, with `plan`'s storage targets) if
/// `--results-to` asks for it; on failure the error (the local folder is kept) and
/// `Failed`.
pub fn publish(
    args: &PublishArgs,
    plan: &Plan,
    shard: Shard,
    runtime: &tokio::runtime::Runtime,
    out: &RunOutput,
) -> Result<(), ExitStatus> {
    let Some(to) = &args.results_to else {
        return Ok(());
    };
    let (index, count) = (shard.index, shard.count);
    let upload = async {
        let admin = store::admin(plan, args.results_target.as_deref())?;
        store::publish(&admin, to, &out.folder, index, count).await
    };
    match runtime.block_on(upload) {
        Ok(n) => {
            eprintln!(
                "uploaded {n} files to {to}{}/",
                store::shard_name(index, count)
            );
            Ok(())
        }
        Err(e) => Err(ExitStatus::Failed.with_error(redact(&format!(
            "cannot upload the results to {to}: {e:#}; they stay in {}",
            out.folder.display()
        )))),
    }
}
