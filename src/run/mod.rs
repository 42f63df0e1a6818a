//! One `gatebench run`, end to end: open the targets, seed each storage once, drive the
//! load (turns between targets), clean up, and write the results folder.
//!
//! Data flows one way: Plan → targets → engine → recorder → results folder → console
//! table. Results are written whatever happens: a failed setup, an unreachable target or
//! an interruption all end in a summary that says so.

pub mod repeat;
pub(crate) mod setup;
mod turns;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::{KeySpace, OpenTarget, S3Client};
use crate::engine::EngineReport;
use crate::plan::sequence::OpSequence;
use crate::plan::{Kind, Plan, TargetKind, TargetSpec};
use crate::progress::Display;
use crate::record::{OutcomeClass, Phase, Progress, RecordHandle, Recorder, Totals};
use crate::results::hlog::HlogWriter;
use crate::results::summary::{
    self, EMBEDDED_NOTE, INSECURE_NOTE, RunStatus, Summary, TargetOutcome,
};
use crate::results::{self, Provenance, RunFolder};

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
}

/// What a finished run produced.
pub struct RunOutput {
    pub folder: PathBuf,
    pub summary: Summary,
}

/// Runs `plan` against its targets and writes the results folder.
pub async fn run(plan: Plan, opts: RunOptions) -> anyhow::Result<RunOutput> {
    let started = SystemTime::now();
    let run_id = results::new_run_id(&plan.name, started);
    let folder = RunFolder::create(&opts.results_base, &run_id, opts.out.as_deref())?;
    folder.write_scenario(&plan)?;
    folder.write_json(
        results::RUN,
        &summary::planned(&plan, &run_id, started, |i| setup::storage_of(&plan, i)),
    )?;
    let keys = Arc::new(KeySpace::new(
        &plan,
        &format!("{}{run_id}/", plan.data.prefix),
    ));

    let signals = Signals::install();
    let stop = signals.stop.clone();
    let (handle, updates, recording) = start_recording(&plan, &folder.dir, started)?;
    let mut display = Display::new(opts.quiet);
    display.line(&format!(
        "gatebench {}: results in {}",
        plan.name,
        folder.dir.display()
    ));

    let mut targets = open_targets(&plan, &stop, &display).await;
    connect(&plan, &stop, &mut targets).await;
    let storages = setup::storages(&plan);
    if targets.ready() {
        seed(&plan, &keys, &stop, &storages, &mut targets, &display).await;
    }
    // Drive the load.
    let mut runnables = runnables(&plan, &mut targets);
    if targets.ready() {
        let cx = turns::Context {
            plan: &plan,
            keys: &keys,
            recorder: &handle,
            stop: &stop,
            updates: &updates,
        };
        turns::run_all(&cx, &mut runnables, &mut display).await;
    }
    for &s in &storages {
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
    summary.thresholds = crate::thresholds::evaluate(&plan.thresholds, &summary);
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

/// The recorder's thread: it ends with the run's totals.
type Recording = JoinHandle<std::io::Result<Totals>>;

/// The recorder, writing the interval logs into `dir`; its handle, its progress updates
/// and the task that ends with the run's totals once every handle is dropped.
fn start_recording(
    plan: &Plan,
    dir: &Path,
    started: SystemTime,
) -> anyhow::Result<(RecordHandle, watch::Receiver<Progress>, Recording)> {
    let names = plan.targets.iter().map(|t| t.name.clone()).collect();
    let sink = HlogWriter::create(dir, names, started)?;
    let (recorder, handle) = Recorder::new(Instant::now(), Box::new(sink));
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

/// Each target's measured-path client; one connection each first, so a certificate or
/// name problem is told (and nothing is seeded) before any load.
async fn connect(plan: &Plan, stop: &watch::Receiver<bool>, targets: &mut Targets) {
    for (i, spec) in plan.targets.iter().enumerate() {
        let Some(t) = &targets.open[i] else { continue };
        if !targets.ready() {
            break;
        }
        let client = match t.client(spec, plan.limits.request_timeout, plan.connections) {
            Ok(c) => c,
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
fn runnables(plan: &Plan, targets: &mut Targets) -> Vec<turns::Runnable> {
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
                sequence: Arc::new(Mutex::new(s)),
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
