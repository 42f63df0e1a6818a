//! `slowest_requests` in summary.json: a target's slowest steady-phase requests (at
//! most [`SLOWEST_KEPT`] per op), slowest first, each with the ids that find it in
//! RGW's log and in Azure Monitor's gateway logs.
//!
//! Paths only (no query string), ids as the servers sent them: nothing secret. A
//! merged distributed run keeps the slowest of all shards' lists; a run rebuilt from
//! its interval logs after a kill has none (the logs hold histograms, not requests).

use serde::{Deserialize, Serialize};

use crate::plan::OpKind;
use crate::record::OutcomeClass;
use crate::record::slowest::{SLOWEST_KEPT, SlowestRequests};

/// One slow request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowRequest {
    pub op: OpKind,
    /// `/bucket/key`, without the query string.
    pub path: String,
    /// When it was due, RFC 3339 UTC with milliseconds.
    pub due: String,
    /// When it was due, ms since the run's recording started (the interval logs' clock).
    pub due_offset_ms: u64,
    /// From when it was due to its last byte, µs.
    pub latency_us: u64,
    /// HTTP status (`None`: no answer, see `class`).
    pub status: Option<u16>,
    pub class: OutcomeClass,
    pub ids: SlowRequestIds,
}

/// The ids of a slow request (`None`: not sent or not answered).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowRequestIds {
    /// `x-client-request-id` as sent: `<run id>-<target index>-<op index>`.
    pub client: Option<String>,
    /// `x-amz-request-id` (RGW's log, S3).
    pub amz: Option<String>,
    /// `x-ms-request-id` (APIM: `CorrelationId` in `ApiManagementGatewayLogs`).
    pub gateway: Option<String>,
}

/// Target `target`'s kept requests, slowest first.
pub fn of_target(slowest: &SlowestRequests, target: usize) -> Vec<SlowRequest> {
    let text = |v: &Option<http::HeaderValue>| {
        v.as_ref()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let mut out: Vec<SlowRequest> = slowest
        .of_target(target)
        .flat_map(|(_, kept)| kept)
        .map(|r| SlowRequest {
            op: r.op,
            path: r.details.path.clone(),
            due: super::timestamp_millis(r.due),
            due_offset_ms: r.due_offset.as_millis() as u64,
            latency_us: crate::record::micros(r.latency),
            status: r.details.status,
            class: r.class,
            ids: SlowRequestIds {
                client: text(&r.details.ids.client),
                amz: text(&r.details.ids.amz),
                gateway: text(&r.details.ids.gateway),
            },
        })
        .collect();
    slowest_first(&mut out);
    out
}

/// The slowest of several lists of one target (shards of a distributed run): at most
/// [`SLOWEST_KEPT`] per op, slowest first.
pub fn merged<'a>(lists: impl IntoIterator<Item = &'a [SlowRequest]>) -> Vec<SlowRequest> {
    let mut all: Vec<SlowRequest> = lists.into_iter().flatten().cloned().collect();
    slowest_first(&mut all);
    let mut per_op: std::collections::BTreeMap<OpKind, usize> = Default::default();
    all.retain(|r| {
        let n = per_op.entry(r.op).or_default();
        *n += 1;
        *n <= SLOWEST_KEPT
    });
    all
}

fn slowest_first(list: &mut [SlowRequest]) {
    list.sort_by(|a, b| b.latency_us.cmp(&a.latency_us).then(a.due.cmp(&b.due)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slow(op: OpKind, latency_us: u64) -> SlowRequest {
        SlowRequest {
            op,
            path: "/b/k".into(),
            due: "2026-12-06T16:00:00.000Z".into(),
            due_offset_ms: 0,
            latency_us,
            status: Some(200),
            class: OutcomeClass::Ok,
            ids: SlowRequestIds::default(),
        }
    }

    #[test]
    fn a_merge_keeps_the_slowest_ten_per_op_of_all_shards() {
        let a: Vec<_> = (0..10).map(|i| slow(OpKind::Get, i * 10)).collect();
        let b: Vec<_> = (0..10)
            .map(|i| slow(OpKind::Get, i * 10 + 5))
            .chain([slow(OpKind::Put, 1)])
            .collect();
        let m = merged([a.as_slice(), b.as_slice()]);
        let gets: Vec<u64> = m
            .iter()
            .filter(|r| r.op == OpKind::Get)
            .map(|r| r.latency_us)
            .collect();
        assert_eq!(gets, vec![95, 90, 85, 80, 75, 70, 65, 60, 55, 50]);
        assert_eq!(
            m.last().map(|r| (r.op, r.latency_us)),
            Some((OpKind::Put, 1))
        );
    }
}
