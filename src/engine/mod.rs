//! The engine: takes operations from the seeded sequence, sends them when they are due
//! and records what happened.
//!
//! Two load models share one request path ([`Exec::execute`]):
//! - closed loop (`closed`): `concurrency` workers, each sending its next request when
//!   the previous one ends, so a request is due the moment it is sent;
//! - open loop (`open`): requests are due at planned times (`schedule`) whatever the
//!   server does; latency runs from the due time, so a stall shows in the tail.
//!
//! Owns phases, stop conditions and cancellation; knows nothing of HTTP beyond the
//! target client, and nothing of files.

mod closed;
pub mod journeys;
mod multipart;
mod open;
pub mod schedule;
pub mod threads;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::watch;

use crate::client::s3::Response;
use crate::client::{Connection, KeySpace, S3Call, S3Client};
use crate::plan::clients::identity_of_worker;
use crate::plan::sequence::{OpSequence, PlannedOp};
use crate::plan::{LoadModel, OpKind, OpenLoop, Shard};
use crate::record::slowest::{RequestIds, SlowDetails};
use crate::record::trace::{RequestTrace, TraceLine};
use crate::record::{Lanes, Phase, RecordHandle, Sample, SeriesKey, micros};
use schedule::{Schedule, ScheduleCursor};

/// What one engine run needs besides the client.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Index of the target in the plan (recorded with every sample).
    pub target: usize,
    pub load: LoadModel,
    pub warmup: Duration,
    pub duration: Option<Duration>,
    pub ops: Option<u64>,
    /// Seeds the Poisson arrival gaps.
    pub seed: u64,
    /// Open loop: the target's schedule, carried on from its earlier turns (`None`: this
    /// run starts a schedule of its own).
    pub schedule: Option<Arc<Mutex<ScheduleCursor>>>,
    /// Where every request is traced, if asked (`--trace-requests`).
    pub trace: Option<Arc<RequestTrace>>,
    /// Generator threads the workers are spread over ([`threads::run_workers`]; 0: none
    /// of their own, the caller's runtime).
    pub threads: usize,
}

/// A target's open-loop schedule over `warmup` + `duration` of `open` (`shard`'s part of
/// it), to be carried through its turns in [`EngineSettings::schedule`].
pub fn new_schedule(
    open: &OpenLoop,
    warmup: Duration,
    duration: Option<Duration>,
    seed: u64,
    shard: Shard,
) -> Arc<Mutex<ScheduleCursor>> {
    let schedule = Schedule::new(
        &open.arrivals,
        warmup.as_secs_f64(),
        duration.map(|d| d.as_secs_f64()),
        seed,
    )
    .for_shard(shard);
    Arc::new(Mutex::new(ScheduleCursor::new(schedule)))
}

/// `shard`'s part of a run of `ops` measured requests: of an open loop, the due times it
/// owns among the first `ops` after the warm-up (so the shards send exactly the requests
/// one process would); of a closed loop, whose warm-up is timed, an even share.
pub fn ops_of_shard(load: &LoadModel, warmup: Duration, seed: u64, shard: Shard, ops: u64) -> u64 {
    match load {
        LoadModel::OpenLoop(open) => {
            let first = Schedule::due_in_warmup(&open.arrivals, warmup.as_secs_f64(), seed);
            shard.share_of_range(first, first + ops)
        }
        LoadModel::ClosedLoop { .. } | LoadModel::FindCapacity(_) | LoadModel::Journeys(_) => {
            shard.share(ops)
        }
    }
}

/// How an engine run went.
#[derive(Debug, Clone, Default)]
pub struct EngineReport {
    /// Time from the end of the warm-up until the last request finished.
    pub steady_elapsed: Duration,
    /// Requests sent in the steady phase.
    pub steady_issued: u64,
    /// Requests abandoned in flight because the run was interrupted.
    pub cancelled: u64,
    /// Open loop only: how requests kept to their schedule.
    pub schedule: Option<ScheduleReport>,
}

