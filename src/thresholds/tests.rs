//! Evaluation of thresholds over a hand-built summary.

use std::collections::BTreeMap;

use super::*;
use crate::plan::threshold::parse;
use crate::plan::{Kind, OpKind};
use crate::results::summary::{
    GatewayOverhead, LoadSummary, OpOverheadDelta, RunStatus, SCHEMA, TurnSummary,
};

fn stats(p50: u64, p99: u64) -> LatencyStats {
    LatencyStats {
        count: 100,
        min: p50 / 2,
        mean: p50 as f64 * 1.1,
        p50,
        p90: (p50 + p99) / 2,
        p99,
        p99_9: p99 + 1,
        p99_99: p99 + 2,
        max: p99 + 3,
    }
}

fn op(kind: OpKind, ok: u64, throttled: u64, p50: u64, p99: u64) -> OpSummary {
    let mut outcomes = BTreeMap::new();
    outcomes.insert(OutcomeClass::Ok, ok);
    if throttled > 0 {
        outcomes.insert(OutcomeClass::Throttled, throttled);
    }
    OpSummary {
        requests: ok + throttled,
        outcomes,
        ops_per_sec: (ok + throttled) as f64 / 10.0,
        ok_ops_per_sec: ok as f64 / 10.0,
        mib_per_sec: 250.0,
        latency_us: (ok > 0).then(|| stats(p50, p99)),
        ..OpSummary::empty(kind)
    }
}

