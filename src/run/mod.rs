//! One `gatebench run`, end to end: open the targets, seed each storage once, drive the
//! load (turns between targets), clean up, and write the results folder.
//!
//! Data flows one way: Plan → targets → engine → recorder → results folder → console
//! table. Results are written whatever happens: a failed setup, an unreachable target or
//! an interruption all end in a summary that says so.

mod capacity;
pub mod distributed;
mod journeys;
pub mod repeat;
pub(crate) mod setup;
mod turns;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::request_ids::ClientIds;
use crate::client::{KeySpace, OpenTarget, S3Call, S3Client};
use crate::engine::EngineReport;
use crate::plan::sequence::OpSequence;
use crate::plan::{Kind, Plan, Shard, TargetKind, TargetSpec};
use crate::progress::Display;
use crate::record::trace::RequestTrace;
use crate::record::{OutcomeClass, Phase, Progress, RecordHandle, Recorder, Totals};
use crate::results::hlog::HlogWriter;
use crate::results::shards::ShardRecord;
use crate::results::summary::{
    self, EMBEDDED_NOTE, INSECURE_NOTE, RunStatus, Summary, TargetOutcome,
};
use crate::results::{self, Provenance, RunFolder};
use distributed::Distributed;
pub use turns::check_shard;

/// A target's caveat for the console and the report, if it has one.
fn note_of(spec: &TargetSpec, open: &OpenTarget) -> Option<&'static str> {
    let insecure = match &spec.kind {
        TargetKind::S3(ep) => ep.tls.insecure_skip_verify,
        TargetKind::Gateway(gw) => gw.tls.insecure_skip_verify,
        _ => false,
    };
    match open.kind {
        Kind::Embedded => Some(EMBEDDED_NOTE),
        _ if insecure => Some(INSECURE_NOTE),
        _ => None,
    }
}

/// Choices made on the command line.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where run folders are made (`results/`).
    pub results_base: PathBuf,
    /// An explicit output folder instead.
    pub out: Option<PathBuf>,
    /// Leave this run's objects in the buckets.
    pub keep_data: bool,
    /// No progress display.
    pub quiet: bool,
    /// This process's part in a distributed run (`None`: a run of its own).
    pub distributed: Option<Distributed>,
    /// Trace every request into this CSV file (`--trace-requests`).
    pub trace: Option<PathBuf>,
    /// Generator threads, each with its own runtime (`--threads`; `None`: one per core).
    pub threads: Option<usize>,
}

/// What a finished run produced.
pub struct RunOutput {
    pub folder: PathBuf,
    pub summary: Summary,
}

