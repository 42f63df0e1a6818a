//! Recording: per-request samples into HDR histograms, per worker, merged off the hot path.
//!
//! Workers record through [`Lanes`]: one recorder per lane (a few per core, each behind
//! an uncontended lock) holding histograms for the current second. When a sample falls
//! in a new second the finished interval is sent to the [`Recorder`]; the recorder also
//! collects finished seconds from every lane on its own timer, so a second reaches the
//! [`IntervalSink`] (the `.hlog` writer) within [`FLUSH_EVERY`] + [`GRACE`] of its end
//! whatever the workers do (idle, between turns, or stalled). It merges intervals from
//! all lanes and keeps run totals. Histograms are only ever merged, never percentiles
//! averaged. Latencies are microseconds, 3 significant digits.

pub mod clients;
mod outcome;
pub mod server_timing;
pub mod slowest;
pub mod trace;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use clients::ClientTallies;
pub use outcome::{CacheClass, OutcomeClass, TransportError};
pub use server_timing::{ServerTiming, ServerTimingHistograms};
use slowest::{SlowDetails, SlowRequest, SlowestRequests};

use crate::plan::OpKind;

/// Significant digits kept by every histogram.
pub const SIGFIG: u8 = 3;

/// How long after its end a second waits for samples still being recorded before the
/// recorder collects and writes it; later samples are still counted, in an extra
/// interval line.
pub const GRACE: Duration = Duration::from_millis(200);

/// How often the recorder collects finished seconds from the lanes and writes them.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// Whether a sample counts in the results or belongs to the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Warmup,
    Steady,
}

/// What a histogram series is about: one target, operation, outcome class and phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// Index into the plan's targets.
    pub target: usize,
    pub op: OpKind,
    pub class: OutcomeClass,
    pub cache: CacheClass,
    pub phase: Phase,
}

/// One finished request, as the engine saw it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub key: SeriesKey,
    pub completed_at: Instant,
    /// From when the request was due to its last byte (response time).
    pub latency: Duration,
    /// From when the request was actually sent to its last byte (service time).
    pub service: Duration,
    /// Closed loop with correction only: the expected interval between requests, used
    /// to add the samples a stalled closed loop failed to send (labelled "corrected").
    pub expected_interval: Option<Duration>,
    /// From when the request was due to the response headers (`None`: no response).
    pub ttfb: Option<Duration>,
    /// The request opened a connection: TCP connect time (name resolution included).
    pub connect: Option<Duration>,
    /// The request opened a TLS connection: handshake time.
    pub tls: Option<Duration>,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub status: Option<u16>,
    pub transport: Option<TransportError>,
    /// Seconds of a `Retry-After` header, if the response had one.
    pub retry_after: Option<u32>,
    /// What the response's `Server-Timing` header said (empty: no header).
    pub server_timing: ServerTiming,
    /// The identity it was sent as, when its target has several (`None`: one).
    pub client: Option<u16>,
}

/// Histograms and counters of one series.
#[derive(Debug, Clone)]
pub struct SeriesData {
    /// Response time, from due time, µs.
    pub latency: Histogram<u64>,
    /// Service time, from actual send, µs.
    pub service: Histogram<u64>,
    /// Closed-loop latency with expected-interval correction, µs (only when configured).
    pub corrected: Option<Histogram<u64>>,
    /// Time to first byte, µs (requests that got a response).
    pub ttfb: Histogram<u64>,
    /// TCP connect time, µs, of the requests that opened a connection (one sample each).
    pub connect: Histogram<u64>,
    /// TLS handshake time, µs, of the requests that opened a TLS connection.
    pub tls: Histogram<u64>,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Count per HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Count per transport error kind.
    pub transport: BTreeMap<TransportError, u64>,
    /// Count per `Retry-After` value (seconds).
    pub retry_after: BTreeMap<u32, u64>,
    /// Server-side components from `Server-Timing` headers, µs.
    pub server_timing: ServerTimingHistograms,
}

impl SeriesData {
    /// Nothing recorded yet.
    pub fn new() -> Self {
        SeriesData {
            latency: new_histogram(),
            service: new_histogram(),
            corrected: None,
            ttfb: new_histogram(),
            connect: new_histogram(),
            tls: new_histogram(),
            bytes_up: 0,
            bytes_down: 0,
            statuses: BTreeMap::new(),
            transport: BTreeMap::new(),
            retry_after: BTreeMap::new(),
            server_timing: ServerTimingHistograms::default(),
        }
    }