impl EngineReport {
    /// Adds a later turn of the same target to this report.
    pub fn add(&mut self, other: &EngineReport) {
        self.steady_elapsed += other.steady_elapsed;
        self.steady_issued += other.steady_issued;
        self.cancelled += other.cancelled;
        match (&mut self.schedule, &other.schedule) {
            (Some(a), Some(b)) => {
                a.planned += b.planned;
                a.late_starts += b.late_starts;
                a.cap_waits += b.cap_waits;
                a.dropped += b.dropped;
                let _ = a.late_by.add(&b.late_by);
                let _ = a.dispatch_delay.add(&b.dispatch_delay);
            }
            (None, Some(b)) => self.schedule = Some(b.clone()),
            _ => {}
        }
    }
}

/// Open-loop schedule keeping.
#[derive(Debug, Clone)]
pub struct ScheduleReport {
    /// Requests that came due (and were sent).
    pub planned: u64,
    /// Requests handed out more than 1 ms after they were due (behind a full in-flight
    /// cap, or a generator that could not keep up).
    pub late_starts: u64,
    /// Times the dispatcher found `max_in_flight` requests outstanding and had to wait.
    pub cap_waits: u64,
    /// Requests due before the end that were never sent: the in-flight cap was still
    /// full when the run (or turn) ended.
    pub dropped: u64,
    /// How late those requests started, µs.
    pub late_by: Histogram<u64>,
    /// How far behind its due time the dispatcher handed out every request, µs
    /// (the generator's own timing error, including late starts).
    pub dispatch_delay: Histogram<u64>,
}

/// When a request is due, and in which phase.
#[derive(Debug, Clone, Copy)]
struct Due {
    at: Instant,
    phase: Phase,
    /// Open loop: its offset in the target's schedule, seconds.
    offset: Option<f64>,
}

/// The request path shared by both load models.
struct Exec {
    target: usize,
    client: Arc<S3Client>,
    keys: Arc<KeySpace>,
    lanes: Lanes,
    /// Closed loop with correction: the expected interval between requests.
    expected_interval: Option<Duration>,
    trace: Option<Arc<RequestTrace>>,
    /// The client spreads workers over several identities: samples say whose they are.
    by_client: bool,
    /// Each worker's extra connections for the parts of multipart uploads.
    parts: multipart::PartConnections,
}

/// When a request was due, sent and answered.
#[derive(Debug, Clone, Copy)]
struct SampleTimes {
    due: Instant,
    sent: Instant,
    completed_at: Instant,
    /// Closed loop with correction: the expected interval between requests.
    expected_interval: Option<Duration>,
}

impl Exec {
    /// The sample of one answered (or failed) request of worker `worker`.
    fn response_sample(
        &self,
        worker: usize,
        key: SeriesKey,
        resp: &Response,
        t: SampleTimes,
    ) -> Sample {
        Sample {
            key,
            completed_at: t.completed_at,
            latency: t.completed_at - t.due,
            service: t.completed_at - t.sent,
            expected_interval: t.expected_interval,
            ttfb: resp.headers_at.map(|h| h.saturating_duration_since(t.due)),
            connect: resp.opened.map(|o| o.connect),
            tls: resp.opened.and_then(|o| o.tls),
            bytes_up: resp.bytes_up,
            bytes_down: resp.bytes_down,
            status: resp.status,
            transport: resp.transport,
            retry_after: resp.retry_after,
            server_timing: resp.server_timing,
            client: self.client_of(worker),
        }
    }

    /// Which of the target's identities worker `worker` sends as, when samples say so.
    fn client_of(&self, worker: usize) -> Option<u16> {
        self.by_client
            .then(|| identity_of_worker(worker, self.client.identities()) as u16)
    }

    /// Sends `op` (when it is `due`) on the worker's connection and records the
    /// outcome; false if `stop` cut it short.
    async fn execute(
        &self,
        worker: usize,
        conn: &mut Connection,
        op: &PlannedOp,
        due: Due,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        if op.op == OpKind::Multipart {
            return self.upload(worker, conn, op, due, stop).await;
        }
        let call = self.keys.call_in(op, conn.lend_path());
        let sent = self.send(worker, conn, op, &call, due, stop, false).await;
        conn.return_path(call.path_and_query);
        sent.is_some()
    }

