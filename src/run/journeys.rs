//! Drives a journeys run (`executor = "journeys"`): one target after another, each
//! sent all `users × iterations` journeys by goose; goose's own HTML report of each
//! target goes into the results folder beside gatebench's (`goose.html`, or
//! `goose-TARGET.html` with several targets).

use std::path::Path;

use super::turns::{Context, Runnable};
use crate::engine::journeys::{self, JourneySettings};
use crate::plan::journey::{JourneyLoad, KeyChoice};
use crate::progress::Display;

/// Runs `load` against each of `targets` (whose addresses are `hosts`, by plan index),
/// goose's reports in `dir`; the targets whose journeys could not run, with why.
pub async fn run_all(
    cx: &Context<'_>,
    load: &JourneyLoad,
    targets: &mut [Runnable],
    hosts: &[Option<String>],
    dir: &Path,
    display: &mut Display,
) -> Vec<(usize, String)> {
    let mut failed = Vec::new();
    let choice = match KeyChoice::new(cx.plan, load.iterations) {
        Ok(c) => c,
        Err(e) => {
            return targets.iter().map(|t| (t.index, e.clone())).collect();
        }
    };
    let several = cx.plan.targets.len() > 1;
    for t in targets.iter_mut() {
        if *cx.stop.borrow() {
            break;
        }
        let name = &cx.plan.targets[t.index].name;
        let report = if several {
            dir.join(format!("goose-{name}.html"))
        } else {
            dir.join("goose.html")
        };
        let settings = JourneySettings {
            target: t.index,
            load: load.clone(),
            choice: choice.clone(),
            warmup: cx.plan.limits.warmup,
            duration: cx.plan.limits.duration,
            host: hosts.get(t.index).cloned().flatten().unwrap_or_default(),
            report,
            trace: cx.trace.clone(),
        };
        display.start(
            format!(
                "[{name}: {} journeys of {} users]",
                load.journeys_per_target(),
                load.users
            ),
            Some(t.index),
            cx.plan.limits.duration.map(|d| d + cx.plan.limits.warmup),
            cx.updates.clone(),
        );
        let ran = journeys::run(
            settings,
            t.client.clone(),
            t.keys.clone(),
            cx.recorder,
            cx.stop.clone(),
        )
        .await;
        display.stop();
        match ran {
            Ok(report) => t.report.add(&report),
            Err(e) => failed.push((t.index, format!("journeys (goose): {e:#}"))),
        }
    }
    failed
}