    fn record(&mut self, s: &Sample) {
        let _ = self.latency.record(micros(s.latency));
        let _ = self.service.record(micros(s.service));
        if let Some(interval) = s.expected_interval {
            let h = self.corrected.get_or_insert_with(new_histogram);
            let _ = h.record_correct(micros(s.latency), micros(interval));
        }
        if let Some(t) = s.ttfb {
            let _ = self.ttfb.record(micros(t));
        }
        if let Some(t) = s.connect {
            let _ = self.connect.record(micros(t));
        }
        if let Some(t) = s.tls {
            let _ = self.tls.record(micros(t));
        }
        self.bytes_up += s.bytes_up;
        self.bytes_down += s.bytes_down;
        if let Some(code) = s.status {
            *self.statuses.entry(code).or_default() += 1;
        }
        if let Some(kind) = s.transport {
            *self.transport.entry(kind).or_default() += 1;
        }
        if let Some(secs) = s.retry_after {
            *self.retry_after.entry(secs).or_default() += 1;
        }
        self.server_timing.record(&s.server_timing, s.service);
    }

    /// Adds another series' data to this one.
    pub fn merge(&mut self, other: &SeriesData) {
        // Both histograms auto-resize, so adding cannot fail on range.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        if let Some(c) = &other.corrected {
            let _ = self.corrected.get_or_insert_with(new_histogram).add(c);
        }
        let _ = self.ttfb.add(&other.ttfb);
        let _ = self.connect.add(&other.connect);
        let _ = self.tls.add(&other.tls);
        self.bytes_up += other.bytes_up;
        self.bytes_down += other.bytes_down;
        for (k, v) in &other.statuses {
            *self.statuses.entry(*k).or_default() += v;
        }
        for (k, v) in &other.transport {
            *self.transport.entry(*k).or_default() += v;
        }
        for (k, v) in &other.retry_after {
            *self.retry_after.entry(*k).or_default() += v;
        }
        self.server_timing.merge(&other.server_timing);
    }

    /// Requests recorded.
    pub fn count(&self) -> u64 {
        self.latency.len()
    }
}

impl Default for SeriesData {
    fn default() -> Self {
        SeriesData::new()
    }
}

/// An empty auto-resizing histogram with gatebench's precision.
pub fn new_histogram() -> Histogram<u64> {
    // 3 significant digits is always a valid precision.
    let mut h = Histogram::new(SIGFIG).expect("valid precision");
    h.auto(true);
    h
}

/// Whole microseconds, at least 1 (histograms record from 1).
pub fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

/// The samples of one second, from one worker or merged.
#[derive(Debug, Default)]
pub struct Interval {
    /// Whole seconds since the run started.
    pub second: u64,
    pub series: HashMap<SeriesKey, SeriesData>,
}

impl Interval {
    /// Adds `series` to this second's, merging series with the same key.
    pub fn add(&mut self, series: impl IntoIterator<Item = (SeriesKey, SeriesData)>) {
        for (k, v) in series {
            merge_series(&mut self.series, k, v);
        }
    }
}

/// Merges `data` into the series of `key` in `into` (or inserts it).
fn merge_series(into: &mut HashMap<SeriesKey, SeriesData>, key: SeriesKey, data: SeriesData) {
    match into.get_mut(&key) {
        Some(existing) => existing.merge(&data),
        None => {
            into.insert(key, data);
        }
    }
}

/// Receives each finished second (and late additions to one).
pub trait IntervalSink: Send {
    /// Called once per finished second, and again if late samples for it arrive.
    fn write_interval(&mut self, interval: &Interval) -> std::io::Result<()>;
}

/// Recording for one lane: histograms of the current second.
struct LaneRecorder {
    run_start: Instant,
    current: Interval,
    tx: mpsc::UnboundedSender<Interval>,
    /// This lane's slowest requests, merged into `all_slowest` when the lane ends.
    slowest: SlowestRequests,
    all_slowest: Arc<Mutex<SlowestRequests>>,
    /// This lane's per-identity tallies, merged into `all_clients` when the lane ends.
    clients: ClientTallies,
    all_clients: Arc<Mutex<ClientTallies>>,
}