/// Runs `plan` against its targets and writes the results folder.
pub async fn run(plan: Plan, opts: RunOptions) -> anyhow::Result<RunOutput> {
    let started = SystemTime::now();
    let mut dist = opts.distributed.clone();
    let (run_id, folder_id) = match &dist {
        Some(d) => (d.run_id.clone(), folder_name(d)),
        None => {
            let id = results::new_run_id(&plan.name, started);
            (id.clone(), id)
        }
    };
    let folder = RunFolder::create(&opts.results_base, &folder_id, opts.out.as_deref())?;
    folder.write_scenario(&plan)?;
    folder.write_json(
        results::RUN,
        &summary::planned(&plan, &run_id, started, |i| setup::storage_of(&plan, i)),
    )?;
    let keys = Arc::new(KeySpace::new(
        &plan,
        &format!("{}{run_id}/", plan.data.prefix),
    ));

    let trace = match &opts.trace {
        Some(path) => Some(Arc::new(RequestTrace::create(path).with_context(|| {
            format!("cannot create the request trace {}", path.display())
        })?)),
        None => None,
    };
    let signals = Signals::install();
    let stop = signals.stop.clone();
    let (handle, updates, recording) =
        start_recording(&plan, &folder.dir, interval_origin(dist.as_ref()))?;
    let mut display = Display::new(opts.quiet);
    display.line(&format!(
        "gatebench {}: results in {}",
        plan.name,
        folder.dir.display()
    ));
    if let Some(d) = &dist {
        distributed::announce(&display, d);
    }

    let mut targets = open_targets(&plan, &stop, &display).await;
    connect(&plan, &run_id, &stop, &mut targets).await;
    let storages = setup::storages(&plan);
    let seeds = dist.as_ref().is_none_or(|d| d.shard.index == 0);
    if targets.ready() && seeds {
        seed(&plan, &keys, &stop, &storages, &mut targets, &display).await;
    }
    let mut shard = None;
    if let Some(d) = &mut dist
        && targets.ready()
    {
        shard = coordinate_start(&plan, &keys, d, &stop, &mut targets, &display).await;
    }
    // Drive the load.
    let mut runnables = runnables(&plan, &keys, dist.as_ref(), &mut targets);
    let mut found = None;
    if targets.ready() {
        let cx = turns::Context {
            plan: &plan,
            recorder: &handle,
            stop: &stop,
            updates: &updates,
            shard: dist.as_ref().map_or(Shard::WHOLE, |d| d.shard),
            trace: trace.clone(),
            threads: opts.threads.unwrap_or_else(|| default_threads(&plan)),
        };
        match &plan.load {
            crate::plan::LoadModel::FindCapacity(search) => {
                found = Some(capacity::run_all(&cx, search, &mut runnables, &mut display).await);
            }
            crate::plan::LoadModel::Journeys(load) => {
                let hosts: Vec<_> = (targets.open.iter())
                    .map(|t| t.as_ref().map(|t| t.address.clone()))
                    .collect();
                let dir = &folder.dir;
                let ran = journeys::run_all(&cx, load, &mut runnables, &hosts, dir, &mut display);
                for (i, e) in ran.await {
                    targets.errors[i] = Some(e);
                }
            }
            _ => turns::run_all(&cx, &mut runnables, &mut display).await,
        }
    }
    if let Some(t) = &trace
        && let Err(e) = t.flush()
    {
        display.line(&format!("warning: the request trace is incomplete: {e}"));
    }
    let cleans_up = match &dist {
        Some(d) if shard.is_some() => {
            finish_shard(
                &plan,
                &keys,
                d,
                &targets,
                &signals,
                opts.keep_data,
                &display,
            )
            .await
        }
        Some(d) => d.shard.index == 0,
        None => true,
    };
    for &s in storages.iter().filter(|_| cleans_up) {
        if let Some(t) = &targets.open[s] {
            setup::clean_up(&plan, &keys, t, opts.keep_data, &signals.abandon, &display).await;
        }
    }
    drop(handle);
    display.stop();
    let totals = recording.await??;
    let ended = SystemTime::now();

    let stopped = *stop.borrow();
    let mut summary = summarise(
        &plan,
        &run_id,
        (started, ended),
        targets,
        runnables,
        &totals,
        stopped,
    );
    summary.capacity = found;
    summary.thresholds = crate::thresholds::evaluate(&plan.thresholds, &summary);
    summary.shard = shard.map(|s| ShardRecord {
        cpu_seconds: results::cpu_seconds(),
        peak_rss_bytes: results::peak_rss_bytes(),
        ..s
    });
    folder.write_json(results::SUMMARY, &summary)?;
    folder.write_json(
        results::PROVENANCE,
        &Provenance::collect(started, ended, &plan),
    )?;
    Ok(RunOutput {
        folder: folder.dir,
        summary,
    })
}

/// The results folder of a shard: the run id, and which shard of how many.
fn folder_name(d: &Distributed) -> String {
    if d.shard.is_sharded() {
        format!("{}-shard-{}-of-{}", d.run_id, d.shard.index, d.shard.count)
    } else {
        d.run_id.clone()
    }
}

