//! Open loop: requests are due at planned times whatever the server does (the wrk2
//! model). A dispatcher thread sleeps precisely until each due time and hands the
//! request to an idle worker; latency is measured from the due time. When
//! `max_in_flight` requests are outstanding, the next one waits for a slot (a cap wait),
//! and it and every request behind it start late: a request handed out more than
//! `LATE_AFTER` after its due time is counted as a late start, with how late, and its
//! latency still runs from its due time.
//!
//! A run (or an alternating turn) takes the due times of its window from the target's
//! [`ScheduleCursor`] and lasts exactly that window: it ends on time even when the cap
//! holds requests back, and the requests that were due but could not be handed out by
//! then are counted as dropped (k6's `dropped_iterations`), never sent late after the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::schedule::ScheduleCursor;
use super::threads::run_workers;
use super::{Due, EngineReport, EngineSettings, Exec, ScheduleReport, stopped};
use crate::plan::OpenLoop;
use crate::plan::sequence::{OpSequence, PlannedOp};
use crate::record::{Phase, micros, new_histogram};

/// A request handed out later than this after its due time is a late start.
const LATE_AFTER: Duration = Duration::from_millis(1);

/// Longest single sleep of the dispatcher, so it notices a stop promptly.
const MAX_NAP: Duration = Duration::from_millis(50);

/// A request handed from the dispatcher to a worker, holding its in-flight slot.
struct Job {
    op: PlannedOp,
    due: Due,
    _slot: OwnedSemaphorePermit,
}

/// Runs the open loop over the next `warmup + duration` of `schedule` (to its end if the
/// duration is unbounded), until the op count is reached or `stop`.
pub async fn run(
    settings: &EngineSettings,
    open: &OpenLoop,
    exec: Arc<Exec>,
    sequence: Arc<Mutex<OpSequence>>,
    schedule: Arc<Mutex<ScheduleCursor>>,
    stop: watch::Receiver<bool>,
) -> EngineReport {
    let start = Instant::now();
    let steady_start = start + settings.warmup;
    let length = settings.duration.map(|d| settings.warmup + d);
    let (tx, rx) = async_channel::bounded::<Job>(open.max_in_flight);
    let cancelled = Arc::new(AtomicU64::new(0));
    let workers = {
        let (stop, cancelled) = (stop.clone(), cancelled.clone());
        tokio::spawn(run_workers(
            settings.threads,
            open.max_in_flight,
            move |id| {
                worker(
                    id,
                    rx.clone(),
                    exec.clone(),
                    stop.clone(),
                    cancelled.clone(),
                )
            },
        ))
    };
    let dispatcher = Dispatcher {
        schedule,
        sequence,
        start,
        steady_start,
        end: length.map(|l| start + l),
        length: length.map_or(f64::INFINITY, |l| l.as_secs_f64()),
        ops_limit: settings.ops,
        slots: Arc::new(Semaphore::new(open.max_in_flight)),
        tx,
        stop: stop.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    let dispatched = tokio::task::spawn_blocking(move || dispatcher.run())
        .await
        .ok();
    let _ = workers.await;
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
    let mut conn = exec.client.connection(id);
    while let Ok(job) = jobs.recv().await {
        if !exec
            .execute(id, &mut conn, &job.op, job.due, &mut stop)
            .await
        {
            cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Hands out requests at their due times, on its own thread.
struct Dispatcher {
    schedule: Arc<Mutex<ScheduleCursor>>,
    sequence: Arc<Mutex<OpSequence>>,
    /// When this run's first offset (the cursor's position) is due.
    start: Instant,
    steady_start: Instant,
    /// When this run ends (`None`: when the op count is reached).
    end: Option<Instant>,
    /// Length of this run's window of offsets, seconds.
    length: f64,
    ops_limit: Option<u64>,
    slots: Arc<Semaphore>,
    tx: async_channel::Sender<Job>,
    stop: watch::Receiver<bool>,
    runtime: tokio::runtime::Handle,
}

impl Dispatcher {
    /// Dispatches until the end; returns the schedule report and steady requests sent.
    fn run(self) -> (ScheduleReport, u64) {
        precise_timers();
        let mut report = ScheduleReport {
            planned: 0,
            late_starts: 0,
            cap_waits: 0,
            dropped: 0,
            late_by: new_histogram(),
            dispatch_delay: new_histogram(),
        };
        let mut steady_sent = 0u64;
        // A poisoned cursor only means another thread panicked mid-turn; its state holds.
        let mut schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        let from = schedule.position();
        let window_end = from + self.length;
        let mut ended = false;
        while let Some(offset) = schedule.next_before(window_end) {
            let due = self.start + Duration::from_secs_f64(offset - from);
            if !self.sleep_until(due) {
                return (report, steady_sent);
            }
            let phase = if due < self.steady_start {
                Phase::Warmup
            } else {
                Phase::Steady
            };
            if phase == Phase::Steady && self.ops_limit.is_some_and(|limit| steady_sent >= limit) {
                return (report, steady_sent);
            }
            let (slot, waited) = match self.slots.clone().try_acquire_owned() {
                Ok(slot) => (slot, false),
                Err(_) => match self.wait_for_slot() {
                    SlotWait::Got(slot) => (slot, true),
                    SlotWait::Stopped => return (report, steady_sent),
                    SlotWait::RunEnded => {
                        report.cap_waits += 1;
                        report.dropped += 1;
                        ended = true;
                        break;
                    }
                },
            };
            if phase == Phase::Steady {
                steady_sent += 1;
            }
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
                return (report, steady_sent);
            };
            let job = Job {
                op,
                due: Due {
                    at: due,
                    phase,
                    offset: Some(offset),
                },
                _slot: slot,
            };
            if self.tx.send_blocking(job).is_err() {
                return (report, steady_sent);
            }
        }
        if ended {
            // The rest of the window came due while the cap was full: never sent.
            while schedule.next_before(window_end).is_some() {
                report.dropped += 1;
            }
        } else if let Some(end) = self.end {
            // A turn lasts its whole window, so turns of several targets keep time.
            if !self.sleep_until(end) {
                return (report, steady_sent);
            }
        }
        schedule.end_turn(window_end);
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

    /// Waits for an in-flight slot to free up, until the run is stopped or ends.
    fn wait_for_slot(&self) -> SlotWait {
        let slots = self.slots.clone();
        let mut stop = self.stop.clone();
        let end = self.end.map(|e| e + LATE_AFTER);
        self.runtime.block_on(async move {
            let run_ended = async {
                match end {
                    Some(end) => tokio::time::sleep_until(end.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                slot = slots.acquire_owned() => slot.map_or(SlotWait::Stopped, SlotWait::Got),
                _ = stopped(&mut stop) => SlotWait::Stopped,
                _ = run_ended => SlotWait::RunEnded,
            }
        })
    }
}

/// How a wait for an in-flight slot ended.
enum SlotWait {
    Got(OwnedSemaphorePermit),
    Stopped,
    /// The run's end came first: what is still due is dropped.
    RunEnded,
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