fn target(name: &str, ops: Vec<OpSummary>) -> TargetSummary {
    TargetSummary {
        connections: Default::default(),
        name: name.into(),
        kind: Kind::S3,
        endpoint: String::new(),
        note: None,
        error: None,
        measured_seconds: 10.0,
        cancelled: 0,
        load: LoadSummary {
            executor: "closed-loop".into(),
            max_in_flight: 1,
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

fn summary() -> Summary {
    Summary {
        schema: SCHEMA.into(),
        status: RunStatus::Complete,
        error: None,
        scenario: "s".into(),
        run_id: "s-1".into(),
        started_at: String::new(),
        ended_at: String::new(),
        turns: TurnSummary {
            mode: "alternate".into(),
            window_s: Some(1.0),
        },
        targets: vec![
            target(
                "direct",
                vec![
                    op(OpKind::Get, 1000, 0, 2_000, 10_000),
                    op(OpKind::Put, 500, 0, 5_000, 20_000),
                ],
            ),
            target(
                "gateway",
                vec![
                    op(OpKind::Get, 990, 10, 4_500, 30_000),
                    op(OpKind::Put, 0, 0, 0, 0),
                ],
            ),
        ],
        overheads: vec![GatewayOverhead {
            baseline: "direct".into(),
            candidate: "gateway".into(),
            ops: vec![OpOverheadDelta {
                op: OpKind::Get,
                p50_us: 2_500,
                p90_us: 10_000,
                p99_us: 20_000,
                p99_9_us: 20_000,
                throughput_ratio: Some(0.99),
            }],
        }],
        thresholds: Vec::new(),
        recovery: None,
        shard: None,
        shards: Vec::new(),
        capacity: None,
    }
}

fn eval(exprs: &[&str]) -> Vec<ThresholdResult> {
    let ts: Vec<Threshold> = exprs.iter().map(|e| parse(e).unwrap()).collect();
    evaluate(&ts, &summary())
}

fn one(expr: &str) -> ThresholdResult {
    let mut r = eval(&[expr]);
    assert_eq!(r.len(), 1, "{r:?}");
    r.remove(0)
}

#[test]
fn latency_thresholds_pass_and_fail_on_the_ok_percentiles() {
    let r = one("gateway.get.p99 < 40ms");
    assert_eq!((r.measured, r.passed), (Some(30_000.0), true));
    assert_eq!(r.subject, "gateway.get.p99");
    let r = one("gateway.get.p99 < 30ms");
    assert!(!r.passed, "30ms is not < 30ms");
    assert!(one("gateway.get.p99 <= 30ms").passed);
    assert!(one("direct.get.mean < 2.5ms").passed);
    assert!(!one("direct.get.max < 10ms").passed);
}

#[test]
fn overhead_uses_the_summary_comparisons() {
    let r = one("overhead.get.p50 < 3ms");
    assert_eq!((r.measured, r.passed), (Some(2_500.0), true));
    assert_eq!(r.subject, "overhead(gateway-direct).get.p50");
    assert!(!one("overhead.*.p99 < 3ms").passed);
    let r = one("overhead.put.p50 < 3ms");
    assert_eq!(r.note.as_deref(), Some("no data"));
    assert!(!r.passed);
}

#[test]
fn ratios_and_throughput() {
    let r = one("gateway.get.error_rate < 0.1%");
    assert_eq!(r.measured, Some(0.01));
    assert!(!r.passed);
    assert!(one("gateway.get.error_rate < 2%").passed);
    let r = one("gateway.throttled_ratio < 1%");
    assert_eq!(r.measured, Some(0.01), "10 of 1000 requests");
    assert!(!r.passed);
    assert!(one("direct.throttled_ratio < 1%").passed);
    assert!(one("direct.put.throughput_mibps > 200").passed);
    assert!(!one("direct.put.throughput_mibps > 300").passed);
    assert_eq!(one("direct.throughput > 149").measured, Some(150.0));
    assert_eq!(one("gateway.get.ops_per_sec > 99").measured, Some(100.0));
    assert_eq!(one("gateway.get.throughput > 99").measured, Some(99.0));
}

#[test]
fn wildcards_expand_to_one_result_per_subject() {
    let r = eval(&["*.*.error_rate < 5%"]);
    let subjects: Vec<&str> = r.iter().map(|r| r.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "direct.get.error_rate",
            "direct.put.error_rate",
            "gateway.get.error_rate",
            "gateway.put.error_rate",
        ]
    );
    // gateway put made no requests: no data fails.
    assert!(r[..3].iter().all(|r| r.passed));
    assert_eq!(r[3].note.as_deref(), Some("no data"));
    assert!(!all_passed(&r));
}

#[test]
fn a_metric_without_data_fails_with_no_data() {
    for expr in [
        "gateway.put.p50 < 1s",
        "gateway.delete.p50 < 1s",
        "missing.get.p50 < 1s",
        "missing.throughput > 0",
    ] {
        let r = one(expr);
        assert!(!r.passed, "{expr}");
        assert_eq!(r.measured, None, "{expr}");
        assert_eq!(r.note.as_deref(), Some("no data"), "{expr}");
    }
}

#[test]
fn names_are_checked_against_the_scenario() {
    let t = parse("gateway.get.p99 < 40ms").unwrap();
    assert!(
        t.check_names(&["direct", "gateway"], &[OpKind::Get], true)
            .is_ok()
    );
    let e = t
        .check_names(&["direct"], &[OpKind::Get], false)
        .unwrap_err();
    assert_eq!(e.position, 0);
    assert!(e.reason.contains("no target \"gateway\""), "{e}");
    let e = t
        .check_names(&["gateway"], &[OpKind::Put], false)
        .unwrap_err();
    assert_eq!(e.position, 8);
    let t = parse("overhead.get.p50 < 3ms").unwrap();
    assert!(
        t.check_names(&["direct"], &[OpKind::Get], false)
            .unwrap_err()
            .reason
            .contains("no gateway target")
    );
}

#[test]
fn renderings_name_every_rule() {
    let r = eval(&["gateway.get.p99 < 40ms", "gateway.put.p50 < 1ms"]);
    let c = console(&r);
    assert!(c.contains("1 passed, 1 failed"), "{c}");
    assert!(c.contains("PASS  gateway.get.p99"), "{c}");
    assert!(c.contains("no data"), "{c}");
    let md = thresholds_markdown(&r);
    assert!(md.starts_with("| result | rule |"), "{md}");
    assert!(
        md.contains("| ✅ pass | `gateway.get.p99 < 40ms` | gateway.get.p99 | 30.00ms |"),
        "{md}"
    );
    assert!(md.contains("❌ fail"), "{md}");
    assert_eq!(thresholds_markdown(&[]), "");
}

/// Expressions the fuzz starts from: one of each form.
const WELL_FORMED: &[&str] = &[
    "gateway.get.p99 < 40ms",
    "*.put.p50 <= 3.5 ms",
    "rgw.*.error_rate < 1%",
    "apim.throttled_ratio >= 0.5%",
    "overhead.get.p50 < 3ms",
    "rgw.throughput_mibps > 100",
    "gw.head.p99_9 < 1s",
    "gw.list.max < 250000us",
];

/// A character-level edit of an expression.
#[derive(Debug, Clone)]
enum Edit {
    Insert(proptest::sample::Index, char),
    Remove(proptest::sample::Index),
    Repeat(proptest::sample::Index, usize),
}

fn edit(expression: &str, e: &Edit) -> String {
    let mut chars: Vec<char> = expression.chars().collect();
    let at = |i: &proptest::sample::Index| i.index(chars.len() + 1);
    match e {
        Edit::Insert(i, c) => chars.insert(at(i), *c),
        Edit::Remove(i) if !chars.is_empty() => {
            chars.remove(at(i).min(chars.len() - 1));
        }
        Edit::Remove(_) => {}
        Edit::Repeat(i, n) => {
            let from = at(i);
            let tail: Vec<char> = chars[from..].iter().copied().take(*n).collect();
            chars.splice(from..from, tail);
        }
    }
    chars.into_iter().collect()
}

#[test]
fn fuzz_mutated_expressions_never_panic_and_errors_point_inside_them() {
    use proptest::prelude::*;
    let odd_char = prop_oneof![
        prop::sample::select(
            &[
                '.', '*', '<', '=', '>', '%', ' ', '9', 'e', '-', 'µ', '\u{0}'
            ][..]
        ),
        any::<char>(),
    ];
    let one_edit = prop_oneof![
        (any::<proptest::sample::Index>(), odd_char).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<proptest::sample::Index>().prop_map(Edit::Remove),
        (any::<proptest::sample::Index>(), 1..40usize).prop_map(|(i, n)| Edit::Repeat(i, n)),
    ];
    let mutated = (
        prop::sample::select(WELL_FORMED),
        prop::collection::vec(one_edit, 0..6),
    )
        .prop_map(|(e, edits)| edits.iter().fold(e.to_string(), |t, x| edit(&t, x)));
    let expressions = prop_oneof![3 => mutated, 1 => "\\PC{0,40}"];
    let cases = crate::scenario::fuzz::cases();
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..Default::default()
    });
    let started = std::time::Instant::now();
    let result = runner.run(&expressions, |expression| {
        let len = expression.chars().count();
        let checked = parse(&expression).and_then(|t| {
            t.check_names(&["gateway", "rgw"], &[OpKind::Get, OpKind::Put], true)
                .map(|()| t)
        });
        if let Err(e) = checked {
            prop_assert!(e.position <= len, "{expression:?}: {e}");
            prop_assert!(!e.reason.is_empty());
        }
        Ok(())
    });
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "threshold fuzz: {cases} cases in {elapsed:.2}s, {:.0}/s",
        f64::from(cases) / elapsed
    );
    result.unwrap();
}