/// A shard's start: shard 0 publishes it (it has seeded), the others wait for it; then
/// the shard measures its clock against the first target, sleeps until the start and
/// returns its record. `None` if setup failed (the failure is in `targets`) or was
/// interrupted.
async fn coordinate_start(
    plan: &Plan,
    keys: &KeySpace,
    d: &mut Distributed,
    stop: &watch::Receiver<bool>,
    targets: &mut Targets,
    display: &Display,
) -> Option<ShardRecord> {
    let storage = setup::storages(plan)[0];
    let (admin, bucket) = markers(plan, &targets.open[storage])?;
    let prefix = keys.run_prefix();
    let start = if d.shard.index == 0 {
        setup::within(
            plan.limits.setup_timeout,
            stop,
            d.publish_start(&admin, &bucket, prefix),
        )
        .await
    } else {
        display.line(&format!(
            "waiting for shard 0 to seed and set the start under {prefix}"
        ));
        let budget = 2 * plan.limits.setup_timeout;
        setup::within(budget, stop, d.await_start(&admin, &bucket, prefix, budget)).await
    };
    let start = match start {
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            targets.errors[storage] = Some(format!("shard {}: {e:#}", d.shard));
            return None;
        }
        None => {
            targets.interrupted_in = Some("setup");
            return None;
        }
    };
    let first = targets.clients.iter().position(Option::is_some)?;
    let client = targets.clients[first].clone()?;
    let address = targets.open[first]
        .as_ref()
        .map(|t| t.address.clone())
        .unwrap_or_default();
    let call = S3Call {
        method: hyper::Method::HEAD,
        path_and_query: format!("/{}", plan.data.buckets[0]),
        body_len: 0,
        index: None,
        range: None,
        checksum: Default::default(),
    };
    let offset = d.measure_clock(&client, &address, &call, display).await;
    display.line(&distributed::describe_start(start, d.now()));
    if !d.sleep_until(start, stop).await {
        return None;
    }
    Some(d.record(d.now(), offset.as_ref()))
}

/// The admin client and bucket of a run's markers: the first storage's first bucket.
fn markers(plan: &Plan, storage: &Option<OpenTarget>) -> Option<(crate::client::Admin, String)> {
    let endpoint = storage.as_ref()?.storage.as_ref()?;
    let admin = setup::admin(plan, endpoint).ok()?;
    Some((admin, plan.data.buckets.first()?.clone()))
}

/// After a shard's load: the others tell shard 0 they are done; shard 0 waits for them
/// (within the setup budget). True if this shard should clean up now.
async fn finish_shard(
    plan: &Plan,
    keys: &KeySpace,
    d: &Distributed,
    targets: &Targets,
    signals: &Signals,
    keep: bool,
    display: &Display,
) -> bool {
    let Some((admin, bucket)) = markers(plan, &targets.open[setup::storages(plan)[0]]) else {
        return false;
    };
    let prefix = keys.run_prefix();
    if d.shard.index != 0 {
        if let Err(e) = d.publish_done(&admin, &bucket, prefix).await {
            display.line(&format!(
                "warning: could not tell shard 0 this shard is done: {e:#}"
            ));
        }
        display.line("clean-up is left to shard 0");
        return false;
    }
    if keep || d.shard.count == 1 {
        return true;
    }
    display.line("waiting for the other shards to finish before cleaning up");
    let budget = plan.limits.setup_timeout;
    match d
        .await_done(&admin, &bucket, prefix, budget, &signals.abandon)
        .await
    {
        Ok(missing) if missing.is_empty() => true,
        Ok(missing) => {
            let list: Vec<String> = missing.iter().map(u32::to_string).collect();
            display.line(&format!(
                "warning: shards {} had not finished within {}: objects kept under {prefix}",
                list.join(", "),
                humantime::format_duration(budget)
            ));
            false
        }
        Err(e) => {
            display.line(&format!("warning: objects kept under {prefix}: {e:#}"));
            false
        }
    }
}

