//! Where the time went on the server side: for each target and operation whose
//! responses carried a `Server-Timing` header, `ok` response time at p50, p90 and p99
//! split into the gateway's own time, the backend's (or the gateway cache's), and the
//! rest: network and client.
//!
//! Each component's percentile comes from its own merged histogram, and the rest is the
//! response time's percentile minus them (at least zero): percentiles of parts need not
//! add up exactly, so the split is a close reading, not an identity. An operation whose
//! answers mix cache hits and forwarded requests is left out: a percentile of the mix is
//! neither a hit's nor a miss's, so it cannot be split. Also words the verdict sentence
//! on how much of a gateway's overhead is its own processing.

use crate::plan::OpKind;
use crate::report::overhead::{Field, OpOverhead};
use crate::report::table::Table;
use crate::report::verdict::fmt_ms;
use crate::results::server_timing::{ComponentStats, ServerTimingSummary};
use crate::results::summary::Summary;
use crate::shared::units::format_us;

/// The parts of a response time, in the order they are drawn.
pub const PARTS: [&str; 4] = ["gateway", "backend", "gateway cache", "network + client"];

/// How to read the table, under it in every report format.
pub const NOTE: &str = "ok response time at each percentile, split by the responses' \
    Server-Timing header: gateway = the gateway's own time, backend = from the forwarded \
    request to the backend's response headers, gateway cache = cache lookups (hits), \
    network + client = the rest. Each part is its own percentile, so parts need not add up \
    exactly. Operations whose answers mix cache hits and forwarded requests are left out \
    (the cache chart compares hits and misses).";

/// Reads one percentile of a component's stats.
type ComponentField = fn(&ComponentStats) -> u64;

/// The percentiles split: label, response-time field, component field.
const PERCENTILES: [(&str, Field, ComponentField); 3] = [
    ("p50", |l| l.p50, |c| c.p50),
    ("p90", |l| l.p90, |c| c.p90),
    ("p99", |l| l.p99, |c| c.p99),
];

/// One target's operation at one percentile, split into [`PARTS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub target: String,
    pub op: OpKind,
    /// `p50`, `p90` or `p99`.
    pub percentile: &'static str,
    /// The `ok` response time at this percentile, µs.
    pub latency_us: u64,
    /// The time of each of [`PARTS`], µs; they add up to `latency_us` unless the
    /// components alone exceed it.
    pub parts_us: [u64; 4],
}

/// Every split, in summary order: per target and operation with server timing, p50, p90
/// and p99.
pub fn splits(summary: &Summary) -> Vec<Split> {
    let mut out = Vec::new();
    for t in &summary.targets {
        for op in &t.ops {
            let (Some(latency), Some(timing)) = (&op.latency_us, splittable(&op.server_timing))
            else {
                continue;
            };
            for (percentile, of_latency, of_component) in PERCENTILES {
                let at = |c: &Option<ComponentStats>| c.as_ref().map_or(0, of_component);
                let (gateway, backend, cache) = (
                    at(&timing.gateway_us),
                    at(&timing.backend_us),
                    at(&timing.cache_us),
                );
                let total = of_latency(latency);
                out.push(Split {
                    target: t.name.clone(),
                    op: op.op,
                    percentile,
                    latency_us: total,
                    parts_us: [
                        gateway,
                        backend,
                        cache,
                        total.saturating_sub(gateway + backend + cache),
                    ],
                });
            }
        }
    }
    out
}

/// The server timing of an operation unless its answers mix cache hits and forwarded
/// requests.
fn splittable(timing: &Option<ServerTimingSummary>) -> Option<&ServerTimingSummary> {
    timing
        .as_ref()
        .filter(|t| t.backend_us.is_none() || t.cache_us.is_none())
}

