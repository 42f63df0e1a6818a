//! The engine: workers that take operations from the seeded sequence, send them and
//! record what happened.
//!
//! Closed loop: `concurrency` workers, each sending its next request when the previous
//! one ends, so a request is due the moment it is sent. Owns phases (warm-up, steady),
//! stop conditions and cancellation; knows nothing of HTTP beyond the target client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::plan::sequence::OpSequence;
use crate::record::{Phase, RecordHandle, Sample, SeriesKey, WorkerRecorder};
use crate::target::{KeySpace, S3Client};

/// What one engine run needs besides the client.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Index of the target in the plan (recorded with every sample).
    pub target: usize,
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Option<Duration>,
    pub ops: Option<u64>,
}

/// How an engine run went.
#[derive(Debug, Clone, Default)]
pub struct EngineReport {
    /// Time from the end of the warm-up until the last request finished.
    pub steady_elapsed: Duration,
    /// Requests abandoned in flight because the run was interrupted.
    pub cancelled: u64,
}

/// Shared, read-only state of one engine run.
struct Shared {
    settings: EngineSettings,
    client: Arc<S3Client>,
    keys: Arc<KeySpace>,
    sequence: Mutex<OpSequence>,
    steady_start: Instant,
    end: Option<Instant>,
    steady_issued: AtomicU64,
    cancelled: AtomicU64,
}

/// Runs a closed loop until the duration or op count is reached, or `stop` turns true.
pub async fn run_closed_loop(
    settings: EngineSettings,
    client: Arc<S3Client>,
    keys: Arc<KeySpace>,
    sequence: OpSequence,
    recorder: &RecordHandle,
    stop: watch::Receiver<bool>,
) -> EngineReport {
    let start = Instant::now();
    let steady_start = start + settings.warmup;
    let shared = Arc::new(Shared {
        end: settings.duration.map(|d| steady_start + d),
        settings,
        client,
        keys,
        sequence: Mutex::new(sequence),
        steady_start,
        steady_issued: AtomicU64::new(0),
        cancelled: AtomicU64::new(0),
    });
    let mut workers = JoinSet::new();
    for _ in 0..shared.settings.concurrency {
        workers.spawn(worker(shared.clone(), recorder.worker(), stop.clone()));
    }
    while workers.join_next().await.is_some() {}
    let finished = Instant::now();
    EngineReport {
        steady_elapsed: finished.saturating_duration_since(steady_start),
        cancelled: shared.cancelled.load(Ordering::Relaxed),
    }
}

async fn worker(shared: Arc<Shared>, mut rec: WorkerRecorder, mut stop: watch::Receiver<bool>) {
    let s = &shared.settings;
    loop {
        if *stop.borrow() {
            return;
        }
        let due = Instant::now();
        if shared.end.is_some_and(|end| due >= end) {
            return;
        }
        let phase = if due < shared.steady_start {
            Phase::Warmup
        } else {
            Phase::Steady
        };
        if phase == Phase::Steady {
            let n = shared.steady_issued.fetch_add(1, Ordering::Relaxed);
            if s.ops.is_some_and(|limit| n >= limit) {
                shared.steady_issued.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        }
        let op = match shared.sequence.lock() {
            Ok(mut seq) => seq.next_op(),
            Err(_) => return,
        };
        let call = shared.keys.call(&op);
        let resp = tokio::select! {
            r = shared.client.send(&call) => r,
            _ = stopped(&mut stop) => {
                shared.cancelled.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let completed_at = Instant::now();
        rec.record(&Sample {
            key: SeriesKey {
                target: s.target,
                op: op.op,
                class: resp.class,
                phase,
            },
            completed_at,
            latency: completed_at - due,
            ttfb: resp.headers_at.map(|t| t.saturating_duration_since(due)),
            bytes_up: resp.bytes_up,
            bytes_down: resp.bytes_down,
            status: resp.status,
            transport: resp.transport,
        });
    }
}

/// Resolves once the stop flag is true; never if its sender is gone without stopping.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}
