//! How several targets share a run's load: alternate turns, one after another, or all
//! at once with the load split. Each target's operation sequence and open-loop schedule
//! carry on across its turns, so every path sees the same (op, key, size) sequence at
//! the same planned times, and its turns add up to exactly the scenario's load.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::client::{KeySpace, S3Client};
use crate::engine::schedule::ScheduleCursor;
use crate::engine::{self, EngineReport, EngineSettings};
use crate::plan::sequence::OpSequence;
use crate::plan::{Arrivals, LoadModel, OpenLoop, Plan, Shard, TurnMode};
use crate::progress::Display;
use crate::record::trace::RequestTrace;
use crate::record::{Progress, RecordHandle};

/// A target ready for load.
pub struct Runnable {
    pub index: usize,
    pub client: Arc<S3Client>,
    /// The run's keys as this target uses them (`KeySpace::for_target`).
    pub keys: Arc<KeySpace>,
    pub sequence: Arc<Mutex<OpSequence>>,
    /// Open loop: the target's schedule, carried on across its turns.
    pub schedule: Option<Arc<Mutex<ScheduleCursor>>>,
    /// Accumulated over the target's turns.
    pub report: EngineReport,
}

/// What the turns need from the run.
pub struct Context<'a> {
    pub plan: &'a Plan,
    pub recorder: &'a RecordHandle,
    pub stop: &'a watch::Receiver<bool>,
    pub updates: &'a watch::Receiver<Progress>,
    /// This process's share of a distributed run ([`Shard::WHOLE`]: all of it).
    pub shard: Shard,
    /// Where every request is traced, if asked.
    pub trace: Option<Arc<RequestTrace>>,
    /// Generator threads (`--threads`).
    pub threads: usize,
}

/// Runs the plan's load over `targets` according to its turn mode.
pub async fn run_all(cx: &Context<'_>, targets: &mut [Runnable], display: &mut Display) {
    let limits = &cx.plan.limits;
    let mode = mode_of(cx.plan, targets.len());
    let Ok(load) = load_of(cx.plan, targets.len(), cx.shard) else {
        // `check_shard` refused this shard before any target was opened.
        return;
    };
    let ops = limits
        .ops
        .map(|n| engine::ops_of_shard(&load, limits.warmup, cx.plan.seed, cx.shard, n));
    for t in targets.iter_mut() {
        t.schedule = match &load {
            LoadModel::OpenLoop(open) => Some(engine::new_schedule(
                open,
                limits.warmup,
                limits.duration,
                cx.plan.seed,
                cx.shard,
            )),
            LoadModel::ClosedLoop { .. } | LoadModel::FindCapacity(_) | LoadModel::Journeys(_) => {
                None
            }
        };
    }
    match mode {
        TurnMode::Sequential => {
            for t in targets.iter_mut() {
                if *cx.stop.borrow() {
                    return;
                }
                let settings = settings(cx, t, load.clone(), limits.warmup, limits.duration, ops);
                let label = format!("[{}]", cx.plan.targets[t.index].name);
                turn(cx, t, settings, display, label).await;
            }
        }
        TurnMode::Concurrent => {
            let runs = targets.iter().map(|t| {
                let s = settings(cx, t, load.clone(), limits.warmup, limits.duration, ops);
                engine::run(
                    s,
                    t.client.clone(),
                    t.keys.clone(),
                    t.sequence.clone(),
                    cx.recorder,
                    cx.stop.clone(),
                )
            });
            let label = format!("[{} targets at once]", targets.len());
            display.start(
                label,
                None,
                limits.duration.map(|d| d + limits.warmup),
                cx.updates.clone(),
            );
            let reports = futures_util::future::join_all(runs).await;
            display.stop();
            for (t, r) in targets.iter_mut().zip(reports) {
                t.report.add(&r);
            }
        }
        TurnMode::Alternate { window } => {
            let mut round = 0u32;
            loop {
                let mut any = false;
                for t in targets.iter_mut() {
                    if *cx.stop.borrow() {
                        return;
                    }
                    // An open loop's turns take its schedule window by window (the
                    // schedule ends the last one); a closed loop's run for what is left.
                    let (done_time, length) = match &t.schedule {
                        Some(s) => (s.lock().map_or(true, |mut s| s.is_done()), window),
                        None => {
                            let left = limits
                                .duration
                                .map_or(window, |d| d.saturating_sub(t.report.steady_elapsed));
                            (left.is_zero(), window.min(left))
                        }
                    };
                    let done_ops = ops.is_some_and(|n| t.report.steady_issued >= n);
                    if done_time || done_ops {
                        continue;
                    }
                    any = true;
                    let ops_left = ops.map(|n| n - t.report.steady_issued);
                    let warmup = if round == 0 {
                        limits.warmup
                    } else {
                        Duration::ZERO
                    };
                    let s = settings(cx, t, load.clone(), warmup, Some(length), ops_left);
                    let name = &cx.plan.targets[t.index].name;
                    let label = format!("[{name} turn {}]", round + 1);
                    turn(cx, t, s, display, label).await;
                }
                if !any {
                    return;
                }
                round += 1;
            }
        }
    }
}

