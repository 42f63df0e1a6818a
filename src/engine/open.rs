//! Open loop: requests are due at planned times whatever the server does (the wrk2
//! model). A dispatcher thread sleeps precisely until each due time and hands the
//! request to an idle worker; latency is measured from the due time. When
//! `max_in_flight` requests are outstanding, the next one waits for a slot (a cap wait),
//! and it and every request behind it start late: a request handed out more than
//! `LATE_AFTER` after its due time is counted as a late start, with how late, and its
//! latency still runs from its due time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use super::schedule::Schedule;
use super::{EngineReport, EngineSettings, Exec, ScheduleReport, stopped};
use crate::plan::OpenLoop;
use crate::plan::sequence::{OpSequence, PlannedOp};
use crate::record::{Phase, micros, new_histogram};
use crate::target::Connection;

/// A request handed out later than this after its due time is a late start.
const LATE_AFTER: Duration = Duration::from_millis(1);

/// Longest single sleep of the dispatcher, so it notices a stop promptly.
const MAX_NAP: Duration = Duration::from_millis(50);

/// A request handed from the dispatcher to a worker, holding its in-flight slot.
struct Job {
    op: PlannedOp,
    due: Instant,
    phase: Phase,
    _slot: OwnedSemaphorePermit,
}

/// Runs the open loop until the schedule ends, the op count is reached or `stop`.
pub async fn run(
    settings: &EngineSettings,
    open: &OpenLoop,
    exec: Arc<Exec>,
    sequence: Arc<Mutex<OpSequence>>,
    stop: watch::Receiver<bool>,
) -> EngineReport {
    let start = Instant::now();
    let steady_start = start + settings.warmup;
    let (tx, rx) = async_channel::bounded::<Job>(open.max_in_flight);
    let cancelled = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for id in 0..open.max_in_flight {
        workers.spawn(worker(
            id,
            rx.clone(),
            exec.clone(),
            stop.clone(),
            cancelled.clone(),
        ));
    }
    drop(rx);
    let dispatcher = Dispatcher {
        schedule: Schedule::new(
            &open.arrivals,
            settings.warmup.as_secs_f64(),
            settings.duration.map(|d| d.as_secs_f64()),
            settings.seed,
        ),
        sequence,
        start,
        steady_start,
        ops_limit: settings.ops,
        slots: Arc::new(Semaphore::new(open.max_in_flight)),
        tx,
        stop: stop.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    let dispatched = tokio::task::spawn_blocking(move || dispatcher.run())
        .await
        .ok();
    while workers.join_next().await.is_some() {}
    let (schedule, steady_issued) = dispatched.unzip();
    EngineReport {
        steady_elapsed: Instant::now().saturating_duration_since(steady_start),
        steady_issued: steady_issued.unwrap_or(0),
        cancelled: cancelled.load(Ordering::Relaxed),
        schedule,
    }
}

async fn worker(
    id: usize,
    jobs: async_channel::Receiver<Job>,
    exec: Arc<Exec>,
    mut stop: watch::Receiver<bool>,
    cancelled: Arc<AtomicU64>,
) {
    let mut conn = Connection::default();
    while let Ok(job) = jobs.recv().await {
        if !exec
            .execute(id, &mut conn, &job.op, job.due, job.phase, &mut stop)
            .await
        {
            cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Hands out requests at their due times, on its own thread.
struct Dispatcher {
    schedule: Schedule,
    sequence: Arc<Mutex<OpSequence>>,
    start: Instant,
    steady_start: Instant,
    ops_limit: Option<u64>,
    slots: Arc<Semaphore>,
    tx: async_channel::Sender<Job>,
    stop: watch::Receiver<bool>,
    runtime: tokio::runtime::Handle,
}

impl Dispatcher {
    /// Dispatches until the end; returns the schedule report and steady requests sent.
    fn run(mut self) -> (ScheduleReport, u64) {
        precise_timers();
        let mut report = ScheduleReport {
            planned: 0,
            late_starts: 0,
            cap_waits: 0,
            late_by: new_histogram(),
            dispatch_delay: new_histogram(),
        };
        let mut steady_sent = 0u64;
        while let Some(offset) = self.schedule.next() {
            let due = self.start + Duration::from_secs_f64(offset);
            if !self.sleep_until(due) {
                break;
            }
            let phase = if due < self.steady_start {
                Phase::Warmup
            } else {
                Phase::Steady
            };
            if phase == Phase::Steady {
                if self.ops_limit.is_some_and(|limit| steady_sent >= limit) {
                    break;
                }
                steady_sent += 1;
            }
            let (slot, waited) = match self.slots.clone().try_acquire_owned() {
                Ok(slot) => (slot, false),
                Err(_) => match self.wait_for_slot() {
                    Some(slot) => (slot, true),
                    None => break,
                },
            };
            let behind = Instant::now().saturating_duration_since(due);
            let delay = micros(behind);
            let _ = report.dispatch_delay.record(delay);
            report.cap_waits += u64::from(waited);
            if behind > LATE_AFTER {
                report.late_starts += 1;
                let _ = report.late_by.record(delay);
            }
            report.planned += 1;
            let Ok(op) = self.sequence.lock().map(|mut s| s.next_op()) else {
                break;
            };
            let job = Job {
                op,
                due,
                phase,
                _slot: slot,
            };
            if self.tx.send_blocking(job).is_err() {
                break;
            }
        }
        (report, steady_sent)
    }

    /// Sleeps until `due`; false if the run was stopped meanwhile.
    fn sleep_until(&self, due: Instant) -> bool {
        loop {
            if *self.stop.borrow() {
                return false;
            }
            let now = Instant::now();
            if now >= due {
                return true;
            }
            std::thread::sleep((due - now).min(MAX_NAP));
        }
    }

    /// Waits for an in-flight slot to free up; `None` if the run is stopped first.
    fn wait_for_slot(&self) -> Option<OwnedSemaphorePermit> {
        let slots = self.slots.clone();
        let mut stop = self.stop.clone();
        self.runtime.block_on(async move {
            tokio::select! {
                slot = slots.acquire_owned() => slot.ok(),
                _ = stopped(&mut stop) => None,
            }
        })
    }
}

/// Asks the kernel to wake this thread as close to its deadlines as it can (Linux's
/// default 50 µs timer slack would otherwise show up in every open-loop latency).
fn precise_timers() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only affects this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}
