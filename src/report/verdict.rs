//! The plain-language verdict: a few sentences computed from the summary and the
//! per-second series (throughput, gateway overhead and how much of it the gateway
//! reports as its own processing, what the cache bought, when
//! throttling began, what failed and when: the window of an outage and when requests
//! were ok again).
//!
//! Owns wording only; numbers come from `overhead`, the summary and the series (the
//! server-timing sentence is `attribution`'s, next to its numbers).

use std::collections::BTreeMap;

use crate::plan::OpKind;
use crate::record::{CacheClass, OutcomeClass};
use crate::report::attribution;
use crate::report::overhead::{self, Overheads};
use crate::report::series::{FailureWindow, TargetSeries};
use crate::results::summary::{OpSummary, RunStatus, Summary, TargetSummary};

/// `0.42 ms`, `6.1 ms`, `250 ms`.
pub fn fmt_ms(ms: f64) -> String {
    let a = ms.abs();
    if a < 1.0 {
        format!("{ms:.2} ms")
    } else if a < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// What a rebuilt summary of a killed run covers.
pub fn incomplete(summary: &Summary) -> String {
    format!(
        "The run was killed before it ended (incomplete): this summary was rebuilt from \
         its interval logs and covers {}; thresholds were not evaluated.",
        summary
            .recovery
            .as_ref()
            .map_or("what they hold".to_string(), |r| r.covered())
    )
}

/// Failure classes whose requests the verdict places in time (outages), rather than
/// only counting them.
const WINDOWED: [OutcomeClass; 2] = [OutcomeClass::ServerError, OutcomeClass::Transport];

/// The verdict sentences. `series` holds the per-second series by target name.
pub fn verdict(summary: &Summary, series: &BTreeMap<String, TargetSeries>) -> Vec<String> {
    let mut out: Vec<String> = status(summary).into_iter().collect();
    out.extend(summary.targets.iter().map(throughput));
    if summary.capacity.is_some() {
        // Each target's latencies pool every step of its own search: the knees compare
        // the paths, the pooled percentiles do not.
        out.extend(super::capacity::verdict(summary));
    } else {
        out.extend(gateway_overhead(summary));
        if let Overheads::Pairs(pairs) = overhead::overheads(summary) {
            out.extend(
                pairs
                    .iter()
                    .filter_map(|p| attribution::overhead_sentence(p, summary)),
            );
        }
    }
    for t in &summary.targets {
        out.extend(t.ops.iter().filter_map(|op| cache_effect(t, op)));
    }
    let mut throttled_any = false;
    for t in &summary.targets {
        let t_series = series.get(&t.name);
        if let Some(sentence) = throttling(t, t_series) {
            throttled_any = true;
            out.push(sentence);
        }
        out.extend(failures(t, t_series));
    }
    if !throttled_any && !summary.targets.is_empty() {
        out.push("No request was throttled.".into());
    }
    out
}

/// How the run ended, unless it completed.
fn status(summary: &Summary) -> Option<String> {
    match summary.status {
        RunStatus::Complete => None,
        RunStatus::Interrupted => {
            Some("The run was interrupted: these results cover only part of it.".into())
        }
        RunStatus::Failed => Some(format!(
            "The run failed{}.",
            summary
                .error
                .as_ref()
                .map_or(String::new(), |e| format!(": {e}"))
        )),
        RunStatus::Incomplete => Some(incomplete(summary)),
    }
}

/// `direct completed 1200 requests in 10 s: 118 ok ops/s.`; journeys (which are not
/// requests of their own) are counted apart: `… 320 requests and 80 journeys in …`.
fn throughput(t: &TargetSummary) -> String {
    let (journeys, requests): (Vec<_>, Vec<_>) =
        t.ops.iter().partition(|o| o.op == OpKind::Journey);
    let count: u64 = requests.iter().map(|o| o.requests).sum();
    let ok_rate: f64 = requests.iter().map(|o| o.ok_ops_per_sec).sum();
    let journeys = match journeys.iter().map(|o| o.requests).sum::<u64>() {
        0 => String::new(),
        n => format!(" and {n} journeys"),
    };
    format!(
        "{} completed {count} requests{journeys} in {:.0} s: {ok_rate:.0} ok ops/s.",
        t.name, t.measured_seconds
    )
}

/// What each gateway adds (or saves) at p50 and p99 per operation, or why nothing is
/// compared.
fn gateway_overhead(summary: &Summary) -> Vec<String> {
    match overhead::overheads(summary) {
        Overheads::NoGateway => {
            vec!["No gateway target in this run, so no gateway overhead is measured.".into()]
        }
        Overheads::NoBaseline => {
            vec!["No s3 or embedded target in this run to compare the gateway with.".into()]
        }
        Overheads::Pairs(pairs) => pairs
            .iter()
            .map(|p| {
                let (d50, d99) = (p.delta_ms(0), p.delta_ms(2));
                let verb = |d: f64| if d >= 0.0 { "adds" } else { "saves" };
                let second = if verb(d50) == verb(d99) {
                    fmt_ms(d99.abs())
                } else {
                    format!("{} {}", verb(d99), fmt_ms(d99.abs()))
                };
                format!(
                    "{} {} {} at p50 and {second} at p99 on {} compared with {}.",
                    p.candidate,
                    verb(d50),
                    fmt_ms(d50.abs()),
                    p.op.name().to_uppercase(),
                    p.baseline
                )
            })
            .collect(),
    }
}

/// The cache hit ratio of one operation and what hits bought, if it had a cache.
fn cache_effect(t: &TargetSummary, op: &OpSummary) -> Option<String> {
    let ratio = op.cache_hit_ratio?;
    let p50 = |c| {
        op.cache
            .get(&c)
            .and_then(|s| s.as_ref())
            .map(|s| s.p50 as f64 / 1000.0)
    };
    let pct = (ratio * 100.0).round();
    let name = op.op.name().to_uppercase();
    Some(match (p50(CacheClass::Hit), p50(CacheClass::Miss)) {
        (Some(hit), Some(miss)) if hit < miss => format!(
            "{pct:.0}% cache hit ratio on {name} at {} cut p50 from {} (misses) to {} (hits).",
            t.name,
            fmt_ms(miss),
            fmt_ms(hit)
        ),
        (Some(hit), Some(miss)) => format!(
            "{pct:.0}% cache hit ratio on {name} at {}, but hits were not faster: p50 {} (hits), {} (misses).",
            t.name,
            fmt_ms(hit),
            fmt_ms(miss)
        ),
        _ => format!("{pct:.0}% cache hit ratio on {name} at {}.", t.name),
    })
}

/// Requests of `class` on `t`, every operation.
fn outcome_count(t: &TargetSummary, class: OutcomeClass) -> u64 {
    t.ops
        .iter()
        .map(|o| o.outcomes.get(&class).copied().unwrap_or(0))
        .sum()
}

/// How many requests on `t` were throttled and when throttling began, if any were.
fn throttling(t: &TargetSummary, t_series: Option<&TargetSeries>) -> Option<String> {
    let throttled = outcome_count(t, OutcomeClass::Throttled);
    if throttled == 0 {
        return None;
    }
    let requests: u64 = t.ops.iter().map(|o| o.requests).sum();
    let share = 100.0 * throttled as f64 / requests.max(1) as f64;
    Some(match t_series.and_then(|s| s.throttle_onset()) {
        Some(on) => format!(
            "Throttling on {} began at {} s at ~{:.0} ops/s; {throttled} requests ({share:.1}%) were throttled.",
            t.name, on.at_s, on.ops_per_sec
        ),
        None => format!(
            "{throttled} requests ({share:.1}%) on {} were throttled.",
            t.name
        ),
    })
}

/// The other failures on `t`: outages placed in time (one sentence each class), then
/// the rest counted in one sentence.
fn failures(t: &TargetSummary, t_series: Option<&TargetSeries>) -> Vec<String> {
    let mut out = Vec::new();
    let mut counted = Vec::new();
    for c in [
        OutcomeClass::ClientError,
        OutcomeClass::AuthFailure,
        OutcomeClass::Quota,
        OutcomeClass::ServerError,
        OutcomeClass::Transport,
    ] {
        let n = outcome_count(t, c);
        if n == 0 {
            continue;
        }
        let windows = match t_series {
            Some(s) if WINDOWED.contains(&c) => s.windows(c),
            _ => Vec::new(),
        };
        if windows.is_empty() {
            counted.push(format!("{n} {}", c.name()));
        } else {
            out.push(failure_windows(t, c, n, &windows));
        }
    }
    if !counted.is_empty() {
        out.push(format!(
            "Other failures on {}: {}.",
            t.name,
            counted.join(", ")
        ));
    }
    out
}

/// `rgw: 38 transport errors (36 could not connect, 2 reset) between 4 s and 7 s, ok
/// again from 7 s.`, or with several windows, each with its own count.
fn failure_windows(
    t: &TargetSummary,
    class: OutcomeClass,
    count: u64,
    windows: &[FailureWindow],
) -> String {
    let what = match class {
        OutcomeClass::Transport => {
            let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
            for op in &t.ops {
                for (kind, n) in &op.transport_errors {
                    *kinds.entry(kind.as_str()).or_default() += n;
                }
            }
            let kinds: Vec<String> = kinds
                .into_iter()
                .map(|(kind, n)| match kind {
                    "connect" => format!("{n} could not connect"),
                    "reset" => format!("{n} reset"),
                    "timeout" => format!("{n} timed out"),
                    other => format!("{n} {other}"),
                })
                .collect();
            format!("transport errors ({})", kinds.join(", "))
        }
        OutcomeClass::ServerError => "server errors (5xx)".to_string(),
        other => other.name().to_string(),
    };
    let several = windows.len() > 1;
    let spans: Vec<String> = windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let n = if several {
                format!("{} ", w.count)
            } else {
                String::new()
            };
            let after = match w.ok_again_s {
                Some(at) => format!(", ok again from {at} s"),
                None if i + 1 == windows.len() => ", no ok request after it".to_string(),
                None => String::new(),
            };
            format!("{n}between {} s and {} s{after}", w.from_s, w.to_s)
        })
        .collect();
    let sep = if several { ": " } else { " " };
    format!("{}: {count} {what}{sep}{}.", t.name, spans.join("; "))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::plan::{Kind, OpKind};
    use crate::record::CacheClass;
    use crate::report::series::Second;
    use crate::results::summary::{LatencyStats, LoadSummary, OpSummary, TargetSummary};

    /// Latency stats with the given p50/p90/p99/p99.9 (µs).
    pub(crate) fn stats(count: u64, p: [u64; 4]) -> LatencyStats {
        LatencyStats {
            count,
            min: p[0] / 2,
            mean: p[0] as f64,
            p50: p[0],
            p90: p[1],
            p99: p[2],
            p99_9: p[3],
            p99_99: p[3],
            max: p[3] * 2,
        }
    }

    /// An op entry with `ok` and `throttled` requests over 10 s.
    pub(crate) fn op(op: OpKind, ok: u64, throttled: u64, lat: [u64; 4]) -> OpSummary {
        let mut outcomes = BTreeMap::from([(OutcomeClass::Ok, ok)]);
        if throttled > 0 {
            outcomes.insert(OutcomeClass::Throttled, throttled);
        }
        OpSummary {
            requests: ok + throttled,
            outcomes,
            ops_per_sec: (ok + throttled) as f64 / 10.0,
            ok_ops_per_sec: ok as f64 / 10.0,
            bytes_down: 4096 * ok,
            mib_per_sec: 4096.0 * ok as f64 / 10.0 / 1048576.0,
            latency_us: Some(stats(ok, lat)),
            ..OpSummary::empty(op)
        }
    }

    /// A target entry.
    pub(crate) fn target(name: &str, kind: Kind, ops: Vec<OpSummary>) -> TargetSummary {
        TargetSummary {
            connections: Default::default(),
            name: name.into(),
            kind,
            endpoint: "http://127.0.0.1:1".into(),
            note: None,
            error: None,
            measured_seconds: 10.0,
            cancelled: 0,
            load: LoadSummary {
                executor: "constant-arrival-rate".into(),
                max_in_flight: 64,
                phases: Vec::new(),
                schedule: None,
            },
            auth: None,
            throttle: None,
            ops,
            slowest_requests: Vec::new(),
            by_client: Vec::new(),
        }
    }

    /// A complete summary of `targets`.
    pub(crate) fn summary(targets: Vec<TargetSummary>) -> Summary {
        Summary {
            schema: crate::results::summary::SCHEMA.into(),
            status: RunStatus::Complete,
            error: None,
            scenario: "test".into(),
            run_id: "test-1".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            ended_at: "2026-01-01T00:01:00Z".into(),
            turns: crate::results::summary::TurnSummary {
                mode: "alternate".into(),
                window_s: Some(10.0),
            },
            targets,
            overheads: Vec::new(),
            thresholds: Vec::new(),
            recovery: None,
            shard: None,
            shards: Vec::new(),
            capacity: None,
        }
    }

    #[test]
    fn the_verdict_states_overhead_cache_and_throttling() {
        let mut gw_get = op(OpKind::Get, 9000, 1000, [3000, 5000, 10100, 20000]);
        gw_get.cache_hit_ratio = Some(0.62);
        gw_get.cache = BTreeMap::from([
            (CacheClass::Hit, Some(stats(5580, [400, 600, 900, 1000]))),
            (
                CacheClass::Miss,
                Some(stats(3420, [3100, 5000, 9000, 10000])),
            ),
        ]);
        let s = summary(vec![
            target(
                "direct",
                Kind::S3,
                vec![op(OpKind::Get, 10000, 0, [1200, 2000, 4000, 8000])],
            ),
            target(
                "apim",
                Kind::Gateway,
                vec![
                    gw_get,
                    // Faster at p50 through the gateway, slower at p99.
                    op(OpKind::Head, 100, 0, [800, 900, 5000, 6000]),
                ],
            ),
        ]);
        // Throttling began in second 14, when 503 requests completed.
        let mut apim = TargetSeries::default();
        apim.seconds.resize(15, Second::default());
        apim.seconds[14] = Second {
            requests: 503,
            by_class: BTreeMap::from([(OutcomeClass::Ok, 500), (OutcomeClass::Throttled, 3)]),
            ..Second::default()
        };
        let v = verdict(&s, &BTreeMap::from([("apim".to_string(), apim)]));
        let all = v.join("\n");
        assert!(
            v.contains(
                &"apim adds 1.8 ms at p50 and 6.1 ms at p99 on GET compared with direct.".into()
            ),
            "{all}"
        );
        assert!(
            v.contains(&"62% cache hit ratio on GET at apim cut p50 from 3.1 ms (misses) to 0.40 ms (hits).".into()),
            "{all}"
        );
        assert!(
            v.contains(&"Throttling on apim began at 14 s at ~503 ops/s; 1000 requests (9.9%) were throttled.".into()),
            "{all}"
        );
        assert!(
            v.contains(&"direct completed 10000 requests in 10 s: 1000 ok ops/s.".into()),
            "{all}"
        );
        // HEAD has no baseline entry: no overhead sentence for it.
        assert!(!all.contains("on HEAD"), "{all}");
        assert!(!all.contains("No request was throttled"), "{all}");
    }

    #[test]
    fn the_verdict_says_when_there_is_nothing_to_compare() {
        let s = summary(vec![target(
            "embedded",
            Kind::Embedded,
            vec![op(OpKind::Get, 100, 0, [500, 900, 1500, 3000])],
        )]);
        let v = verdict(&s, &BTreeMap::new());
        assert!(
            v.iter().any(|l| l.starts_with("No gateway target")),
            "{v:?}"
        );
        assert!(v.contains(&"No request was throttled.".into()), "{v:?}");

        let mut s = summary(vec![target("apim", Kind::Gateway, Vec::new())]);
        s.status = RunStatus::Failed;
        s.error = Some("connection refused".into());
        let v = verdict(&s, &BTreeMap::new());
        assert_eq!(v[0], "The run failed: connection refused.");
        assert!(
            v.iter().any(|l| l.starts_with("No s3 or embedded")),
            "{v:?}"
        );
    }

    /// A journey is not a request: the throughput sentence counts journeys apart.
    #[test]
    fn journeys_are_counted_apart_from_requests() {
        let s = summary(vec![target(
            "local",
            Kind::Embedded,
            vec![
                op(OpKind::List, 80, 0, [500, 900, 1500, 3000]),
                op(OpKind::Get, 240, 0, [500, 900, 1500, 3000]),
                op(OpKind::Journey, 80, 0, [5000, 9000, 15000, 30000]),
            ],
        )]);
        let v = verdict(&s, &BTreeMap::new());
        assert!(
            v.contains(
                &"local completed 320 requests and 80 journeys in 10 s: 32 ok ops/s.".into()
            ),
            "{v:?}"
        );
    }

    /// A series of `(ok, transport)` requests per second.
    fn outage(seconds: &[(u64, u64)]) -> TargetSeries {
        TargetSeries {
            first_second: 0,
            seconds: seconds
                .iter()
                .map(|&(ok, transport)| Second {
                    requests: ok + transport,
                    by_class: BTreeMap::from([
                        (OutcomeClass::Ok, ok),
                        (OutcomeClass::Transport, transport),
                    ]),
                    ..Second::default()
                })
                .collect(),
        }
    }

    #[test]
    fn the_verdict_names_the_window_of_an_outage() {
        let mut get = op(OpKind::Get, 500, 0, [900, 1500, 3000, 5000]);
        get.requests += 38;
        get.outcomes.insert(OutcomeClass::Transport, 38);
        get.transport_errors = BTreeMap::from([("connect".into(), 36), ("reset".into(), 2)]);
        let s = summary(vec![target("rgw", Kind::S3, vec![get.clone()])]);
        let series =
            |seconds: &[(u64, u64)]| BTreeMap::from([("rgw".to_string(), outage(seconds))]);

        let one = series(&[
            (90, 0),
            (80, 0),
            (70, 0),
            (5, 2),
            (0, 30),
            (0, 6),
            (0, 0),
            (100, 0),
        ]);
        let v = verdict(&s, &one);
        assert!(
            v.contains(&"rgw: 38 transport errors (36 could not connect, 2 reset) between 3 s and 6 s, ok again from 7 s.".into()),
            "{v:#?}"
        );
        assert!(!v.iter().any(|l| l.starts_with("Other failures")), "{v:#?}");

        let two = series(&[(90, 0), (0, 30), (80, 0), (0, 8)]);
        let v = verdict(&s, &two);
        assert!(
            v.contains(&"rgw: 38 transport errors (36 could not connect, 2 reset): 30 between 1 s and 2 s, ok again from 2 s; 8 between 3 s and 4 s, no ok request after it.".into()),
            "{v:#?}"
        );

        // Without a series for the target, the failures are only counted.
        let v = verdict(&s, &BTreeMap::new());
        assert!(
            v.contains(&"Other failures on rgw: 38 transport.".into()),
            "{v:#?}"
        );
    }

    #[test]
    fn a_faster_gateway_is_said_to_save_time() {
        let s = summary(vec![
            target(
                "direct",
                Kind::S3,
                vec![op(OpKind::Get, 10, 0, [2000, 3000, 9000, 9000])],
            ),
            target(
                "apim",
                Kind::Gateway,
                vec![op(OpKind::Get, 10, 0, [1500, 3000, 12000, 12000])],
            ),
        ]);
        let v = verdict(&s, &BTreeMap::new());
        assert!(
            v.contains(
                &"apim saves 0.50 ms at p50 and adds 3.0 ms at p99 on GET compared with direct."
                    .into()
            ),
            "{v:?}"
        );
    }
}
