//! The options that make `gatebench run` one shard of a distributed run, and how they
//! become a [`Distributed`]: from flags, from `GATEBENCH_*` variables, or from the
//! `JOB_COMPLETION_INDEX` a Kubernetes Indexed Job gives each pod.

use std::time::{Duration, SystemTime};

use crate::plan::{Plan, Shard};
use crate::results::compact_timestamp;
use crate::run::distributed::Distributed;

/// Longest run id: it names folders and prefixes keys.
const MAX_RUN_ID: usize = 64;

/// Distributed-run options of `gatebench run` (see docs/distributed.md).
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Distributed runs (docs/distributed.md)")]
pub struct ShardArgs {
    /// Run shard I of N (from 0): every Nth request of the one seeded schedule (open
    /// loop) or N-th of the workers (closed loop). Needs --run-id or --start-at.
    #[arg(long, value_name = "I/N", env = "GATEBENCH_SHARD")]
    pub shard: Option<Shard>,
    /// Run one of N shards, the index taken from JOB_COMPLETION_INDEX (a Kubernetes
    /// Indexed Job sets it in each pod).
    #[arg(long, value_name = "N", env = "GATEBENCH_SHARDS", conflicts_with = "shard",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub shards: Option<u32>,
    /// The id all shards of a run share: the key prefix they work under and the name
    /// of their results (letters, digits, '.', '_', '-').
    #[arg(long, value_name = "ID", env = "GATEBENCH_RUN_ID")]
    pub run_id: Option<String>,
    /// When every shard begins its warm-up (RFC 3339, e.g. 2026-12-02T15:00:00Z).
    /// Default: shard 0 sets it, --start-grace after it has seeded.
    #[arg(long, value_name = "TIME", env = "GATEBENCH_START_AT", value_parser = humantime::parse_rfc3339_weak)]
    pub start_at: Option<SystemTime>,
    /// Without --start-at: how long after seeding shard 0 sets the start, for the other
    /// shards to see it and measure their clocks.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub start_grace: Duration,
    /// A shard whose clock is off by more than this (against the first target's Date
    /// header) is flagged in its summary and the merged report.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub max_clock_offset: Duration,
    /// Test hook: shift this machine's clock by MS milliseconds (may be negative).
    #[arg(
        long,
        value_name = "MS",
        hide = true,
        allow_hyphen_values = true,
        default_value_t = 0
    )]
    pub simulate_clock_skew: i64,
}

impl ShardArgs {
    /// This process's part in a distributed run, `None` for a run of its own, or what is
    /// wrong with the options (for `plan`'s load, e.g. fewer workers than shards).
    pub fn distributed(&self, plan: &Plan) -> Result<Option<Distributed>, String> {
        let shard = match (self.shard, self.shards) {
            (Some(s), _) => Some(s),
            (None, Some(n)) => {
                let index = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
                    format!("--shards {n} takes the shard index from JOB_COMPLETION_INDEX, which is not set (use --shard I/{n} outside a Kubernetes Indexed Job)")
                })?;
                let index = index
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| format!("JOB_COMPLETION_INDEX `{index}` is not a shard index"))?;
                Some(Shard::new(index, n)?)
            }
            (None, None) => None,
        };
        if shard.is_none() && self.run_id.is_none() && self.start_at.is_none() {
            return Ok(None);
        }
        let shard = shard.unwrap_or(Shard::WHOLE);
        let run_id = match (&self.run_id, self.start_at) {
            (Some(id), _) => checked_run_id(id)?,
            (None, Some(at)) => format!("{}-{}", plan.name, compact_timestamp(at)),
            (None, None) => {
                return Err(format!(
                    "shard {shard} needs --run-id ID (or --start-at TIME): the same on every shard, so they share keys and results"
                ));
            }
        };
        crate::run::check_shard(plan, shard)?;
        Ok(Some(Distributed {
            shard,
            run_id,
            start_at: self.start_at,
            start_grace: self.start_grace,
            max_clock_offset: self.max_clock_offset,
            clock_skew_ms: self.simulate_clock_skew,
        }))
    }
}

/// `id` if it can name folders and key prefixes.
fn checked_run_id(id: &str) -> Result<String, String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_RUN_ID
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !id.starts_with('.');
    if ok {
        Ok(id.to_string())
    } else {
        Err(format!(
            "--run-id `{id}`: use 1 to {MAX_RUN_ID} letters, digits, '.', '_' or '-' (not starting with '.')"
        ))
    }
}