impl LaneRecorder {
    /// Records one sample; sends the previous second's data on when a new second begins.
    fn record(&mut self, s: &Sample) {
        let second = s
            .completed_at
            .saturating_duration_since(self.run_start)
            .as_secs();
        if second != self.current.second && !self.current.series.is_empty() {
            self.flush();
        }
        self.current.second = second;
        self.current.series.entry(s.key).or_default().record(s);
        self.clients.record(s, second);
    }

    fn flush(&mut self) {
        let done = std::mem::take(&mut self.current);
        // The recorder outlives every lane; a closed channel means the run is over.
        let _ = self.tx.send(done);
    }

    /// Sends the held second on if it is before `second`.
    fn flush_before(&mut self, second: u64) {
        if self.current.second < second && !self.current.series.is_empty() {
            self.flush();
        }
    }
}

impl Drop for LaneRecorder {
    fn drop(&mut self) {
        lock(&self.all_slowest).merge(std::mem::take(&mut self.slowest));
        lock(&self.all_clients).merge(std::mem::take(&mut self.clients));
        if !self.current.series.is_empty() {
            self.flush();
        }
    }
}

/// The lanes of one engine run.
type LaneSet = [Mutex<LaneRecorder>];

/// The lane sets handed out so far, for the recorder's timer (dead ones are pruned).
type LiveLanes = Arc<Mutex<Vec<Weak<LaneSet>>>>;

/// The hot-path recording handle of one engine run, shared by its workers. Each worker
/// records into the lane its id picks, so locks are rarely contended; the recorder
/// collects finished seconds on its timer, and what a lane holds is sent on when it
/// is dropped.
pub struct Lanes {
    lanes: Arc<LaneSet>,
    /// The lanes of a second recorder that gets every sample too (see [`RecordHandle::tee`]).
    tee: Option<Box<Lanes>>,
}

impl Lanes {
    /// Records `s` into the lane picked by `worker` (and into the tee's).
    pub fn record(&self, worker: usize, s: &Sample) {
        lock(&self.lanes[worker % self.lanes.len()]).record(s);
        if let Some(tee) = &self.tee {
            tee.record(worker, s);
        }
    }

    /// Keeps a steady-phase request of `key` among the slowest of `worker`'s lane if it
    /// is slower than the lane's current tenth; `details` is only called then.
    pub fn keep_if_slow(
        &self,
        worker: usize,
        key: &SeriesKey,
        due: Instant,
        latency: Duration,
        details: impl FnOnce() -> SlowDetails,
    ) {
        if key.phase != Phase::Steady {
            return;
        }
        let mut lane = lock(&self.lanes[worker % self.lanes.len()]);
        if !lane.slowest.admits(key.target, key.op, latency) {
            return;
        }
        let now = Instant::now();
        let r = SlowRequest {
            op: key.op,
            class: key.class,
            due: SystemTime::now() - now.saturating_duration_since(due),
            due_offset: due.saturating_duration_since(lane.run_start),
            latency,
            details: details(),
        };
        lane.slowest.insert(key.target, r);
    }
}

/// What the progress line shows, for all targets and for each; published once a second.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// All targets together.
    pub all: ProgressCounts,
    /// Per target index (targets with no request yet are absent).
    pub by_target: BTreeMap<usize, ProgressCounts>,
}

impl Progress {
    /// The counts of one target, or of all targets together (`None`).
    pub fn of(&self, target: Option<usize>) -> ProgressCounts {
        match target {
            None => self.all.clone(),
            Some(t) => self.by_target.get(&t).cloned().unwrap_or_default(),
        }
    }
}

/// Counts of the progress line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgressCounts {
    /// Requests completed so far (all phases).
    pub completed: u64,
    /// Requests that did not end `ok`.
    pub errors: u64,
    /// Requests completed in the last finished second.
    pub last_second_ops: u64,
    /// p99 latency of `ok` steady-phase requests so far, µs.
    pub p99_us: u64,
}