/// Where the recorder's seconds begin, as an instant and on the wall clock: now, or for
/// a shard the last whole second of its clock, so that the seconds of every shard share
/// their boundaries and `gatebench merge` adds them exactly.
fn interval_origin(dist: Option<&Distributed>) -> (Instant, SystemTime) {
    let now = Instant::now();
    let Some(d) = dist else {
        return (now, SystemTime::now());
    };
    let wall = d.now();
    let into_second = wall
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|t| Duration::from_nanos(u64::from(t.subsec_nanos())))
        .unwrap_or_default();
    match now.checked_sub(into_second) {
        Some(origin) => (origin, wall - into_second),
        None => (now, wall),
    }
}

/// The recorder's thread: it ends with the run's totals.
type Recording = JoinHandle<std::io::Result<Totals>>;

/// The recorder, writing the interval logs into `dir`; its handle, its progress updates
/// and the task that ends with the run's totals once every handle is dropped.
fn start_recording(
    plan: &Plan,
    dir: &Path,
    (origin, origin_wall): (Instant, SystemTime),
) -> anyhow::Result<(RecordHandle, watch::Receiver<Progress>, Recording)> {
    let names = plan.targets.iter().map(|t| t.name.clone()).collect();
    let sink = HlogWriter::create(dir, names, origin_wall)?;
    let (recorder, handle) = Recorder::new(origin, Box::new(sink));
    let updates = recorder.progress();
    // The recorder writes files every 250 ms: on a thread of its own, so a slow disk
    // never stalls the runtime threads that send and time requests.
    let recording = tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map(|rt| rt.block_on(recorder.run()))
    });
    Ok((handle, updates, recording))
}

/// Where setup stands, per target (by index in the plan): the opened target, its
/// measured-path client and the first error; and the phase an interruption cut short.
struct Targets {
    open: Vec<Option<OpenTarget>>,
    clients: Vec<Option<Arc<S3Client>>>,
    errors: Vec<Option<String>>,
    interrupted_in: Option<&'static str>,
}

impl Targets {
    /// No target has failed.
    fn no_errors(&self) -> bool {
        self.errors.iter().all(Option::is_none)
    }

    /// No target has failed and nothing interrupted setup: the next step may run.
    fn ready(&self) -> bool {
        self.no_errors() && self.interrupted_in.is_none()
    }
}

/// Opens every target (embedded servers, first tokens) within the setup budget, storages
/// first; stops at Ctrl-C.
async fn open_targets(plan: &Plan, stop: &watch::Receiver<bool>, display: &Display) -> Targets {
    let n = plan.targets.len();
    let mut targets = Targets {
        open: Vec::new(),
        clients: vec![None; n],
        errors: vec![None; n],
        interrupted_in: None,
    };
    // Direct targets first: an embedded gateway needs its backend's endpoint.
    targets.open.resize_with(n, || None);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| setup::storage_of(plan, i) != i);
    for i in order {
        let spec = &plan.targets[i];
        let storage = targets.open[setup::storage_of(plan, i)]
            .as_ref()
            .and_then(|t| t.storage.clone());
        let budget = plan.limits.setup_timeout;
        match setup::within(budget, stop, OpenTarget::open(spec, storage.as_ref())).await {
            Some(Ok(t)) => {
                if let Some(note) = note_of(spec, &t) {
                    display.line(&format!("note ({}): {note}", spec.name));
                }
                targets.open[i] = Some(t);
            }
            Some(Err(e)) => targets.errors[i] = Some(format!("cannot start: {e:#}")),
            None => {
                targets.interrupted_in = Some("start-up");
                break;
            }
        }
    }
    targets
}

