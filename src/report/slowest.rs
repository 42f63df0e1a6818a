//! The slowest-requests table of each target (`summary.json`'s `slowest_requests`) for
//! `report.html` and `summary.md`, and the line that tells how to look the requests up
//! in the servers' logs. Cells are formatted, not escaped: each format escapes.

use crate::record::slowest::SLOWEST_KEPT;
use crate::report::table::Table;
use crate::results::summary::{Summary, TargetSummary};
use crate::shared::units::format_us;

/// How to find a slow request in the servers' logs. Every `<`, `>` and `|` of it is in a
/// code span, so Markdown shows it as written.
pub const LOOKUP: &str = "Find a request by its ids: in RGW's log (`debug rgw` at 1 or more) by \
     x-amz-request-id; in Azure Monitor by x-ms-request-id, as `ApiManagementGatewayLogs | where \
     CorrelationId == \"<id>\" | project BackendTime, TotalTime, Cache, ResponseCode` (the \
     stand-in's --audit-log has the same id under ids.gateway); the client id \
     (`<run id>-<target index>-<op index>`) reaches the backend as x-client-request-id. \
     Latency: from when the request was due to its last byte; steady phase; summary.json keeps \
     the 10 slowest of each op.";

/// One table per target that kept slow requests, with the target's name: its
/// [`SLOWEST_KEPT`] slowest requests of any op.
pub fn tables(summary: &Summary) -> Vec<(&str, Table)> {
    summary
        .targets
        .iter()
        .filter(|t| !t.slowest_requests.is_empty())
        .map(|t| (t.name.as_str(), table(t)))
        .collect()
}

fn table(t: &TargetSummary) -> Table {
    let header = vec![
        "op",
        "path",
        "latency",
        "status",
        "due",
        "client id",
        "x-amz-request-id",
        "x-ms-request-id",
    ];
    let id = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let rows = t
        .slowest_requests
        .iter()
        .take(SLOWEST_KEPT)
        .map(|r| {
            vec![
                r.op.name().to_string(),
                r.path.clone(),
                format_us(r.latency_us),
                r.status
                    .map_or_else(|| r.class.name().to_string(), |s| s.to_string()),
                r.due.clone(),
                id(&r.ids.client),
                id(&r.ids.amz),
                id(&r.ids.gateway),
            ]
        })
        .collect();
    Table { header, rows }
}