/// Runs one turn of one target, shown as `label`, adds it to the target's report and
/// returns the turn's own report.
pub(super) async fn turn(
    cx: &Context<'_>,
    t: &mut Runnable,
    settings: EngineSettings,
    display: &mut Display,
    label: String,
) -> EngineReport {
    display.start(
        label,
        Some(t.index),
        settings.duration.map(|d| d + settings.warmup),
        cx.updates.clone(),
    );
    let report = engine::run(
        settings,
        t.client.clone(),
        t.keys.clone(),
        t.sequence.clone(),
        cx.recorder,
        cx.stop.clone(),
    )
    .await;
    display.stop();
    t.report.add(&report);
    report
}

fn settings(
    cx: &Context<'_>,
    target: &Runnable,
    load: LoadModel,
    warmup: Duration,
    duration: Option<Duration>,
    ops: Option<u64>,
) -> EngineSettings {
    EngineSettings {
        target: target.index,
        load,
        warmup,
        duration,
        ops,
        seed: cx.plan.seed,
        schedule: target.schedule.clone(),
        trace: cx.trace.clone(),
        threads: cx.threads,
    }
}

/// How `n` targets of `plan` share the run.
fn mode_of(plan: &Plan, n: usize) -> TurnMode {
    if n < 2 {
        TurnMode::Sequential
    } else {
        plan.turns.clone()
    }
}

/// The load each of `plan`'s `n` targets gets in `shard`: split between targets that
/// run at once, then `shard`'s part of it (its share of a closed loop's workers; of an
/// open loop's in-flight cap, rounded up, its due times being every `count`-th).
fn load_of(plan: &Plan, n: usize, shard: Shard) -> Result<LoadModel, String> {
    let load = match mode_of(plan, n) {
        TurnMode::Concurrent => split(&plan.load, n),
        _ => plan.load.clone(),
    };
    Ok(match load {
        LoadModel::ClosedLoop {
            concurrency,
            expected_interval,
        } => {
            // Every shard needs a worker, whichever this one is.
            let share = shard.share(concurrency as u64) as usize;
            if concurrency < shard.count as usize {
                return Err(format!(
                    "a closed loop of {concurrency} workers{} cannot be split into {} \
                     shards: each shard needs at least one worker",
                    if n > 1 { " per target" } else { "" },
                    shard.count
                ));
            }
            LoadModel::ClosedLoop {
                concurrency: share,
                expected_interval,
            }
        }
        LoadModel::OpenLoop(o) => LoadModel::OpenLoop(OpenLoop {
            max_in_flight: o.max_in_flight.div_ceil(shard.count as usize),
            arrivals: o.arrivals,
        }),
        LoadModel::FindCapacity(_) if shard.is_sharded() => {
            return Err(
                "find-capacity runs in one process: each step's verdict needs all of its \
                 requests, so it cannot be split into shards"
                    .into(),
            );
        }
        search @ LoadModel::FindCapacity(_) => search,
        LoadModel::Journeys(_) if shard.is_sharded() => {
            return Err(
                "journeys run in one process (goose drives the users), so they cannot be \
                 split into shards"
                    .into(),
            );
        }
        journeys @ LoadModel::Journeys(_) => journeys,
    })
}

/// Whether `plan`'s load can be split into `shard`'s count of shards (told before any
/// target is opened).
pub fn check_shard(plan: &Plan, shard: Shard) -> Result<(), String> {
    load_of(plan, plan.targets.len(), shard).map(|_| ())
}

/// The share of `load` each of `n` targets running at once gets.
fn split(load: &LoadModel, n: usize) -> LoadModel {
    let n = n.max(1);
    let rate = |r: f64| r / n as f64;
    match load {
        LoadModel::ClosedLoop {
            concurrency,
            expected_interval,
        } => LoadModel::ClosedLoop {
            concurrency: (concurrency / n).max(1),
            expected_interval: *expected_interval,
        },
        LoadModel::FindCapacity(_) | LoadModel::Journeys(_) => load.clone(),
        LoadModel::OpenLoop(o) => LoadModel::OpenLoop(OpenLoop {
            max_in_flight: (o.max_in_flight / n).max(1),
            arrivals: match &o.arrivals {
                Arrivals::ConstantArrivalRate { rate: r } => {
                    Arrivals::ConstantArrivalRate { rate: rate(*r) }
                }
                Arrivals::PoissonArrivalRate { rate: r } => {
                    Arrivals::PoissonArrivalRate { rate: rate(*r) }
                }
                Arrivals::RampingArrivalRate { start_rate, stages } => {
                    Arrivals::RampingArrivalRate {
                        start_rate: rate(*start_rate),
                        stages: stages
                            .iter()
                            .map(|s| crate::plan::Stage {
                                target: rate(s.target),
                                duration: s.duration,
                            })
                            .collect(),
                    }
                }
            },
        }),
    }
}