/// Each target's measured-path client (naming its requests for run `run_id`); one
/// connection each first, so a certificate or name problem is told (and nothing is
/// seeded) before any load.
async fn connect(plan: &Plan, run_id: &str, stop: &watch::Receiver<bool>, targets: &mut Targets) {
    for (i, spec) in plan.targets.iter().enumerate() {
        let Some(t) = &targets.open[i] else { continue };
        if !targets.ready() {
            break;
        }
        let client = match t.client(spec, plan.limits.request_timeout, plan.connections) {
            Ok(c) => match ClientIds::new(run_id, i) {
                Some(ids) => c.with_request_ids(ids),
                None => c,
            },
            Err(e) => {
                targets.errors[i] = Some(format!("{e:#}"));
                continue;
            }
        };
        match setup::within(plan.limits.setup_timeout, stop, client.check_connection()).await {
            Some(Ok(())) => targets.clients[i] = Some(Arc::new(client)),
            Some(Err(e)) => targets.errors[i] = Some(format!("{}: {e}", t.address)),
            None => targets.interrupted_in = Some("start-up"),
        }
    }
}

/// Seeds each storage once, within the setup budget; stops at the first failure or at
/// Ctrl-C.
async fn seed(
    plan: &Plan,
    keys: &KeySpace,
    stop: &watch::Receiver<bool>,
    storages: &[usize],
    targets: &mut Targets,
    display: &Display,
) {
    for &s in storages {
        let Some(t) = &targets.open[s] else { continue };
        let prepared = setup::prepare(plan, keys, t, display);
        match setup::within(plan.limits.setup_timeout, stop, prepared).await {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                targets.errors[s] = Some(format!("setup failed: {e:#}"));
                break;
            }
            None => {
                targets.interrupted_in = Some("setup");
                break;
            }
        }
    }
}

/// What the load is driven through: each connected target with its own operation
/// sequence (none once a target has failed).
fn runnables(
    plan: &Plan,
    keys: &KeySpace,
    dist: Option<&Distributed>,
    targets: &mut Targets,
) -> Vec<turns::Runnable> {
    let shard = dist.map_or(Shard::WHOLE, |d| d.shard);
    let mut runnables = Vec::new();
    if !targets.no_errors() {
        return runnables;
    }
    for (i, client) in targets.clients.iter().enumerate() {
        let Some(client) = client else { continue };
        match OpSequence::new(plan).map_err(anyhow::Error::msg) {
            Ok(s) => runnables.push(turns::Runnable {
                index: i,
                client: client.clone(),
                keys: Arc::new(keys.for_target(&plan.targets[i].name)),
                sequence: Arc::new(Mutex::new(s.for_shard(shard))),
                schedule: None,
                report: EngineReport::default(),
            }),
            Err(e) => targets.errors[i] = Some(format!("{e:#}")),
        }
    }
    runnables
}

/// The run's summary (thresholds not yet evaluated): each target's outcome, the first
/// error, and the status it calls for.
fn summarise(
    plan: &Plan,
    run_id: &str,
    (started, ended): (SystemTime, SystemTime),
    targets: Targets,
    runnables: Vec<turns::Runnable>,
    totals: &Totals,
    stopped: bool,
) -> Summary {
    let Targets {
        open,
        clients,
        errors,
        interrupted_in,
    } = targets;
    let mut reports: Vec<Option<EngineReport>> = vec![None; plan.targets.len()];
    for r in runnables {
        reports[r.index] = Some(r.report);
    }
    let outcomes: Vec<TargetOutcome> = plan
        .targets
        .iter()
        .enumerate()
        .map(|(i, _)| TargetOutcome {
            kind: open[i].as_ref().map_or(Kind::Unknown, |t| t.kind),
            address: open[i]
                .as_ref()
                .map(|t| t.address.clone())
                .unwrap_or_default(),
            note: open[i].as_ref().and_then(|t| note_of(&plan.targets[i], t)),
            report: reports[i].clone(),
            error: errors[i].clone(),
            token: open[i]
                .as_ref()
                .and_then(|t| t.token.as_ref())
                .map(|t| t.stats()),
            protocol: clients[i].as_ref().and_then(|c| c.protocol()),
            storage: setup::storage_of(plan, i),
        })
        .collect();
    let error = errors
        .iter()
        .zip(&plan.targets)
        .find_map(|(e, t)| e.as_ref().map(|e| format!("target {}: {e}", t.name)))
        .or_else(|| {
            totals
                .sink_error
                .as_ref()
                .map(|e| format!("writing interval logs: {e}"))
        });
    let error = error.or_else(|| {
        if stopped || plan.limits.expect_failures {
            return None;
        }
        (0..plan.targets.len())
            .filter(|&i| reports[i].is_some())
            .find_map(|i| nothing_succeeded(plan, i, totals))
    });
    let status = match (&error, stopped) {
        (Some(_), _) => RunStatus::Failed,
        (None, true) => RunStatus::Interrupted,
        (None, false) => RunStatus::Complete,
    };
    let error = error
        .or_else(|| interrupted_in.map(|p| format!("interrupted during {p}: no load was sent")));
    summary::build(
        plan, run_id, started, ended, status, error, &outcomes, totals,
    )
}