/// The table of the report's "Server-side timing" section (`None`: no server timing).
pub fn table(summary: &Summary) -> Option<Table> {
    let rows: Vec<Vec<String>> = splits(summary)
        .into_iter()
        .map(|s| {
            let mut row = vec![
                s.target,
                s.op.to_string(),
                s.percentile.to_string(),
                format_us(s.latency_us),
            ];
            row.extend(s.parts_us.map(format_us));
            row
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut header = vec!["target", "op", "percentile", "response time"];
    header.extend(PARTS);
    Some(Table { header, rows })
}

/// The verdict sentence for one gateway overhead pair, if the gateway sent server timing:
/// "Of apim's +3.1 ms at p50 on GET (against direct), 2.6 ms is gateway processing and
/// 0.5 ms network and client."
pub fn overhead_sentence(pair: &OpOverhead, summary: &Summary) -> Option<String> {
    let timing = splittable(
        &summary
            .targets
            .iter()
            .find(|t| t.name == pair.candidate)?
            .ops
            .iter()
            .find(|o| o.op == pair.op)?
            .server_timing,
    )?;
    let gateway_ms = timing.gateway_us.as_ref()?.p50 as f64 / 1000.0;
    let overhead_ms = pair.delta_ms(0);
    let rest_ms = overhead_ms - gateway_ms;
    let head = format!(
        "Of {}'s {}{} at p50 on {} (against {}), ",
        pair.candidate,
        if overhead_ms >= 0.0 { "+" } else { "" },
        fmt_ms(overhead_ms),
        pair.op.name().to_uppercase(),
        pair.baseline
    );
    let backend = timing.backend_us.as_ref().map_or(String::new(), |b| {
        format!(
            "; its backend answered in {} (direct: {})",
            fmt_ms(b.p50 as f64 / 1000.0),
            fmt_ms(pair.baseline_us[0] as f64 / 1000.0)
        )
    });
    Some(if rest_ms >= 0.0 {
        format!(
            "{head}{} is gateway processing and {} network and client{backend}.",
            fmt_ms(gateway_ms),
            fmt_ms(rest_ms)
        )
    } else {
        format!(
            "{head}the gateway reports {} of its own processing, more than the whole \
             difference{backend}.",
            fmt_ms(gateway_ms)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Kind;
    use crate::report::verdict::tests::{op, summary, target};

    fn component(p50: u64) -> Option<ComponentStats> {
        Some(ComponentStats {
            count: 100,
            p50,
            p90: p50 * 2,
            p99: p50 * 4,
            max: p50 * 5,
        })
    }

    /// direct GET p50 1.0 ms; apim GET p50 4.1 ms, of which the gateway reports 2.6 ms
    /// and the backend 1.0 ms.
    fn run() -> Summary {
        let mut apim_get = op(OpKind::Get, 100, 0, [4100, 9000, 20000, 30000]);
        apim_get.server_timing = Some(ServerTimingSummary {
            responses: 100,
            gateway_us: component(2600),
            backend_us: component(1000),
            cache_us: None,
            unattributed_us: component(500),
        });
        summary(vec![
            target(
                "direct",
                Kind::S3,
                vec![op(OpKind::Get, 100, 0, [1000, 2000, 5000, 6000])],
            ),
            target("apim", Kind::Gateway, vec![apim_get]),
        ])
    }

    #[test]
    fn each_percentile_is_split_and_the_rest_is_network_and_client() {
        let s = splits(&run());
        assert_eq!(
            s.len(),
            3,
            "apim GET at p50, p90, p99; direct has no timing"
        );
        assert_eq!(s[0].percentile, "p50");
        assert_eq!(s[0].parts_us, [2600, 1000, 0, 500]);
        assert_eq!(s[1].parts_us, [5200, 2000, 0, 1800]);
        // p99: components 10.4 + 4 ms over a 20 ms response time.
        assert_eq!(s[2].parts_us, [10400, 4000, 0, 5600]);
        let t = table(&run()).unwrap();
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[0][..4], ["apim", "get", "p50", "4.10ms"]);
        assert_eq!(t.header.len(), t.rows[0].len());
    }

    #[test]
    fn the_verdict_says_how_much_of_the_overhead_is_the_gateway() {
        let run = run();
        let crate::report::overhead::Overheads::Pairs(pairs) =
            crate::report::overhead::overheads(&run)
        else {
            panic!("a pair");
        };
        assert_eq!(
            overhead_sentence(&pairs[0], &run).unwrap(),
            "Of apim's +3.1 ms at p50 on GET (against direct), 2.6 ms is gateway processing \
             and 0.50 ms network and client; its backend answered in 1.0 ms (direct: 1.0 ms)."
        );
        let mut mixed = run.clone();
        if let Some(t) = &mut mixed.targets[1].ops[0].server_timing {
            t.cache_us = component(20);
        }
        assert_eq!(
            overhead_sentence(&pairs[0], &mixed),
            None,
            "hits and misses"
        );
        assert!(splits(&mixed).is_empty(), "hits and misses are not split");
        let mut without = run.clone();
        without.targets[1].ops[0].server_timing = None;
        assert_eq!(overhead_sentence(&pairs[0], &without), None);
        assert!(table(&without).is_none());
    }
}
