//! The merged `summary.json`: figures from the merged histograms only (never averaged
//! percentiles), engine counts summed from the shards' summaries, the worst status, and
//! the `shards` table.

use std::time::{Duration, SystemTime};

use super::shards::Shard;
use crate::plan::Plan;
use crate::record::{OutcomeClass, Totals};
use crate::results::shards::MergedShard;
use crate::results::slowest;
use crate::results::summary::{
    self, AuthSummary, RunStatus, ScheduleSummary, Summary, TargetSummary, serde_plain,
};

/// The summary of the merged run: shard 0's summary as the frame (targets, load,
/// turns), every figure rebuilt from `totals` (the merged interval logs) or summed over
/// `shards`; thresholds evaluated when the scenario's `plan` is given.
pub fn build(shards: &[Shard], totals: &Totals, plan: Option<&Plan>) -> Summary {
    let mut merged = shards[0].summary.clone();
    let began = began_offsets(shards);
    for (index, t) in merged.targets.iter_mut().enumerate() {
        let same: Vec<&TargetSummary> = shards
            .iter()
            .filter_map(|s| s.summary.targets.get(index))
            .collect();
        // The shards ran side by side: the window from the first shard's start to the
        // last shard's end of this target's measured time.
        let measured = same
            .iter()
            .zip(&began)
            .map(|(s, b)| b + s.measured_seconds)
            .fold(0.0, f64::max);
        let rate_limit = t.throttle.as_ref().and_then(|th| th.rate_limit);
        summary::add_totals(
            t,
            index,
            totals,
            Duration::from_secs_f64(measured),
            rate_limit,
        );
        sum_engine_figures(t, &same);
        t.slowest_requests = slowest::merged(same.iter().map(|s| s.slowest_requests.as_slice()));
        t.error = joined(shards, |s| s.summary.targets.get(index)?.error.clone());
    }
    summary::recompute_overheads(&mut merged);
    merged.status = shards
        .iter()
        .map(|s| s.summary.status)
        .max_by_key(|s| severity(*s))
        .unwrap_or(RunStatus::Complete);
    merged.error = joined(shards, |s| s.summary.error.clone());
    merged.run_id = shards[0].record.run_id.clone();
    merged.started_at = first_or_last(shards.iter().map(|s| s.summary.started_at.as_str()), false);
    merged.ended_at = first_or_last(shards.iter().map(|s| s.summary.ended_at.as_str()), true);
    merged.recovery = None;
    merged.shard = None;
    merged.shards = shards.iter().map(row).collect();
    merged.thresholds = match plan {
        Some(plan) if merged.status != RunStatus::Incomplete => {
            crate::thresholds::evaluate(&plan.thresholds, &merged)
        }
        _ => Vec::new(),
    };
    merged
}

/// Seconds each shard began after the first one did (0 where `began_at` is unreadable).
fn began_offsets(shards: &[Shard]) -> Vec<f64> {
    let at: Vec<Option<SystemTime>> = shards
        .iter()
        .map(|s| humantime::parse_rfc3339_weak(&s.record.began_at).ok())
        .collect();
    let first = at.iter().flatten().min().copied();
    at.iter()
        .map(|t| match (t, first) {
            (Some(t), Some(first)) => t.duration_since(first).unwrap_or_default().as_secs_f64(),
            _ => 0.0,
        })
        .collect()
}

/// Adds up what the shards' engines and token caches counted for one target; their
/// latency statistics cannot be merged from summaries, so the merge leaves them out
/// (each shard's own summary keeps them).
fn sum_engine_figures(t: &mut TargetSummary, same: &[&TargetSummary]) {
    t.cancelled = same.iter().map(|s| s.cancelled).sum();
    t.load.schedule = same.iter().filter_map(|s| s.load.schedule.as_ref()).fold(
        None,
        |acc: Option<ScheduleSummary>, s| {
            let mut acc = acc.unwrap_or(ScheduleSummary {
                planned: 0,
                late_starts: 0,
                cap_waits: 0,
                dropped: 0,
                late_by_us: None,
                dispatch_delay_us: None,
            });
            acc.planned += s.planned;
            acc.late_starts += s.late_starts;
            acc.cap_waits += s.cap_waits;
            acc.dropped += s.dropped;
            Some(acc)
        },
    );
    t.auth =
        same.iter()
            .filter_map(|s| s.auth.as_ref())
            .fold(None, |acc: Option<AuthSummary>, a| {
                let mut acc = acc.unwrap_or(AuthSummary {
                    token_fetches: 0,
                    token_fetch_failures: 0,
                    refreshes_after_401: 0,
                    token_fetch_us: None,
                    last_error: None,
                });
                acc.token_fetches += a.token_fetches;
                acc.token_fetch_failures += a.token_fetch_failures;
                acc.refreshes_after_401 += a.refreshes_after_401;
                acc.last_error = acc.last_error.or_else(|| a.last_error.clone());
                Some(acc)
            });
}

/// How bad a status is, for the worst of the shards'.
fn severity(status: RunStatus) -> u8 {
    match status {
        RunStatus::Complete => 0,
        RunStatus::Interrupted => 1,
        RunStatus::Incomplete => 2,
        RunStatus::Failed => 3,
    }
}

/// `shard 1: …; shard 3: …` of the shards that have a `what`; `None` if none has.
fn joined(shards: &[Shard], what: impl Fn(&Shard) -> Option<String>) -> Option<String> {
    let all: Vec<String> = shards
        .iter()
        .filter_map(|s| Some(format!("shard {}: {}", s.record.index, what(s)?)))
        .collect();
    (!all.is_empty()).then(|| all.join("; "))
}

/// The earliest (or with `latest`, the latest) of RFC 3339 timestamps, as written.
fn first_or_last<'a>(times: impl Iterator<Item = &'a str>, latest: bool) -> String {
    let mut all: Vec<(SystemTime, &str)> = times
        .filter_map(|t| Some((humantime::parse_rfc3339_weak(t).ok()?, t)))
        .collect();
    all.sort();
    let pick = if latest { all.last() } else { all.first() };
    pick.map_or(String::new(), |(_, t)| t.to_string())
}

/// The `shards` row of one shard: its record and what its own summary counted.
fn row(s: &Shard) -> MergedShard {
    let ops = s.summary.targets.iter().flat_map(|t| &t.ops);
    let requests: u64 = ops.clone().map(|o| o.requests).sum();
    let ok: u64 = ops
        .map(|o| o.outcomes.get(&OutcomeClass::Ok).copied().unwrap_or(0))
        .sum();
    MergedShard {
        shard: s.record.clone(),
        requests,
        failures: requests - ok,
        clock_flagged: s.record.clock_flagged(),
        status: serde_plain(&s.summary.status),
    }
}
