//! One `gatebench run`, end to end: open the targets, seed each storage once, drive the
//! load (turns between targets), clean up, and write the results folder.
//!
//! Data flows one way: Plan → targets → engine → recorder → results folder → console
//! table. Results are written whatever happens: a failed setup, an unreachable target or
//! an interruption all end in a summary that says so.

pub mod repeat;
mod setup;
mod turns;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tokio::sync::watch;

use crate::engine::EngineReport;
use crate::plan::Plan;
use crate::plan::sequence::OpSequence;
use crate::progress::Display;
use crate::record::Recorder;
use crate::results::hlog::HlogWriter;
use crate::results::summary::{self, RunStatus, Summary, TargetOutcome};
use crate::results::{self, Provenance, RunFolder};
use crate::target::{KeySpace, OpenTarget};

/// The embedded target's caveat, shown wherever its numbers are.
pub const EMBEDDED_NOTE: &str =
    "embedded in-process S3 server: these numbers measure gatebench and this machine, not storage";

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
    let run_id = format!("{}-{}", plan.name, results::compact_timestamp(started));
    let folder = RunFolder::create(&opts.results_base, &run_id, opts.out.as_deref())?;
    folder.write_scenario(&plan)?;
    let keys = Arc::new(KeySpace::new(
        &plan,
        &format!("{}{run_id}/", plan.data.prefix),
    ));

    let stop = stop_signal();
    let names = plan.targets.iter().map(|t| t.name.clone()).collect();
    let sink = HlogWriter::create(&folder.dir, names, started)?;
    let (recorder, handle) = Recorder::new(Instant::now(), Box::new(sink));
    let updates = recorder.progress();
    let recording = tokio::spawn(recorder.run());
    let mut display = Display::new(opts.quiet);
    display.line(&format!(
        "gatebench {}: results in {}",
        plan.name,
        folder.dir.display()
    ));

    // Open every target (embedded servers, first tokens).
    let mut open: Vec<Option<OpenTarget>> = Vec::new();
    let mut errors: Vec<Option<String>> = vec![None; plan.targets.len()];
    // Direct targets first: an embedded gateway needs its backend's endpoint.
    open.resize_with(plan.targets.len(), || None);
    let mut order: Vec<usize> = (0..plan.targets.len()).collect();
    order.sort_by_key(|&i| setup::storage_of(&plan, i) != i);
    for i in order {
        let spec = &plan.targets[i];
        let storage = open[setup::storage_of(&plan, i)]
            .as_ref()
            .and_then(|t| t.storage.clone());
        match OpenTarget::open(spec, storage.as_ref()).await {
            Ok(t) => {
                if t.kind == "embedded" {
                    display.line(&format!("note ({}): {EMBEDDED_NOTE}", spec.name));
                }
                open[i] = Some(t);
            }
            Err(e) => errors[i] = Some(format!("cannot start: {e:#}")),
        }
    }
    // Seed each storage once.
    let storages = setup::storages(&plan);
    if errors.iter().all(Option::is_none) {
        for &s in &storages {
            if let Some(t) = &open[s]
                && let Err(e) = setup::prepare(&plan, &keys, t, &display).await
            {
                errors[s] = Some(format!("setup failed: {e:#}"));
                break;
            }
        }
    }
    // Drive the load.
    let mut runnables = Vec::new();
    if errors.iter().all(Option::is_none) {
        for (i, spec) in plan.targets.iter().enumerate() {
            let Some(t) = &open[i] else { continue };
            let client = t.client(spec, plan.limits.request_timeout);
            let sequence = OpSequence::new(&plan).map_err(anyhow::Error::msg);
            match client.and_then(|c| Ok((c, sequence?))) {
                Ok((c, s)) => runnables.push(turns::Runnable {
                    index: i,
                    client: Arc::new(c),
                    sequence: Arc::new(Mutex::new(s)),
                    report: EngineReport::default(),
                }),
                Err(e) => errors[i] = Some(format!("{e:#}")),
            }
        }
    }
    if errors.iter().all(Option::is_none) {
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
        if let Some(t) = &open[s] {
            setup::clean_up(&plan, &keys, t, opts.keep_data, &display).await;
        }
    }
    drop(handle);
    display.stop();
    let totals = recording.await?;
    let ended = SystemTime::now();

    let mut reports: Vec<Option<EngineReport>> = vec![None; plan.targets.len()];
    for r in runnables {
        reports[r.index] = Some(r.report);
    }
    let outcomes: Vec<TargetOutcome> = plan
        .targets
        .iter()
        .enumerate()
        .map(|(i, _)| TargetOutcome {
            kind: open[i].as_ref().map_or("unknown", |t| t.kind),
            address: open[i]
                .as_ref()
                .map(|t| t.address.clone())
                .unwrap_or_default(),
            note: open[i]
                .as_ref()
                .filter(|t| t.kind == "embedded")
                .map(|_| EMBEDDED_NOTE),
            report: reports[i].clone(),
            error: errors[i].clone(),
            token: open[i]
                .as_ref()
                .and_then(|t| t.token.as_ref())
                .map(|t| t.stats()),
            storage: setup::storage_of(&plan, i),
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
    let status = match (&error, *stop.borrow()) {
        (Some(_), _) => RunStatus::Failed,
        (None, true) => RunStatus::Interrupted,
        (None, false) => RunStatus::Complete,
    };
    let mut summary = summary::build(
        &plan, &run_id, started, ended, status, error, &outcomes, &totals,
    );
    summary.thresholds = crate::thresholds::evaluate(&plan.thresholds, &summary);
    folder.write_json(results::SUMMARY, &summary)?;
    folder.write_json(results::PROVENANCE, &Provenance::collect(started, ended))?;
    Ok(RunOutput {
        folder: folder.dir,
        summary,
    })
}

/// A flag that turns true on Ctrl-C or SIGTERM; a second Ctrl-C exits at once.
fn stop_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
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
        eprintln!("stopping: writing the results gathered so far (Ctrl-C again to abort)");
        let _ = tx.send(true);
        let _ = tokio::signal::ctrl_c().await;
        std::process::exit(130);
    });
    rx
}