/// Creates recording lanes; cheap to clone. The recorder stops once every handle and
/// every lane is gone.
#[derive(Clone)]
pub struct RecordHandle {
    run_start: Instant,
    tx: mpsc::UnboundedSender<Interval>,
    live: LiveLanes,
    tee: Option<Arc<RecordHandle>>,
    slowest: Arc<Mutex<SlowestRequests>>,
    clients: Arc<Mutex<ClientTallies>>,
}

impl RecordHandle {
    /// A handle whose lanes record every sample here and into `other` as well (e.g. the
    /// recorder of one capacity step, whose totals are then that step's alone).
    pub fn tee(&self, other: &RecordHandle) -> RecordHandle {
        RecordHandle {
            tee: Some(Arc::new(other.clone())),
            ..self.clone()
        }
    }

    /// Recording lanes for one engine run: four per core.
    pub fn lanes(&self) -> Lanes {
        let n = 4 * std::thread::available_parallelism().map_or(1, |n| n.get());
        let lanes: Arc<LaneSet> = (0..n)
            .map(|_| {
                Mutex::new(LaneRecorder {
                    run_start: self.run_start,
                    current: Interval::default(),
                    tx: self.tx.clone(),
                    slowest: SlowestRequests::default(),
                    all_slowest: self.slowest.clone(),
                    clients: ClientTallies::default(),
                    all_clients: self.clients.clone(),
                })
            })
            .collect();
        let mut live = lock(&self.live);
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&lanes));
        drop(live);
        let tee = self.tee.as_ref().map(|t| Box::new(t.lanes()));
        Lanes { lanes, tee }
    }
}

/// Locks `m`; a poisoned lock only means a worker panicked, its data is still valid.
fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Merges worker intervals, writes finished seconds and keeps the run's totals.
pub struct Recorder {
    run_start: Instant,
    rx: mpsc::UnboundedReceiver<Interval>,
    live: LiveLanes,
    pending: BTreeMap<u64, Interval>,
    /// Seconds below this have been written.
    written_up_to: u64,
    totals: Totals,
    sink: Box<dyn IntervalSink>,
    sink_error: Option<std::io::Error>,
    progress: watch::Sender<Progress>,
    /// Where lanes leave their slowest requests when they end.
    slowest: Arc<Mutex<SlowestRequests>>,
    /// Where lanes leave their per-identity tallies when they end.
    clients: Arc<Mutex<ClientTallies>>,
}

/// The merged result of a run.
#[derive(Default)]
pub struct Totals {
    pub series: HashMap<SeriesKey, SeriesData>,
    /// The first second (since the run started) in which each (target, class) was seen.
    pub first_seconds: HashMap<(usize, OutcomeClass), u64>,
    /// The first error the sink reported, if any (the run still completes).
    pub sink_error: Option<std::io::Error>,
    /// The slowest steady-phase requests per target × op (none in a run rebuilt from
    /// its interval logs).
    pub slowest: SlowestRequests,
    /// Steady-phase tallies per identity of targets with several (none in a run
    /// rebuilt from its interval logs).
    pub clients: ClientTallies,
}

impl Totals {
    /// Adds one second's series to the totals.
    pub fn add(&mut self, iv: Interval) {
        for (k, v) in iv.series {
            let first = self
                .first_seconds
                .entry((k.target, k.class))
                .or_insert(iv.second);
            *first = (*first).min(iv.second);
            merge_series(&mut self.series, k, v);
        }
    }
}

impl Recorder {
    /// A recorder whose seconds count from `run_start`, writing finished seconds to
    /// `sink`, and the handle that makes worker recorders for it.
    pub fn new(run_start: Instant, sink: Box<dyn IntervalSink>) -> (Self, RecordHandle) {
        let (tx, rx) = mpsc::unbounded_channel();
        let live = LiveLanes::default();
        let slowest = Arc::new(Mutex::new(SlowestRequests::default()));
        let clients = Arc::new(Mutex::new(ClientTallies::default()));
        let recorder = Recorder {
            run_start,
            rx,
            live: live.clone(),
            pending: BTreeMap::new(),
            written_up_to: 0,
            totals: Totals::default(),
            sink,
            sink_error: None,
            progress: watch::Sender::new(Progress::default()),
            slowest: slowest.clone(),
            clients: clients.clone(),
        };
        (
            recorder,
            RecordHandle {
                run_start,
                tx,
                live,
                tee: None,
                slowest,
                clients,
            },
        )
    }

