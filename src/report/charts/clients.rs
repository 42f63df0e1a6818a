//! Per-identity lines of the `outcomes` chart: for a target that sent as several
//! clients (`by_client` in the summary), one line per client of its throttled
//! responses per second, drawn over the target's stacked outcomes.

use super::style::{Line, series_style};
use crate::report::Report;
use crate::report::series::TargetSeries;

/// One line per client of target `name` (none unless it has `by_client`): throttled
/// responses in each second the target completed requests, on the series' time axis.
pub fn throttled_lines(data: &Report, name: &str, series: &TargetSeries) -> Vec<Line> {
    let Some(target) = data.targets().iter().find(|t| t.name == name) else {
        return Vec::new();
    };
    target
        .by_client
        .iter()
        .enumerate()
        .map(|(i, client)| {
            let by_second = &client.throttled_by_second;
            let points = series
                .seconds
                .iter()
                .enumerate()
                .filter(|(_, s)| s.requests > 0)
                .map(|(sec, _)| {
                    let at = series.first_second + sec as u64;
                    let n = at
                        .checked_sub(by_second.first_second)
                        .and_then(|k| by_second.counts.get(k as usize))
                        .copied()
                        .unwrap_or(0);
                    (sec as f64 + 0.5, n as f64)
                })
                .collect();
            Line::per_second(
                format!("throttled: {}", client.label),
                series_style(i),
                points,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Kind;
    use crate::report::series::{Second, Series};
    use crate::report::verdict::tests::{summary, target};
    use crate::results::by_client::{ClientSummary, SecondCounts};

    #[test]
    fn each_client_gets_its_throttled_count_per_second_on_the_targets_axis() {
        let client = |label: &str, first_second, counts: Vec<u64>| ClientSummary {
            label: label.into(),
            requests: 0,
            ok: 0,
            throttled: counts.iter().sum(),
            errors: 0,
            p50_us: None,
            p99_us: None,
            ok_per_s: 0.0,
            throttled_per_s: 0.0,
            throttled_by_second: SecondCounts {
                first_second,
                counts,
            },
        };
        let mut gateway = target("gw", Kind::Gateway, Vec::new());
        gateway.by_client = vec![
            client("tenant-a", 6, vec![4, 0, 2]),
            client("tenant-b", 0, Vec::new()),
        ];
        let busy = Second {
            requests: 10,
            ..Second::default()
        };
        let series = TargetSeries {
            first_second: 5,
            seconds: vec![busy.clone(), busy.clone(), busy.clone(), busy],
        };
        let data = Report {
            summary: summary(vec![gateway]),
            provenance: None,
            series: Series::default(),
            charts: Vec::new(),
            verdict: Vec::new(),
        };
        let lines = throttled_lines(&data, "gw", &series);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].label, "throttled: tenant-a");
        assert_eq!(
            lines[0].points,
            [(0.5, 0.0), (1.5, 4.0), (2.5, 0.0), (3.5, 2.0)]
        );
        assert_eq!(lines[1].points.iter().map(|p| p.1).sum::<f64>(), 0.0);
        assert!(throttled_lines(&data, "other", &series).is_empty());
    }
}
