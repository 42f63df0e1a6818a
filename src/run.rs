//! One `gatebench run`: sets up each target, drives the engine, and writes results.
//!
//! Data flows one way: Plan → (targets set up) → engine → recorder → results folder →
//! console table. Results are written whatever happens: a failed setup, an
//! unreachable target or an interruption all end in a summary that says so.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::watch;

use crate::engine::{self, EngineReport, EngineSettings};
use crate::plan::Plan;
use crate::plan::sequence::OpSequence;
use crate::progress::Display;
use crate::record::Recorder;
use crate::results::hlog::HlogWriter;
use crate::results::summary::{
    self, LoadSummary, RunStatus, ScheduleSummary, Summary, TargetSummary,
};
use crate::results::{self, Provenance, RunFolder};
use crate::target::{Admin, KeySpace, OpenTarget, S3Client};

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

/// Everything known about one target after its turn.
struct TargetRun {
    open: Option<(String, String)>,
    report: EngineReport,
    error: Option<String>,
}

/// Runs `plan` against each of its targets in turn and writes the results folder.
pub async fn run(plan: Plan, opts: RunOptions) -> anyhow::Result<RunOutput> {
    let started = SystemTime::now();
    let run_id = format!("{}-{}", plan.name, results::compact_timestamp(started));
    let folder = RunFolder::create(&opts.results_base, &run_id, opts.out.as_deref())?;
    folder.write_scenario(&plan)?;
    let run_prefix = format!("{}{run_id}/", plan.data.prefix);
    let keys = Arc::new(KeySpace::new(&plan, &run_prefix));

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

    let mut runs = Vec::new();
    for (index, spec) in plan.targets.iter().enumerate() {
        if *stop.borrow() {
            break;
        }
        let run = run_target(
            &plan,
            index,
            &keys,
            &opts,
            &handle,
            &stop,
            &mut display,
            updates.clone(),
        )
        .await;
        let failed = run.error.is_some();
        runs.push(run);
        if failed {
            display.line(&format!(
                "target {} failed; later targets are skipped",
                spec.name
            ));
            break;
        }
    }
    drop(handle);
    display.stop();
    let totals = recording.await?;
    let ended = SystemTime::now();

    let interrupted = *stop.borrow();
    let mut targets = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        let (kind, endpoint) = run
            .open
            .clone()
            .unwrap_or_else(|| ("unknown".into(), String::new()));
        let measured = run.report.steady_elapsed;
        let ops = summary::steady_series(totals.series.iter(), index)
            .iter()
            .map(|(op, by_class)| summary::op_summary(*op, by_class, measured))
            .collect();
        targets.push(TargetSummary {
            name: plan.targets[index].name.clone(),
            note: (kind == "embedded").then(|| EMBEDDED_NOTE.to_string()),
            kind,
            endpoint,
            error: run.error.clone(),
            measured_seconds: (measured.as_secs_f64() * 1000.0).round() / 1000.0,
            cancelled: run.report.cancelled,
            load: LoadSummary {
                executor: plan.load.executor().to_string(),
                max_in_flight: plan.load.max_in_flight(),
                phases: plan.load.phases(&plan.limits),
                schedule: run.report.schedule.as_ref().map(ScheduleSummary::of),
            },
            ops,
        });
    }
    let error = runs
        .iter()
        .zip(&plan.targets)
        .find_map(|(r, t)| r.error.as_ref().map(|e| format!("target {}: {e}", t.name)))
        .or_else(|| {
            totals
                .sink_error
                .as_ref()
                .map(|e| format!("writing interval logs: {e}"))
        });
    let status = if error.is_some() {
        RunStatus::Failed
    } else if interrupted {
        RunStatus::Interrupted
    } else {
        RunStatus::Complete
    };
    let summary = Summary {
        schema: summary::SCHEMA.to_string(),
        status,
        error,
        scenario: plan.name.clone(),
        run_id,
        started_at: results::timestamp(started),
        ended_at: results::timestamp(ended),
        targets,
    };
    folder.write_json(results::SUMMARY, &summary)?;
    folder.write_json(results::PROVENANCE, &Provenance::collect(started, ended))?;
    Ok(RunOutput {
        folder: folder.dir,
        summary,
    })
}

/// Sets up one target, runs the load against it and cleans up after it.
#[allow(clippy::too_many_arguments)]
async fn run_target(
    plan: &Plan,
    index: usize,
    keys: &Arc<KeySpace>,
    opts: &RunOptions,
    handle: &crate::record::RecordHandle,
    stop: &watch::Receiver<bool>,
    display: &mut Display,
    updates: watch::Receiver<crate::record::Progress>,
) -> TargetRun {
    let spec = &plan.targets[index];
    let mut run = TargetRun {
        open: None,
        report: EngineReport::default(),
        error: None,
    };
    let target = match OpenTarget::open(spec).await {
        Ok(t) => t,
        Err(e) => {
            run.error = Some(format!("cannot start: {e:#}"));
            return run;
        }
    };
    run.open = Some((target.kind.to_string(), target.endpoint.endpoint.clone()));
    if target.kind == "embedded" {
        display.line(&format!("note: {EMBEDDED_NOTE}"));
    }
    let admin = Admin::new(&target.endpoint);
    let setup = async {
        admin.ensure_buckets(&plan.data.buckets).await?;
        let objects = keys.seed_objects(plan)?;
        if !objects.is_empty() {
            let bytes: u64 = objects.iter().map(|o| o.2).sum();
            display.line(&format!(
                "[{}] seeding {} objects ({}) under {}",
                spec.name,
                objects.len(),
                bytesize::ByteSize(bytes),
                keys.run_prefix()
            ));
            admin.put_objects(objects).await?;
        }
        anyhow::Ok(())
    };
    if let Err(e) = setup.await {
        run.error = Some(format!("setup failed: {e:#}"));
        return run;
    }
    let client = match S3Client::new(
        &target.endpoint,
        plan.load.max_in_flight(),
        plan.limits.request_timeout,
    ) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            run.error = Some(format!("cannot make a client: {e:#}"));
            return run;
        }
    };
    let sequence = match OpSequence::new(plan) {
        Ok(s) => s,
        Err(e) => {
            run.error = Some(e);
            return run;
        }
    };
    let settings = EngineSettings {
        target: index,
        load: plan.load.clone(),
        warmup: plan.limits.warmup,
        duration: plan.limits.duration,
        ops: plan.limits.ops,
        seed: plan.seed,
    };
    let total = plan.limits.duration.map(|d| d + plan.limits.warmup);
    display.start(format!("[{}]", spec.name), total, updates);
    run.report = engine::run(
        settings,
        client,
        keys.clone(),
        sequence,
        handle,
        stop.clone(),
    )
    .await;
    display.stop();
    if opts.keep_data {
        display.line(&format!(
            "[{}] kept objects under {}",
            spec.name,
            keys.run_prefix()
        ));
    } else {
        match admin
            .delete_prefix(&plan.data.buckets, keys.run_prefix())
            .await
        {
            Ok(n) => display.line(&format!(
                "[{}] cleaned up {n} objects under {}",
                spec.name,
                keys.run_prefix()
            )),
            Err(e) => display.line(&format!(
                "[{}] warning: clean-up incomplete: {e:#}",
                spec.name
            )),
        }
    }
    run
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