    /// Progress updates, once a second.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Merges intervals until every handle is gone, writes what is left and returns the
    /// totals. Every [`FLUSH_EVERY`] it collects and writes the seconds that ended more
    /// than [`GRACE`] ago.
    pub async fn run(mut self) -> Totals {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(iv) => self.add(iv),
                    None => break,
                },
                _ = tick.tick() => {
                    self.collect_finished();
                    self.write_finished(false);
                }
            }
        }
        self.write_finished(true);
        Totals {
            sink_error: self.sink_error,
            slowest: std::mem::take(&mut *lock(&self.slowest)),
            clients: std::mem::take(&mut *lock(&self.clients)),
            ..self.totals
        }
    }

    /// Seconds below this one ended more than [`GRACE`] ago.
    fn finished_below(&self) -> u64 {
        self.run_start.elapsed().saturating_sub(GRACE).as_secs()
    }

    /// Takes finished seconds from every live lane, then what lanes sent on meanwhile.
    fn collect_finished(&mut self) {
        let below = self.finished_below();
        let sets: Vec<Arc<LaneSet>> = lock(&self.live).iter().filter_map(Weak::upgrade).collect();
        for lane in sets.iter().flat_map(|set| set.iter()) {
            lock(lane).flush_before(below);
        }
        // A lane sends under its lock, so everything sent before the loop above took
        // the lock is in the channel now.
        while let Ok(iv) = self.rx.try_recv() {
            self.add(iv);
        }
    }

    fn add(&mut self, iv: Interval) {
        if iv.second < self.written_up_to {
            // Late: the second was written already; write the addition on its own.
            self.emit(iv);
            return;
        }
        let slot = self.pending.entry(iv.second).or_insert_with(|| Interval {
            second: iv.second,
            series: HashMap::new(),
        });
        slot.add(iv.series);
    }

    fn write_finished(&mut self, all: bool) {
        let limit = if all { u64::MAX } else { self.finished_below() };
        let mut last_second = None;
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() >= limit {
                break;
            }
            let iv = entry.remove();
            self.written_up_to = iv.second + 1;
            let per_target: Vec<(usize, u64)> = iv
                .series
                .iter()
                .map(|(k, v)| (k.target, v.count()))
                .collect();
            last_second = Some(per_target);
            self.emit(iv);
        }
        if !all {
            self.written_up_to = self.written_up_to.max(limit);
        }
        if let Some(ops) = last_second {
            self.publish_progress(&ops);
        }
    }

    fn emit(&mut self, iv: Interval) {
        if let Err(e) = self.sink.write_interval(&iv) {
            self.sink_error.get_or_insert(e);
        }
        self.totals.add(iv);
    }

    /// Publishes the totals so far, with `last_second` requests per target.
    fn publish_progress(&self, last_second: &[(usize, u64)]) {
        let mut p = Progress::default();
        for &(target, n) in last_second {
            p.all.last_second_ops += n;
            p.by_target.entry(target).or_default().last_second_ops += n;
        }
        let mut ok_all = new_histogram();
        let mut ok_by_target: BTreeMap<usize, Histogram<u64>> = BTreeMap::new();
        for (k, v) in &self.totals.series {
            for counts in [&mut p.all, p.by_target.entry(k.target).or_default()] {
                counts.completed += v.count();
                if k.class != OutcomeClass::Ok {
                    counts.errors += v.count();
                }
            }
            if k.class == OutcomeClass::Ok && k.phase == Phase::Steady {
                let _ = ok_all.add(&v.latency);
                let _ = ok_by_target
                    .entry(k.target)
                    .or_insert_with(new_histogram)
                    .add(&v.latency);
            }
        }
        p.all.p99_us = ok_all.value_at_quantile(0.99);
        for (target, ok) in ok_by_target {
            p.by_target.entry(target).or_default().p99_us = ok.value_at_quantile(0.99);
        }
        self.progress.send_replace(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<(u64, u64)>>>);

    impl IntervalSink for Collect {
        fn write_interval(&mut self, iv: &Interval) -> std::io::Result<()> {
            let n = iv.series.values().map(SeriesData::count).sum();
            self.0.lock().unwrap().push((iv.second, n));
            Ok(())
        }
    }

    fn sample(at: Instant, us: u64, class: OutcomeClass) -> Sample {
        Sample {
            key: SeriesKey {
                target: 0,
                op: OpKind::Get,
                class,
                cache: CacheClass::None,
                phase: Phase::Steady,
            },
            completed_at: at,
            connect: None,
            tls: None,
            latency: Duration::from_micros(us),
            service: Duration::from_micros(us),
            expected_interval: None,
            ttfb: Some(Duration::from_micros(us / 2)),
            bytes_up: 0,
            bytes_down: 10,
            status: Some(200),
            transport: None,
            retry_after: None,
            server_timing: ServerTiming::default(),
            client: None,
        }
    }

    #[tokio::test]
    async fn workers_are_merged_into_exact_totals_and_intervals() {
        // Samples lie in the future of the clock, so nothing is written before the end.
        let start = Instant::now();
        let sink = Collect::default();
        let (rec, handle) = Recorder::new(start, Box::new(sink.clone()));
        let lanes = handle.lanes();
        for i in 0..1000u64 {
            let at = start + Duration::from_millis(i * 5); // seconds 0..4
            lanes.record(0, &sample(at, 100 + i, OutcomeClass::Ok));
            lanes.record(1, &sample(at, 10_000, OutcomeClass::Ok));
        }
        let late = sample(start + Duration::from_secs(1), 7, OutcomeClass::ServerError);
        lanes.record(1, &late);
        drop((lanes, handle));
        let totals = rec.run().await;
        let ok = totals
            .series
            .iter()
            .find(|(k, _)| k.class == OutcomeClass::Ok)
            .unwrap()
            .1;
        assert_eq!(ok.count(), 2000);
        assert_eq!(ok.bytes_down, 20_000);
        assert_eq!(ok.latency.max(), ok.latency.highest_equivalent(10_000));
        assert_eq!(
            ok.latency.value_at_quantile(0.25),
            ok.latency.highest_equivalent(100 + 499)
        );
        let written = sink.0.lock().unwrap().clone();
        assert_eq!(written.iter().map(|w| w.1).sum::<u64>(), 2001);
        assert_eq!(
            written.iter().map(|w| w.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
    }

    #[tokio::test]
    async fn progress_counts_each_target_apart_and_all_together() {
        let start = Instant::now();
        let (rec, handle) = Recorder::new(start, Box::new(Collect::default()));
        let updates = rec.progress();
        let lanes = handle.lanes();
        for i in 0..5 {
            lanes.record(i, &sample(start, 100, OutcomeClass::Ok));
        }
        for i in 0..3 {
            let mut failed = sample(start, 9_000, OutcomeClass::Throttled);
            failed.key.target = 1;
            lanes.record(i, &failed);
        }
        drop((lanes, handle));
        rec.run().await;
        let p = updates.borrow().clone();
        let counts = |completed, errors, last_second_ops, p99_us| ProgressCounts {
            completed,
            errors,
            last_second_ops,
            p99_us,
        };
        assert_eq!(p.of(Some(0)), counts(5, 0, 5, 100));
        assert_eq!(p.of(Some(1)), counts(3, 3, 3, 0));
        assert_eq!(p.of(None), counts(8, 3, 8, 100));
        assert_eq!(p.of(Some(2)), ProgressCounts::default());
    }

    #[tokio::test]
    async fn a_second_is_written_soon_after_its_end_though_no_sample_follows() {
        // One request, then idle workers (open loop at a low rate, a turn of the other
        // target, a stalled server): the second must not wait for a next sample.
        let start = Instant::now();
        let sink = Collect::default();
        let (rec, handle) = Recorder::new(start, Box::new(sink.clone()));
        let lanes = handle.lanes();
        lanes.record(3, &sample(start, 100, OutcomeClass::Ok));
        let recording = tokio::spawn(rec.run());
        let due = Duration::from_secs(1) + GRACE + FLUSH_EVERY + Duration::from_millis(150);
        tokio::time::sleep(due).await;
        assert_eq!(*sink.0.lock().unwrap(), vec![(0, 1)]);
        drop((lanes, handle));
        let totals = recording.await.unwrap();
        assert_eq!(
            totals.series.values().map(SeriesData::count).sum::<u64>(),
            1
        );
        assert_eq!(sink.0.lock().unwrap().len(), 1, "written once");
    }
}
