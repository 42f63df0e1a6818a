//! The command line: clap definitions, and the async runtime every subcommand starts
//! on. `main` turns them into actions.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Exit codes, documented in `--help` and the README.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    the run completed (or the scenario is valid)
  1    the run failed: setup error, unreachable target (results are still written)
  2    invalid scenario or command line
  3    a threshold failed (run; results are still written), or a regression was
       found (compare --fail-on-regression)
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
  gatebench run scenarios/quickstart.toml --repeat 3 --duration 10s

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
    #[command(after_help = crate::gateway::args::GATEWAY_HELP)]
    Gateway(crate::gateway::args::GatewayArgs),
    /// Run a development OAuth2/OIDC token issuer (local runs only).
    #[command(after_help = crate::idp::args::IDP_HELP)]
    Idp(crate::idp::args::IdpArgs),
    /// Write a test CA and certificates for serving TLS locally (never for production).
    #[command(after_help = crate::tls::generate::CERTS_HELP)]
    Certs(crate::tls::generate::CertsArgs),
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
    Compare(CompareArgs),
    /// Keep results as named baselines for `compare`.
    Baseline {
        #[command(subcommand)]
        action: BaselineAction,
    },
}

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
}
