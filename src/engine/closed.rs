//! Closed loop: a fixed number of workers, each sending its next request when the last
//! one ends. A request is due when it is sent, so a stalled server lowers the rate
//! instead of lengthening the tail (coordinated omission); `expected_interval` adds a
//! corrected histogram, labelled as such.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use super::threads::run_workers;
use super::{Due, EngineReport, EngineSettings, Exec};
use crate::plan::sequence::OpSequence;
use crate::record::Phase;

/// State shared by the workers of one closed-loop run.
struct Loop {
    exec: Arc<Exec>,
    sequence: Arc<Mutex<OpSequence>>,
    steady_start: Instant,
    end: Option<Instant>,
    ops_limit: Option<u64>,
    steady_issued: AtomicU64,
    cancelled: AtomicU64,
}

/// Runs `concurrency` workers until the run's end.
pub async fn run(
    settings: &EngineSettings,
    concurrency: usize,
    exec: Arc<Exec>,
    sequence: Arc<Mutex<OpSequence>>,
    stop: watch::Receiver<bool>,
) -> EngineReport {
    let steady_start = Instant::now() + settings.warmup;
    let state = Arc::new(Loop {
        exec,
        sequence,
        steady_start,
        end: settings.duration.map(|d| steady_start + d),
        ops_limit: settings.ops,
        steady_issued: AtomicU64::new(0),
        cancelled: AtomicU64::new(0),
    });
    let workers = state.clone();
    run_workers(settings.threads, concurrency, move |id| {
        worker(id, workers.clone(), stop.clone())
    })
    .await;
    EngineReport {
        steady_elapsed: Instant::now().saturating_duration_since(steady_start),
        steady_issued: state
            .steady_issued
            .load(Ordering::Relaxed)
            .min(settings.ops.unwrap_or(u64::MAX)),
        cancelled: state.cancelled.load(Ordering::Relaxed),
        schedule: None,
    }
}

async fn worker(id: usize, state: Arc<Loop>, mut stop: watch::Receiver<bool>) {
    let mut conn = state.exec.client.connection(id);
    loop {
        if *stop.borrow() {
            return;
        }
        let due = Instant::now();
        if state.end.is_some_and(|end| due >= end) {
            return;
        }
        let phase = if due < state.steady_start {
            Phase::Warmup
        } else {
            Phase::Steady
        };
        if phase == Phase::Steady {
            let n = state.steady_issued.fetch_add(1, Ordering::Relaxed);
            if state.ops_limit.is_some_and(|limit| n >= limit) {
                return;
            }
        }
        let op = match state.sequence.lock() {
            Ok(mut seq) => seq.next_op(),
            Err(_) => return,
        };
        if !state
            .exec
            .execute(
                id,
                &mut conn,
                &op,
                Due {
                    at: due,
                    phase,
                    offset: None,
                },
                &mut stop,
            )
            .await
        {
            state.cancelled.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}