/// Why a target that ran measured nothing: no `ok` request in its steady phase.
fn nothing_succeeded(plan: &Plan, target: usize, totals: &Totals) -> Option<String> {
    let mut by_class: BTreeMap<OutcomeClass, u64> = BTreeMap::new();
    for (k, v) in &totals.series {
        if k.target == target && k.phase == Phase::Steady {
            *by_class.entry(k.class).or_default() += v.count();
        }
    }
    if by_class.get(&OutcomeClass::Ok).is_some_and(|&n| n > 0) {
        return None;
    }
    let sent: u64 = by_class.values().sum();
    let classes: Vec<String> = by_class
        .iter()
        .map(|(c, n)| format!("{n} {}", c.name()))
        .collect();
    Some(format!(
        "target {}: no request succeeded ({sent} sent{}): it measured nothing \
         (set run.expect_failures = true when failures are what the scenario tests)",
        plan.targets[target].name,
        if classes.is_empty() {
            String::new()
        } else {
            format!(": {}", classes.join(", "))
        }
    ))
}

/// Ctrl-C and SIGTERM, in steps: the first stops the run (setup or load end at once,
/// clean-up still runs, results are written); the second abandons clean-up (results
/// are still written); the third exits at once.
struct Signals {
    /// Turns true at the first signal.
    stop: watch::Receiver<bool>,
    /// Turns true at the second.
    abandon: watch::Receiver<bool>,
}

impl Signals {
    fn install() -> Self {
        let (stop_tx, stop) = watch::channel(false);
        let (abandon_tx, abandon) = watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let mut next = async || {
                let terminated = async {
                    match term.as_mut() {
                        Some(t) => {
                            t.recv().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminated => {}
                }
            };
            next().await;
            eprintln!(
                "stopping: cleaning up and writing the results gathered so far \
                 (again: skip clean-up; a third time: exit at once)"
            );
            let _ = stop_tx.send(true);
            next().await;
            eprintln!("stopping: clean-up abandoned, writing the results");
            let _ = abandon_tx.send(true);
            next().await;
            // `cli::ExitStatus::Interrupted`, which `run` cannot import (cli sits above it).
            std::process::exit(130);
        });
        Signals { stop, abandon }
    }
}

/// Generator threads when `--threads` is not given: one per usable core, or none of its
/// own (0: the workers share the runtime) when a target runs in this process, whose
/// servers are on that runtime: crossing threads on every request would add to what
/// they measure.
fn default_threads(plan: &Plan) -> usize {
    let in_process = plan.targets.iter().any(|t| {
        matches!(
            t.kind,
            TargetKind::Embedded | TargetKind::EmbeddedGateway(_)
        )
    });
    match in_process {
        true => 0,
        false => crate::engine::threads::default_threads(),
    }
}
