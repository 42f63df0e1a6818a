//! The command line, the one layer that reads raw arguments: the clap definitions of
//! every subcommand, their handlers (which turn arguments into the plain configurations
//! of `run`, `report`, `compare`, `probe` and the servers) and the exit statuses. Nothing
//! below it parses arguments or picks an exit code.

mod certs;
mod compare;
pub mod exit;
mod gateway;
mod idp;
mod merge;
mod probe;
mod publish;
mod report;
mod run;
mod serve_tls;
mod shard;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::plan::Plan;
pub use exit::ExitStatus;

/// Load tests and benchmarks for S3 object storage (Ceph RGW) behind an API gateway.
#[derive(Debug, Parser)]
#[command(name = "gatebench", version, about, after_help = exit::help())]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario and write a results folder.
    #[command(after_help = "\
Examples:
  gatebench run scenarios/quickstart.toml
  gatebench run scenarios/quickstart.toml --duration 30s --seed 7
  gatebench run scenarios/rgw-mixed.toml --out /tmp/run1 --keep-data
  gatebench run scenarios/quickstart.toml --json > summary.json
  gatebench run scenarios/quickstart.toml --repeat 3 --duration 10s
  gatebench run scenarios/gateway-capacity-finder.toml   # load.executor = \"find-capacity\":
                                                        # each target's knee (docs/scenarios.md)

Results go to results/<scenario>-<UTC time>/: summary.json, histograms.hlog
(HdrHistogram interval log, µs), warmup.hlog, scenario.resolved.toml, provenance.json.

Secrets come from ${VAR} references in the scenario, resolved from the environment.")]
    Run(run::RunArgs),
    /// Check scenario files without running them.
    #[command(after_help = "\
Examples:
  gatebench validate scenarios/*.toml

Each problem is printed as FILE:LINE:COLUMN: FIELD: MESSAGE.")]
    Validate {
        /// Scenario files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check a scenario's targets step by step before a long run: resolve, connect, TLS,
    /// token, one request of each op.
    #[command(after_help = "\
Examples:
  gatebench probe scenarios/gateway-remote.toml
  gatebench probe scenarios/gateway-remote.toml --json > probe.json

Per target: resolve (addresses), connect (time), tls (protocol, certificate subject,
issuer, expiry), token (fetch time; claims iss, aud, azp/appid, roles/scp, exp, decoded
without verifying; never the token), then one request of each op in the mix against a
probe object under a fresh prefix (seeded and deleted again through the storage target),
with status, latency and the headers that matter (cache, Retry-After, rate-limit,
request ids). A target stops at its first failing step.

Exit codes: 0 every step passed, 1 a step failed (the first is named), 2 invalid
scenario or command line.")]
    Probe {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Print the steps as JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Run the local APIM stand-in in front of an S3 backend.
    #[command(after_help = gateway::GATEWAY_HELP)]
    Gateway(gateway::GatewayArgs),
    /// Run a development OAuth2/OIDC token issuer (local runs only).
    #[command(after_help = idp::IDP_HELP)]
    Idp(idp::IdpArgs),
    /// Write a test CA and certificates for serving TLS locally (never for production).
    #[command(after_help = certs::CERTS_HELP)]
    Certs(certs::CertsArgs),
    /// Regenerate the report of a results folder: charts, report.html, summary.md.
    #[command(after_help = "\
Examples:
  gatebench report results/quickstart-20260101T000000Z

Reads summary.json, histograms.hlog and provenance.json; writes charts/*.svg and
charts/*.png, report.html (self-contained) and summary.md (for CI step summaries).
Exit code 1 if the folder is missing or its files are malformed.")]
    Report {
        /// The results folder of a run.
        dir: PathBuf,
    },
    /// Compare two results folders: latency changes with confidence intervals.
    #[command(after_help = "\
Examples:
  gatebench compare results/before results/after
  gatebench compare baselines/main results/run --fail-on-regression --format markdown

Both folders are results of the same scenario: a single run, a repeated run (--repeat)
or a saved baseline. Per target × op × p50/p90/p99 of ok latency: the change with a
bootstrap interval, over repetitions when both have at least 3, else over the seconds
of histograms.hlog. A change is a regression only if its interval excludes 0 and it is
at least --min-effect of the baseline and at least --min-effect-abs.

Exit codes: 0 compared (3 with --fail-on-regression and a regression), 2 the folders
cannot be compared (missing or malformed files, different scenarios or schemas).")]
    Compare(compare::CompareArgs),
    /// Merge the shards of a distributed run (local folders or s3://BUCKET/PREFIX/) into
    /// one results folder, histograms added exactly.
    #[command(after_help = "\
Examples:
  gatebench merge results/run-a results/run-b --out results/merged
  gatebench merge s3://bench-results/run-42/ --scenario scenario.toml --shards 4 --wait 15m

Every source must be a shard folder of the same run (summary.json with a shard record,
the same run id and shard count, the same scenario_sha256 in provenance.json), every
index once. The interval logs are added per tag and wall-clock second; the summary,
report and charts come from the merged histograms, with a shards table (host, start,
clock offset, requests, failures, peak RSS, CPU). From s3:// it waits for every
PREFIX/shard-I-of-N.done marker, downloads the shards into DIR/shards/ and uploads the
merged folder to PREFIX/merged/.

Exit codes: as for a run (0, 1 failed or incomplete shard, 3 a threshold failed); 1 also
when shards are missing (they are named) or unreadable, 2 when the folders do not belong
together.")]
    Merge(merge::MergeArgs),
    /// Keep results as named baselines for `compare`.
    Baseline {
        #[command(subcommand)]
        action: compare::BaselineAction,
    },
}

/// Parses the command line, runs the subcommand and returns its exit code.
pub fn main() -> ExitCode {
    let status = match Cli::parse().command {
        Command::Validate { files } => validate::validate(&files),
        Command::Run(args) => run::run(args),
        Command::Probe { scenario, json } => probe::probe(&scenario, json),
        Command::Gateway(args) => gateway::serve(args),
        Command::Idp(args) => idp::serve(args),
        Command::Certs(args) => certs::write(args),
        Command::Report { dir } => report::report(&dir),
        Command::Compare(args) => compare::compare(&args),
        Command::Merge(args) => merge::merge(args),
        Command::Baseline { action } => compare::baseline(action),
    };
    status.into()
}

/// The multi-threaded tokio runtime a subcommand runs on; if it cannot start, the error
/// is printed and `Failed` returned.
fn async_runtime() -> Result<tokio::runtime::Runtime, ExitStatus> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ExitStatus::Failed.with_error(format!("cannot start the async runtime: {e}")))
}

/// The scenario at `path` as a plan; if it is invalid, its problems are printed and
/// `Invalid` returned.
fn load_plan(path: &Path) -> Result<Plan, ExitStatus> {
    crate::scenario::load(path).map_err(|e| {
        eprintln!("{e}");
        ExitStatus::Invalid
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent_and_help_lists_the_exit_codes() {
        Cli::command().debug_assert();
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains(&exit::help()), "{help}");
    }
}
