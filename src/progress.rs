//! The live progress display: a bar on a terminal, plain lines every few seconds
//! otherwise (CI logs). Reads the recorder's progress updates; never touches results.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::record::{Progress, ProgressCounts};
use crate::shared::units::format_us;

/// Seconds between plain progress lines when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Prints messages and shows progress for the phase that is running.
pub struct Display {
    quiet: bool,
    bar: Option<ProgressBar>,
    ticker: Option<JoinHandle<()>>,
}

impl Display {
    /// A display on stderr; `quiet` shows nothing but errors.
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(ProgressBar::hidden);
        Display {
            quiet,
            bar,
            ticker: None,
        }
    }

    /// Prints one line above the bar (or plainly), unless quiet.
    pub fn line(&self, msg: &str) {
        if self.quiet {
            return;
        }
        let msg = crate::redact::redact(msg);
        match &self.bar {
            Some(bar) => bar.println(msg),
            None => eprintln!("{msg}"),
        }
    }

    /// Starts showing progress of one target's load phase (`target`; `None`: all targets
    /// at once), expected to take `total`.
    pub fn start(
        &mut self,
        label: String,
        target: Option<usize>,
        total: Option<Duration>,
        updates: watch::Receiver<Progress>,
    ) {
        self.stop();
        if self.quiet {
            return;
        }
        let started = Instant::now();
        let ticker = match &self.bar {
            Some(bar) => {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                let len = total.map_or(0, |t| t.as_secs().max(1));
                bar.set_length(len);
                bar.set_position(0);
                let template = if total.is_some() {
                    "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len}s {msg}"
                } else {
                    "{prefix} [{elapsed_precise}] {msg}"
                };
                bar.set_style(
                    ProgressStyle::with_template(template)
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_prefix(label);
                let bar = bar.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_millis(500));
                    loop {
                        tick.tick().await;
                        bar.set_position(started.elapsed().as_secs());
                        bar.set_message(describe(&updates.borrow().of(target)));
                    }
                })
            }
            None => tokio::spawn(async move {
                let mut tick = tokio::time::interval(PLAIN_EVERY);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let total = total.map_or(String::new(), |t| format!("/{}s", t.as_secs()));
                    eprintln!(
                        "{label} {}s{total} {}",
                        started.elapsed().as_secs(),
                        describe(&updates.borrow().of(target))
                    );
                }
            }),
        };
        self.ticker = Some(ticker);
    }

    /// Stops showing progress.
    pub fn stop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.stop();
    }
}

fn describe(p: &ProgressCounts) -> String {
    format!(
        "{} ops/s · {} done · {} failed · p99 {}",
        p.last_second_ops,
        p.completed,
        p.errors,
        if p.p99_us == 0 {
            "-".to_string()
        } else {
            format_us(p.p99_us)
        }
    )
}
