//! The records of a distributed run in `summary.json`: a shard's own `shard` record (who
//! it was, when it started, how far its clock was off) and, in the folder `gatebench
//! merge` makes, the `shards` table with one row per shard.

use serde::{Deserialize, Serialize};

/// One shard of a distributed run, as that shard recorded itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// This shard's index, from 0.
    pub index: u32,
    /// How many shards the run has.
    pub count: u32,
    /// The distributed run's shared id (the key prefix under which all shards work).
    pub run_id: String,
    /// The machine (or pod) the shard ran on.
    pub host: String,
    /// The agreed start (`--start-at`), RFC 3339, if one was set.
    pub start_at: Option<String>,
    /// When this shard began its warm-up, by its own clock, RFC 3339 with milliseconds.
    pub began_at: String,
    /// This shard's clock minus the reference clock, ms (positive: it runs ahead);
    /// `None` if no reference could be read.
    pub clock_offset_ms: Option<f64>,
    /// What the offset was measured against, e.g. `Date header of http://…`.
    pub clock_reference: Option<String>,
    /// Largest offset accepted without a flag, ms (`--max-clock-offset`).
    pub max_clock_offset_ms: f64,
    /// CPU time the shard's process used (user + system), seconds (Linux only).
    pub cpu_seconds: Option<f64>,
    /// Peak resident memory of the shard's process, bytes (Linux only).
    pub peak_rss_bytes: Option<u64>,
}

impl ShardRecord {
    /// True if the clock offset is unknown or beyond the bound: the shard may not have
    /// started with the others.
    pub fn clock_flagged(&self) -> bool {
        self.clock_offset_ms
            .is_none_or(|o| o.abs() > self.max_clock_offset_ms)
    }
}

/// One row of a merged run's `shards` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedShard {
    /// The shard as it recorded itself.
    #[serde(flatten)]
    pub shard: ShardRecord,
    /// Steady-phase requests the shard sent (all outcomes).
    pub requests: u64,
    /// Of those, the ones that did not end `ok`.
    pub failures: u64,
    /// The shard's clock offset was unknown or over the bound.
    pub clock_flagged: bool,
    /// The shard's own run status (`complete`, `interrupted`, …).
    pub status: String,
}
