//! The capacity search in words and a table (summary.json's `capacity`): each target's
//! knee, what share of its direct target's capacity a gateway leaves, and one row per
//! step. Shared by the console, `report.html` and `summary.md`; cells are formatted, not
//! escaped (each format escapes).

use crate::plan::capacity::{Knee, KneeReason};
use crate::report::table::Table;
use crate::report::verdict::fmt_ms;
use crate::results::capacity::CapacitySummary;
use crate::results::summary::Summary;

/// `rgw: knee at 190 requests/s at p99 < 50 ms (the next rate failed: saturated).`,
/// one per target searched.
pub fn knees(c: &CapacitySummary) -> Vec<String> {
    let slo = fmt_ms(c.slo_p99_ms);
    let mut out: Vec<String> = c
        .targets
        .iter()
        .map(|t| {
            let name = &t.target;
            match (t.knee.rate, t.knee.reason) {
                (Some(rate), KneeReason::Ceiling) => format!(
                    "{name} sustained the ceiling, {rate:.0} requests/s, at p99 < {slo}: its \
                     capacity is at least that (raise load.max_rate to find it)."
                ),
                (Some(rate), KneeReason::Interrupted) => format!(
                    "{name} was good up to {rate:.0} requests/s at p99 < {slo} when the search \
                     was stopped."
                ),
                (Some(rate), reason) => format!(
                    "{name}: knee at {rate:.0} requests/s at p99 < {slo} (the next rate \
                     failed: {}).",
                    reason.name()
                ),
                (None, reason) => format!(
                    "{name}: not even the first step was good ({}).",
                    reason.name()
                ),
            }
        })
        .collect();
    if !c.complete {
        out.push("The search was stopped before every knee was found.".into());
    }
    out
}

/// `apim leaves 62% of rgw's capacity at p99 < 50 ms`, for each gateway target compared
/// with its direct target when both have a knee. A knee at the ceiling or of an
/// interrupted search is only a lower bound of that target's capacity: the share is then
/// "at most" (direct) or "at least" (gateway) that, and not given when both are bounds. Above 100% the gateway
/// "sustains" more than the storage behind it (a cache).
pub fn shares(summary: &Summary) -> Vec<String> {
    let Some(c) = &summary.capacity else {
        return Vec::new();
    };
    let knee = |name: &str| -> Option<Knee> { Some(c.target(name)?.knee) };
    let slo = fmt_ms(c.slo_p99_ms);
    summary
        .overheads
        .iter()
        .filter_map(|pair| {
            let (direct, gateway) = (knee(&pair.baseline)?, knee(&pair.candidate)?);
            let (d, g) = (direct.rate?, gateway.rate?);
            let (gw, storage) = (&pair.candidate, &pair.baseline);
            // A knee at the ceiling or of an interrupted search is only a lower bound.
            let lower =
                |k: &Knee| matches!(k.reason, KneeReason::Ceiling | KneeReason::Interrupted);
            let bound = match (lower(&direct), lower(&gateway)) {
                (true, true) if direct.reason == gateway.reason && d == g => {
                    return (direct.reason == KneeReason::Ceiling).then(|| {
                        format!(
                            "{gw} and {storage} both sustained the ceiling ({d:.0} requests/s) \
                             at p99 < {slo}: raise load.max_rate to compare their capacity."
                        )
                    });
                }
                (true, true) => return None,
                (true, false) => "at most ",
                (false, true) => "at least ",
                (false, false) => "",
            };
            let share = 100.0 * g / d;
            let verb = if share > 100.0 { "sustains" } else { "leaves" };
            Some(format!(
                "{gw} {verb} {bound}{share:.0}% of {storage}'s capacity at p99 < {slo} \
                 ({g:.0} vs {d:.0} requests/s)."
            ))
        })
        .collect()
}

/// The verdict's sentences about a capacity search: the knees, then the gateways' shares.
pub fn verdict(summary: &Summary) -> Vec<String> {
    let mut out = summary.capacity.as_ref().map(knees).unwrap_or_default();
    out.extend(shares(summary));
    out
}