    /// Sends `call`, which carries out `op`, and records the outcome; the answer
    /// (with its whole body kept if `keep_body`), `None` if `stop` cut it short.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        worker: usize,
        conn: &mut Connection,
        op: &PlannedOp,
        call: &S3Call,
        due: Due,
        stop: &mut watch::Receiver<bool>,
        keep_body: bool,
    ) -> Option<Response> {
        let Due {
            at: due,
            phase,
            offset: due_offset,
        } = due;
        let sent = Instant::now();
        let resp = tokio::select! {
            r = self.client.send_keeping(conn, call, keep_body) => r,
            _ = stopped(stop) => return None,
        };
        let completed_at = Instant::now();
        let key = SeriesKey {
            target: self.target,
            op: op.op,
            class: resp.class,
            cache: resp.cache,
            phase,
        };
        let times = SampleTimes {
            due,
            sent,
            completed_at,
            expected_interval: self.expected_interval,
        };
        self.lanes
            .record(worker, &self.response_sample(worker, key, &resp, times));
        self.lanes
            .keep_if_slow(worker, &key, due, completed_at - due, || {
                slow_details(&self.client, call, &resp)
            });
        if let Some(trace) = &self.trace {
            trace.write(&TraceLine {
                target: self.target,
                index: op.index,
                op: op.op,
                path: &call.path_and_query,
                size: op.size,
                due_offset_us: due_offset.map(|s| (s * 1e6).round() as u64),
                latency_us: micros(completed_at - due),
                class: resp.class,
            });
        }
        Some(resp)
    }
}

/// What the slowest-requests table shows of a request besides its timing.
fn slow_details(client: &S3Client, call: &S3Call, resp: &Response) -> SlowDetails {
    let path = &call.path_and_query;
    SlowDetails {
        path: path
            .split_once('?')
            .map_or(path.as_str(), |(p, _)| p)
            .to_string(),
        status: resp.status,
        ids: RequestIds {
            client: client.request_id(call),
            ..resp.ids.clone()
        },
    }
}

/// Runs the load of `settings` against `client` until its duration or op count is
/// reached, or `stop` turns true.
pub async fn run(
    settings: EngineSettings,
    client: Arc<S3Client>,
    keys: Arc<KeySpace>,
    sequence: Arc<Mutex<OpSequence>>,
    recorder: &RecordHandle,
    stop: watch::Receiver<bool>,
) -> EngineReport {
    let expected_interval = match &settings.load {
        LoadModel::ClosedLoop {
            expected_interval, ..
        } => *expected_interval,
        LoadModel::OpenLoop(_) | LoadModel::FindCapacity(_) | LoadModel::Journeys(_) => None,
    };
    let exec = Arc::new(Exec {
        by_client: client.identities() > 1,
        target: settings.target,
        client,
        keys,
        lanes: recorder.lanes(),
        expected_interval,
        trace: settings.trace.clone(),
        parts: Default::default(),
    });
    match settings.load.clone() {
        LoadModel::ClosedLoop { concurrency, .. } => {
            closed::run(&settings, concurrency, exec, sequence, stop).await
        }
        LoadModel::OpenLoop(open) => {
            let schedule = settings.schedule.clone().unwrap_or_else(|| {
                new_schedule(
                    &open,
                    settings.warmup,
                    settings.duration,
                    settings.seed,
                    Shard::WHOLE,
                )
            });
            open::run(&settings, &open, exec, sequence, schedule, stop).await
        }
        // `run::capacity` hands each step to the engine as an open loop; journeys run
        // through `journeys::run`.
        LoadModel::FindCapacity(_) | LoadModel::Journeys(_) => EngineReport::default(),
    }
}

/// Resolves once the stop flag is true; never if its sender is gone without stopping.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}
