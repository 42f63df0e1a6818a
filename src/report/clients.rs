//! The "By client" table of `report.html` and `summary.md`: one row per identity of
//! each target that sent as several clients (`by_client` in the summary).

use crate::report::table::Table;
use crate::results::summary::Summary;
use crate::shared::units::format_us;

/// What the table's numbers are, shown under it.
pub const NOTE: &str = "Each client's steady-phase requests; ok/s and throttled/s over the \
     target's measured time, p50 and p99 of its ok requests. A per-key rate limit shows as \
     each client's ok/s near the limit.";

/// The table, if some target has `by_client`.
pub fn table(summary: &Summary) -> Option<Table> {
    let rows: Vec<Vec<String>> = summary
        .targets
        .iter()
        .flat_map(|t| t.by_client.iter().map(move |c| (t, c)))
        .map(|(t, c)| {
            let us = |v: Option<u64>| v.map_or("-".into(), format_us);
            vec![
                t.name.clone(),
                c.label.clone(),
                c.requests.to_string(),
                c.ok.to_string(),
                c.throttled.to_string(),
                c.errors.to_string(),
                format!("{:.1}", c.ok_per_s),
                format!("{:.1}", c.throttled_per_s),
                us(c.p50_us),
                us(c.p99_us),
            ]
        })
        .collect();
    (!rows.is_empty()).then(|| Table {
        header: vec![
            "target",
            "client",
            "requests",
            "ok",
            "throttled",
            "errors",
            "ok/s",
            "throttled/s",
            "p50",
            "p99",
        ],
        rows,
    })
}