/// One row per step of every target, in the order run.
pub fn table(c: &CapacitySummary) -> Table {
    let header = vec![
        "target",
        "step",
        "offered/s",
        "accepted/s",
        "p50",
        "p99",
        "errors",
        "throttled",
        "verdict",
    ];
    let rows = c
        .targets
        .iter()
        .flat_map(|t| {
            t.steps.iter().enumerate().map(|(i, st)| {
                let s = &st.stats;
                let knee = t.knee.rate == Some(s.offered_rate);
                vec![
                    t.target.clone(),
                    (i + 1).to_string(),
                    format!("{:.1}", s.offered_rate),
                    format!("{:.1}", s.accepted_rate),
                    fmt_ms(s.p50_us as f64 / 1e3),
                    fmt_ms(s.p99_us as f64 / 1e3),
                    format!("{:.1}%", s.error_ratio * 100.0),
                    format!("{:.1}%", s.throttle_ratio * 100.0),
                    format!("{}{}", st.verdict.name(), if knee { " (knee)" } else { "" }),
                ]
            })
        })
        .collect();
    Table { header, rows }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Kind;
    use crate::plan::capacity::{StepStats, Verdict};
    use crate::report::verdict::tests::{summary, target};
    use crate::results::capacity::{CapacityStep, TargetCapacity};
    use crate::results::summary::GatewayOverhead;

    fn searched(name: &str, rate: Option<f64>, reason: KneeReason) -> TargetCapacity {
        let stats = StepStats {
            offered_rate: rate.unwrap_or(10.0),
            accepted_rate: rate.unwrap_or(10.0),
            p50_us: 2_000,
            p99_us: 9_000,
            error_ratio: 0.0,
            throttle_ratio: 0.0,
        };
        TargetCapacity {
            target: name.into(),
            steps: vec![CapacityStep {
                stats,
                verdict: Verdict::Good,
            }],
            knee: Knee { rate, reason },
        }
    }

    fn with_capacity(direct: TargetCapacity, gateway: TargetCapacity) -> Summary {
        let mut s = summary(vec![
            target("rgw", Kind::S3, vec![]),
            target("apim", Kind::Gateway, vec![]),
        ]);
        s.overheads = vec![GatewayOverhead {
            baseline: "rgw".into(),
            candidate: "apim".into(),
            ops: vec![],
        }];
        s.capacity = Some(CapacitySummary {
            complete: true,
            slo_p99_ms: 50.0,
            max_rate: 2000.0,
            targets: vec![direct, gateway],
        });
        s
    }

    #[test]
    fn after_a_search_the_verdict_compares_knees_not_pooled_latencies() {
        use crate::plan::OpKind;
        use crate::report::verdict::tests::op;
        let mut s = with_capacity(
            searched("rgw", Some(1000.0), KneeReason::Slo),
            searched("apim", Some(620.0), KneeReason::Throttled),
        );
        // The targets' ops pool every step of their own searches: not comparable.
        s.targets[0].ops = vec![op(OpKind::Get, 100, 0, [1000, 2000, 4000, 8000])];
        s.targets[1].ops = vec![op(OpKind::Get, 100, 0, [3000, 5000, 9000, 9000])];
        let all = crate::report::verdict::verdict(&s, &Default::default()).join("\n");
        assert!(all.contains("apim leaves 62% of rgw's capacity"), "{all}");
        assert!(!all.contains("compared with"), "{all}");
    }

    #[test]
    fn an_interrupted_search_bounds_the_share_like_the_ceiling() {
        let s = with_capacity(
            searched("rgw", Some(400.0), KneeReason::Interrupted),
            searched("apim", Some(300.0), KneeReason::Slo),
        );
        assert_eq!(
            shares(&s),
            vec![
                "apim leaves at most 75% of rgw's capacity at p99 < 50.0 ms (300 vs 400 requests/s)."
            ]
        );
        let s = with_capacity(
            searched("rgw", Some(400.0), KneeReason::Interrupted),
            searched("apim", Some(300.0), KneeReason::Ceiling),
        );
        assert!(shares(&s).is_empty(), "{:?}", shares(&s));
    }

    #[test]
    fn the_gateway_share_of_the_direct_capacity_is_worded_with_its_bound() {
        let s = with_capacity(
            searched("rgw", Some(1000.0), KneeReason::Slo),
            searched("apim", Some(620.0), KneeReason::Throttled),
        );
        assert_eq!(
            shares(&s),
            vec!["apim leaves 62% of rgw's capacity at p99 < 50.0 ms (620 vs 1000 requests/s)."]
        );
        let s = with_capacity(
            searched("rgw", Some(2000.0), KneeReason::Ceiling),
            searched("apim", Some(500.0), KneeReason::Saturated),
        );
        assert!(
            shares(&s)[0].contains("leaves at most 25% of rgw's"),
            "{:?}",
            shares(&s)
        );
        let s = with_capacity(
            searched("rgw", Some(500.0), KneeReason::Slo),
            searched("apim", Some(2000.0), KneeReason::Ceiling),
        );
        assert!(shares(&s)[0].starts_with("apim sustains at least 400% of rgw's"));
        let s = with_capacity(
            searched("rgw", Some(2000.0), KneeReason::Ceiling),
            searched("apim", Some(2000.0), KneeReason::Ceiling),
        );
        assert!(shares(&s)[0].contains("both sustained the ceiling"));
        let s = with_capacity(
            searched("rgw", Some(2000.0), KneeReason::Ceiling),
            searched("apim", None, KneeReason::Errors),
        );
        assert!(shares(&s).is_empty());
        let knees = knees(s.capacity.as_ref().unwrap());
        assert!(knees[0].contains("at least"), "{knees:?}");
        assert_eq!(knees[1], "apim: not even the first step was good (errors).");
    }

    #[test]
    fn the_table_marks_the_knee_step() {
        let c = CapacitySummary {
            complete: false,
            slo_p99_ms: 50.0,
            max_rate: 100.0,
            targets: vec![searched("rgw", Some(40.0), KneeReason::Interrupted)],
        };
        let t = table(&c);
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.rows[0][2], "40.0");
        assert_eq!(t.rows[0][8], "good (knee)");
        assert!(knees(&c).last().unwrap().contains("stopped"));
    }
}
