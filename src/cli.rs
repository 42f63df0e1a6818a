//! The command line: clap definitions only. `main` turns them into actions.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Exit codes, documented in `--help` and the README.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    the run completed (or the scenario is valid)
  1    the run failed: setup error, unreachable target (results are still written)
  2    invalid scenario or command line
  130  interrupted by Ctrl-C/SIGTERM (results gathered so far are written)";

/// Load tests and benchmarks for S3 object storage (Ceph RGW) behind an API gateway.
#[derive(Debug, Parser)]
#[command(name = "gatebench", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario and write a results folder.
    #[command(after_help = "\
Examples:
  gatebench run scenarios/quickstart.toml
  gatebench run scenarios/quickstart.toml --duration 30s --seed 7
  gatebench run scenarios/rgw-mixed.toml --out /tmp/run1 --keep-data
  gatebench run scenarios/quickstart.toml --json > summary.json

Results go to results/<scenario>-<UTC time>/: summary.json, histograms.hlog
(HdrHistogram interval log, µs), warmup.hlog, scenario.resolved.toml, provenance.json.

Secrets come from ${VAR} references in the scenario, resolved from the environment.")]
    Run(RunArgs),
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
    /// Run the local APIM stand-in in front of an S3 backend.
    #[command(after_help = crate::gateway::args::GATEWAY_HELP)]
    Gateway(crate::gateway::args::GatewayArgs),
    /// Run a development OAuth2/OIDC token issuer (local runs only).
    #[command(after_help = crate::idp::args::IDP_HELP)]
    Idp(crate::idp::args::IdpArgs),
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
}

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
    /// Print summary.json to stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}
