//! Drives a capacity search (`executor = "find-capacity"`): one target at a time, each
//! step an open-loop constant-rate turn (warm-up, then `step_duration`), judged by
//! `plan::capacity::Search`, until every target's knee is found or the run is stopped.
//!
//! Every request goes to the run's recorder (its histograms and interval logs hold the
//! whole search) and, through a tee, to a recorder of the step's own, whose totals give
//! the step's exact stats.

use std::time::Instant;

use super::turns::{self, Context, Runnable};
use crate::engine::EngineSettings;
use crate::plan::capacity::{CapacitySearch, KneeReason, Search};
use crate::plan::{Arrivals, LoadModel, OpenLoop};
use crate::progress::Display;
use crate::record::{Interval, IntervalSink, Recorder};
use crate::results::capacity::{self, CapacityStep, CapacitySummary, TargetCapacity};

/// A step's recorder keeps totals only; the run's recorder writes the interval logs.
struct Discard;

impl IntervalSink for Discard {
    fn write_interval(&mut self, _: &Interval) -> std::io::Result<()> {
        Ok(())
    }
}

/// Searches each of `targets` in turn; the steps and knees found (`complete: false` if
/// the run was stopped first).
pub async fn run_all(
    cx: &Context<'_>,
    search: &CapacitySearch,
    targets: &mut [Runnable],
    display: &mut Display,
) -> CapacitySummary {
    let mut summary = CapacitySummary {
        complete: true,
        slo_p99_ms: search.slo_p99.as_secs_f64() * 1e3,
        max_rate: search.max_rate,
        targets: Vec::new(),
    };
    for t in targets.iter_mut() {
        if *cx.stop.borrow() {
            summary.complete = false;
            break;
        }
        let found = search_target(cx, search, t, display).await;
        let name = &cx.plan.targets[t.index].name;
        display.line(&describe_knee(name, &found));
        summary.complete &= found.knee.reason != KneeReason::Interrupted;
        summary.targets.push(found);
    }
    summary
}

/// One target's search: steps until the search ends or the run is stopped.
async fn search_target(
    cx: &Context<'_>,
    config: &CapacitySearch,
    t: &mut Runnable,
    display: &mut Display,
) -> TargetCapacity {
    let name = cx.plan.targets[t.index].name.clone();
    let mut search = Search::new(config);
    let mut steps = Vec::new();
    while let Some(rate) = search.next_rate() {
        let (recorder, handle) = Recorder::new(Instant::now(), Box::new(Discard));
        let recording = tokio::spawn(recorder.run());
        let teed = cx.recorder.tee(&handle);
        drop(handle);
        let step_cx = Context {
            plan: cx.plan,
            recorder: &teed,
            stop: cx.stop,
            updates: cx.updates,
            shard: cx.shard,
            trace: cx.trace.clone(),
            threads: cx.threads,
        };
        let settings = EngineSettings {
            target: t.index,
            load: LoadModel::OpenLoop(OpenLoop {
                arrivals: Arrivals::ConstantArrivalRate { rate },
                max_in_flight: config.max_in_flight,
            }),
            warmup: cx.plan.limits.warmup,
            duration: Some(config.step_duration),
            ops: None,
            seed: cx.plan.seed,
            schedule: None,
            trace: cx.trace.clone(),
            threads: cx.threads,
        };
        let label = format!("[{name} step {} at {rate:.1}/s]", steps.len() + 1);
        let report = turns::turn(&step_cx, t, settings, display, label).await;
        drop(teed);
        let Ok(totals) = recording.await else { break };
        if *cx.stop.borrow() {
            // A step cut short measured part of its load: it is not judged.
            break;
        }
        let stats = capacity::step_stats(rate, t.index, &totals, report.steady_elapsed);
        let verdict = search.record(&stats);
        display.line(&format!(
            "{name}: offered {:.1}/s, accepted {:.1}/s, p50 {:.1} ms, p99 {:.1} ms, errors {:.1}%, throttled {:.1}%: {}",
            stats.offered_rate,
            stats.accepted_rate,
            stats.p50_us as f64 / 1e3,
            stats.p99_us as f64 / 1e3,
            stats.error_ratio * 100.0,
            stats.throttle_ratio * 100.0,
            verdict.name(),
        ));
        steps.push(CapacityStep { stats, verdict });
    }
    TargetCapacity {
        target: name,
        steps,
        knee: search.knee(),
    }
}

/// `rgw: knee at 190.0/s (next: saturated)`, or that no step was good.
fn describe_knee(name: &str, found: &TargetCapacity) -> String {
    let reason = found.knee.reason.name();
    match found.knee.rate {
        Some(rate) => format!("{name}: knee at {rate:.1}/s (next: {reason})"),
        None => format!("{name}: no good step ({reason})"),
    }
}
