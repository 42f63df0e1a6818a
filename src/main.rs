//! gatebench: load tests and benchmarks for S3 storage behind an API gateway.
//!
//! `main` parses the command line, loads the scenario and hands over to `run`; it owns
//! exit codes and nothing else.

use std::process::ExitCode;

use clap::Parser;

use gatebench::cli::{Cli, Command, RunArgs};
use gatebench::results::summary::RunStatus;
use gatebench::{gateway, idp, report, run, scenario};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Run(args) => run_command(args),
        Command::Gateway(args) => gateway::args::run(args),
        Command::Idp(args) => idp::args::run(args),
        Command::Report { dir } => match report::write_report(&dir) {
            Ok(files) => {
                println!("report: {}", files.html.display());
                println!("summary: {}", files.markdown.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot make the report of {}: {e:#}", dir.display());
                ExitCode::from(1)
            }
        },
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
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
                println!("results: {}", out.folder.display());
                if let Ok(files) = &report {
                    println!("report:  {}", files.html.display());
                }
            }
            match out.summary.status {
                RunStatus::Complete => ExitCode::SUCCESS,
                RunStatus::Interrupted => ExitCode::from(130),
                RunStatus::Failed => {
                    if let Some(e) = &out.summary.error {
                        eprintln!("error: {e}");
                    }
                    ExitCode::from(1)
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
