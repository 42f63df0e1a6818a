//! gatebench: load tests and benchmarks for S3 storage behind an API gateway.
//!
//! `main` parses the command line, loads the scenario and hands over to `run`; it owns
//! exit codes and nothing else.

use std::process::ExitCode;

use clap::Parser;

use gatebench::cli::{BaselineAction, Cli, Command, CompareArgs, RunArgs};
use gatebench::results::summary::RunStatus;
use gatebench::{compare, gateway, idp, probe, report, run, scenario, thresholds, tls};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Run(args) => run_command(args),
        Command::Probe { scenario, json } => probe_command(&scenario, json),
        Command::Gateway(args) => gateway::args::run(args),
        Command::Idp(args) => idp::args::run(args),
        Command::Certs(args) => tls::generate::run(args),
        Command::Report { dir } => match report::recover::rebuild_if_missing(&dir)
            .and_then(|rebuilt| Ok((rebuilt, report::write_report(&dir)?)))
        {
            Ok((rebuilt, files)) => {
                if let Some(summary) = rebuilt {
                    println!("{}", report::verdict::incomplete(&summary));
                    println!(
                        "summary rebuilt: {}",
                        dir.join(gatebench::results::SUMMARY).display()
                    );
                }
                println!("report: {}", files.html.display());
                println!("summary: {}", files.markdown.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot make the report of {}: {e:#}", dir.display());
                ExitCode::from(1)
            }
        },
        Command::Compare(args) => compare_command(&args),
        Command::Baseline {
            action:
                BaselineAction::Save {
                    results,
                    name,
                    dir,
                    force,
                },
        } => match compare::baseline::save(&results, &name, &dir, force) {
            Ok(dest) => {
                println!("baseline saved: {}", dest.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}

fn compare_command(args: &CompareArgs) -> ExitCode {
    let opts = compare::CompareOptions {
        confidence: args.confidence,
        min_effect: args.min_effect,
        min_effect_abs_us: args.min_effect_abs,
        noise_factor: args.noise_factor,
        resamples: args.resamples,
        seed: args.seed,
    };
    match compare::compare_folders(&args.baseline, &args.candidate, &opts) {
        Ok(report) => {
            print!("{}", compare::render::render(&report, args.format));
            if args.fail_on_regression && report.regressions() > 0 {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: cannot compare: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn validate(files: &[std::path::PathBuf]) -> ExitCode {
    let mut ok = true;
    for f in files {
        match scenario::load(f) {
            Ok(plan) => println!(
                "{}: ok ({} targets, {} operations in the mix)",
                f.display(),
                plan.targets.len(),
                plan.mix.len()
            ),
            Err(e) => {
                eprintln!("{e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn probe_command(path: &std::path::Path, json: bool) -> ExitCode {
    let plan = match scenario::load(path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match gatebench::shared::runtime::async_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let result = runtime.block_on(probe::probe(&plan));
    if json {
        println!("{}", probe::render::json(&result));
    } else {
        print!("{}", probe::render::table(&result));
    }
    let verdict = probe::render::verdict(&result);
    match result.first_failure() {
        Some(_) => {
            eprintln!("{verdict}");
            ExitCode::from(1)
        }
        None => {
            if !json {
                println!("{verdict}");
            }
            ExitCode::SUCCESS
        }
    }
}

fn run_command(args: RunArgs) -> ExitCode {
    let mut plan = match scenario::load(&args.scenario) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(d) = args.duration {
        plan.limits.duration = Some(d);
    }
    if let Some(n) = args.ops {
        plan.limits.ops = Some(n);
    }
    if let Some(s) = args.seed {
        plan.seed = s;
    }
    let opts = run::RunOptions {
        results_base: args.results,
        out: args.out,
        keep_data: args.keep_data,
        quiet: args.quiet,
    };
    let runtime = match gatebench::shared::runtime::async_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    if args.repeat > 1 {
        return run_repeated(&runtime, plan, opts, args.repeat, args.json);
    }
    match runtime.block_on(run::run(plan, opts)) {
        Ok(out) => {
            // The report is made from the saved results, exactly as `gatebench report` does.
            let report = report::write_report(&out.folder);
            if let Err(e) = &report {
                eprintln!("warning: the report could not be made: {e:#}");
            }
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out.summary).unwrap_or_default()
                );
            } else {
                print!("{}", report::console::table(&out.summary));
                print!("{}", thresholds::console(&out.summary.thresholds));
                println!("results: {}", out.folder.display());
                if let Ok(files) = &report {
                    println!("report:  {}", files.html.display());
                }
            }
            match out.summary.status {
                RunStatus::Complete if !thresholds::all_passed(&out.summary.thresholds) => {
                    ExitCode::from(3)
                }
                RunStatus::Complete => ExitCode::SUCCESS,
                RunStatus::Interrupted => ExitCode::from(130),
                RunStatus::Failed | RunStatus::Incomplete => {
                    if let Some(e) = &out.summary.error {
                        eprintln!("error: {e}");
                    }
                    ExitCode::from(1)
                }
            }
        }
        Err(e) => {
            eprintln!("error: {}", gatebench::redact::redact(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

fn run_repeated(
    runtime: &tokio::runtime::Runtime,
    plan: gatebench::plan::Plan,
    opts: run::RunOptions,
    n: u32,
    json: bool,
) -> ExitCode {
    let each = |i: u32, out: &run::RunOutput| {
        if json {
            return;
        }
        println!("repetition {i}/{n}: {}", out.folder.display());
        print!("{}", report::console::table(&out.summary));
        print!("{}", thresholds::console(&out.summary.thresholds));
    };
    match runtime.block_on(run::repeat::run_repeated(plan, opts, n, each)) {
        Ok(out) => {
            let index = out
                .folder
                .join(gatebench::results::repetitions::REPETITIONS);
            if json {
                print!("{}", std::fs::read_to_string(&index).unwrap_or_default());
            } else {
                println!(
                    "results: {} ({} repetitions)",
                    out.folder.display(),
                    out.runs.len()
                );
            }
            let status = |s| out.runs.iter().any(|r| r.summary.status == s);
            if status(RunStatus::Failed) {
                if let Some(e) = out.runs.iter().find_map(|r| r.summary.error.as_ref()) {
                    eprintln!("error: {e}");
                }
                ExitCode::from(1)
            } else if status(RunStatus::Interrupted) {
                ExitCode::from(130)
            } else if out
                .runs
                .iter()
                .any(|r| !thresholds::all_passed(&r.summary.thresholds))
            {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {}", gatebench::redact::redact(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}
