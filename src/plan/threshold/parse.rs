//! The threshold grammar: a hand-written parser for one expression.
//!
//! ```text
//! expression := path ws? comparison ws? number ws? unit?
//! path       := <target|*> "." <op|*> "." metric      (per operation)
//!             | <target|*> "." target-metric           (whole target)
//!             | "overhead" "." <op|*> "." percentile   (summary.comparisons)
//! comparison := "<" | "<=" | ">" | ">="
//! unit       := "us" | "µs" | "ms" | "s" | "%"
//! ```
//!
//! Owns syntax and units only; whether a named target exists is checked by
//! [`Threshold::check_names`](super::Threshold::check_names) against the scenario.

use crate::plan::OpKind;

use super::{Cmp, Metric, Selector, Stat, Subject, Threshold};

/// Why an expression does not parse, and where (0-based character in the expression).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Character offset in the expression, counted from 0.
    pub position: usize,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at character {}: {}", self.position + 1, self.reason)
    }
}

impl std::error::Error for ParseError {}

fn fail<T>(position: usize, reason: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        position,
        reason: reason.into(),
    })
}

/// Names accepted as a metric, for messages.
const METRICS: &str = "p50, p90, p99, p99_9, max, mean, error_rate, throttled_ratio, throughput, ops_per_sec, throughput_mibps";

/// Parses one threshold expression such as `gateway.get.p99 < 40ms`.
pub fn parse(expression: &str) -> Result<Threshold, ParseError> {
    let chars: Vec<char> = expression.chars().collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    // Path: dotted segments.
    let mut segments: Vec<(String, usize)> = Vec::new();
    let mut start = i;
    loop {
        let c = chars.get(i).copied();
        match c {
            Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '*' => i += 1,
            Some('.') | None | Some(_) => {
                let seg: String = chars[start..i].iter().collect();
                if seg.is_empty() {
                    let what = if segments.is_empty() && c.is_none() {
                        "empty expression; expected e.g. \"gateway.get.p99 < 40ms\""
                    } else {
                        "expected a name (target, operation or metric)"
                    };
                    return fail(i, what);
                }
                segments.push((seg, start));
                if c == Some('.') {
                    i += 1;
                    start = i;
                } else {
                    break;
                }
            }
        }
    }
    let subject = subject(&segments)?;
    skip_ws(&mut i);
    // Comparison.
    let cmp = match (chars.get(i), chars.get(i + 1)) {
        (Some('<'), Some('=')) => Cmp::Le,
        (Some('<'), _) => Cmp::Lt,
        (Some('>'), Some('=')) => Cmp::Ge,
        (Some('>'), _) => Cmp::Gt,
        (Some('=' | '!'), _) => {
            return fail(i, "only <, <=, > and >= compare (equality is never stable)");
        }
        (None, _) => return fail(i, "expected a comparison (<, <=, > or >=) after the metric"),
        (Some(c), _) => {
            return fail(
                i,
                format!("unexpected {c:?}; expected a comparison (<, <=, > or >=)"),
            );
        }
    };
    i += if matches!(cmp, Cmp::Le | Cmp::Ge) {
        2
    } else {
        1
    };
    skip_ws(&mut i);
    // Number.
    let num_at = i;
    if chars.get(i) == Some(&'-') {
        i += 1;
    }
    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
        i += 1;
    }
    let number: String = chars[num_at..i].iter().collect();
    let value: f64 = match number.parse() {
        Ok(v) if number != "-" => v,
        _ if i == num_at && i == chars.len() => {
            return fail(i, "expected a value after the comparison");
        }
        _ if number.is_empty() => {
            return fail(
                i,
                format!("expected a number, found {:?}", chars[i].to_string()),
            );
        }
        _ => return fail(num_at, format!("{number:?} is not a number")),
    };
    skip_ws(&mut i);
    // Unit.
    let unit_at = i;
    while i < chars.len() && (chars[i].is_alphabetic() || chars[i] == '%' || chars[i] == '/') {
        i += 1;
    }
    let unit: String = chars[unit_at..i].iter().collect();
    skip_ws(&mut i);
    if i < chars.len() {
        return fail(i, "unexpected text after the value");
    }
    let metric = subject.metric();
    let value = scale(metric, value, &unit, num_at, unit_at)?;
    if value < 0.0 && !matches!(subject, Subject::Overhead { .. }) {
        return fail(num_at, "only an overhead can be negative");
    }
    Ok(Threshold {
        expression: expression.trim().to_string(),
        subject,
        cmp,
        value,
    })
}

/// Interprets the dotted path.
fn subject(segments: &[(String, usize)]) -> Result<Subject, ParseError> {
    let selector = |(s, at): &(String, usize)| Selector {
        name: (s != "*").then(|| s.clone()),
        at: *at,
    };
    let op = |seg: &(String, usize)| -> Result<Selector, ParseError> {
        if seg.0 != "*" && op_kind(&seg.0).is_none() {
            return fail(
                seg.1,
                format!(
                    "unknown operation {:?}; expected put, get, head, list, delete, multipart, part or *",
                    seg.0
                ),
            );
        }
        Ok(selector(seg))
    };
    let check_name = |(s, at): &(String, usize)| {
        if s != "*" && s.contains('*') {
            return fail(*at, "a wildcard stands alone: write * for every name");
        }
        Ok(())
    };
    for seg in segments {
        check_name(seg)?;
    }
    if segments[0].0 == "overhead" {
        let [_, o, p] = segments else {
            let at = segments.get(3).map_or(segments[0].1, |s| s.1);
            return fail(at, "write overhead.<op|*>.<p50|p90|p99|p99_9>");
        };
        let stat = match p.0.as_str() {
            "p50" => Stat::P50,
            "p90" => Stat::P90,
            "p99" => Stat::P99,
            "p99_9" => Stat::P99_9,
            other => {
                return fail(
                    p.1,
                    format!(
                        "an overhead is a percentile difference: p50, p90, p99 or p99_9, not {other:?}"
                    ),
                );
            }
        };
        return Ok(Subject::Overhead { op: op(o)?, stat });
    }
    match segments {
        [t, o, m] => {
            let metric = metric(m)?;
            Ok(Subject::Op {
                target: selector(t),
                op: op(o)?,
                metric,
            })
        }
        [t, m] => {
            let metric = metric(m)?;
            if let Metric::Latency(_) = metric {
                return fail(
                    m.1,
                    format!("latency is per operation: write {}.<op|*>.{}", t.0, m.0),
                );
            }
            Ok(Subject::Target {
                target: selector(t),
                metric,
            })
        }
        [only] => fail(
            only.1 + only.0.chars().count(),
            "expected <target>.<op>.<metric>, <target>.<metric> or overhead.<op>.<percentile>",
        ),
        [_, _, _, extra, ..] => fail(extra.1, "too many parts; expected <target>.<op>.<metric>"),
        [] => fail(0, "empty expression"),
    }
}

fn metric((s, at): &(String, usize)) -> Result<Metric, ParseError> {
    Ok(match s.as_str() {
        "p50" => Metric::Latency(Stat::P50),
        "p90" => Metric::Latency(Stat::P90),
        "p99" => Metric::Latency(Stat::P99),
        "p99_9" => Metric::Latency(Stat::P99_9),
        "max" => Metric::Latency(Stat::Max),
        "mean" => Metric::Latency(Stat::Mean),
        "error_rate" => Metric::ErrorRate,
        "throttled_ratio" => Metric::ThrottledRatio,
        "throughput" => Metric::Throughput,
        "ops_per_sec" => Metric::OpsPerSec,
        "throughput_mibps" => Metric::ThroughputMibps,
        other => {
            return fail(
                *at,
                format!("unknown metric {other:?}; expected one of {METRICS}"),
            );
        }
    })
}

/// The operation named `s`, if any.
pub(super) fn op_kind(s: &str) -> Option<OpKind> {
    Some(match s {
        "put" => OpKind::Put,
        "get" => OpKind::Get,
        "head" => OpKind::Head,
        "list" => OpKind::List,
        "delete" => OpKind::Delete,
        "multipart" => OpKind::Multipart,
        "part" => OpKind::Part,
        "journey" => OpKind::Journey,
        _ => return None,
    })
}

/// Converts `value unit` to the metric's canonical unit (µs, fraction, ops/s, MiB/s).
fn scale(
    metric: Metric,
    value: f64,
    unit: &str,
    num_at: usize,
    unit_at: usize,
) -> Result<f64, ParseError> {
    if !value.is_finite() {
        return fail(num_at, "not a finite number");
    }
    match metric {
        Metric::Latency(_) => match unit {
            "us" | "µs" | "μs" => Ok(value),
            "ms" => Ok(value * 1e3),
            "s" => Ok(value * 1e6),
            "" => fail(unit_at, "a latency needs a unit: us, ms or s"),
            other => fail(
                unit_at,
                format!("unknown time unit {other:?}; use us, ms or s"),
            ),
        },
        Metric::ErrorRate | Metric::ThrottledRatio => match unit {
            "%" if (0.0..=100.0).contains(&value) => Ok(value / 100.0),
            "%" => fail(num_at, "a percentage is between 0% and 100%"),
            "" if (0.0..=1.0).contains(&value) => Ok(value),
            "" => fail(
                num_at,
                "a ratio without % is a fraction between 0 and 1 (write e.g. 0.1%)",
            ),
            other => fail(
                unit_at,
                format!("a ratio takes % or no unit, not {other:?}"),
            ),
        },
        Metric::Throughput | Metric::OpsPerSec | Metric::ThroughputMibps => match unit {
            "" => Ok(value),
            other => fail(
                unit_at,
                format!(
                    "{other:?}: throughput and ops_per_sec are in ops/s, throughput_mibps in MiB/s; write a plain number"
                ),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(expr: &str) -> ParseError {
        parse(expr).expect_err(expr)
    }

    #[test]
    fn the_documented_examples_parse() {
        let t = parse("gateway.get.p99 < 40ms").unwrap();
        assert_eq!(t.cmp, Cmp::Lt);
        assert_eq!(t.value, 40_000.0);
        assert!(matches!(
            t.subject,
            Subject::Op { ref target, ref op, metric: Metric::Latency(Stat::P99) }
                if target.name.as_deref() == Some("gateway") && op.name.as_deref() == Some("get")
        ));
        let t = parse("overhead.get.p50 < 3ms").unwrap();
        assert!(matches!(
            t.subject,
            Subject::Overhead {
                stat: Stat::P50,
                ..
            }
        ));
        assert_eq!(t.value, 3000.0);
        let t = parse("gateway.*.error_rate < 0.1%").unwrap();
        assert!((t.value - 0.001).abs() < 1e-12);
        assert!(matches!(t.subject, Subject::Op { ref op, .. } if op.name.is_none()));
        let t = parse("direct.put.throughput_mibps > 200").unwrap();
        assert_eq!((t.cmp, t.value), (Cmp::Gt, 200.0));
        let t = parse("gateway.throttled_ratio < 1%").unwrap();
        assert!(matches!(
            t.subject,
            Subject::Target {
                metric: Metric::ThrottledRatio,
                ..
            }
        ));
        assert!((t.value - 0.01).abs() < 1e-12);
    }

    #[test]
    fn units_operators_and_spacing() {
        assert_eq!(parse("a.get.p50<=250us").unwrap().cmp, Cmp::Le);
        assert_eq!(parse("  a.get.max >=  1.5s ").unwrap().value, 1_500_000.0);
        assert_eq!(parse("a.get.mean < 800µs").unwrap().value, 800.0);
        assert_eq!(parse("*.*.ops_per_sec > 10").unwrap().cmp, Cmp::Gt);
        assert_eq!(parse("a.error_rate < 0.02").unwrap().value, 0.02);
        assert_eq!(parse("overhead.*.p99_9 < -1ms").unwrap().value, -1000.0);
        assert_eq!(
            parse("  a.get.p50 < 1ms ").unwrap().expression,
            "a.get.p50 < 1ms"
        );
    }

    #[test]
    fn errors_say_where_and_why() {
        let e = err("gateway.get.p99 << 40ms");
        assert_eq!(e.position, 17, "{e}");
        assert!(e.reason.contains("number"), "{e}");

        let e = err("gateway.get.p99 < 40");
        assert_eq!(e.position, 20);
        assert!(e.reason.contains("needs a unit"), "{e}");

        let e = err("gateway.fetch.p99 < 40ms");
        assert_eq!(e.position, 8);
        assert!(e.reason.contains("unknown operation \"fetch\""), "{e}");

        let e = err("gateway.get.p95 < 40ms");
        assert_eq!(e.position, 12);
        assert!(e.reason.contains("unknown metric"), "{e}");

        let e = err("gateway.get.p99 = 40ms");
        assert_eq!(e.position, 16);
        assert!(e.reason.contains("only <, <=, > and >="), "{e}");

        let e = err("gateway.get.p99");
        assert_eq!(e.position, 15);
        assert!(e.reason.contains("expected a comparison"), "{e}");

        let e = err("gateway..p99 < 1ms");
        assert_eq!(e.position, 8);

        let e = err("gateway.p99 < 1ms");
        assert_eq!(e.position, 8);
        assert!(e.reason.contains("per operation"), "{e}");

        let e = err("gateway.*.error_rate < 150%");
        assert_eq!(e.position, 23);

        let e = err("gateway.get.error_rate < 2");
        assert!(e.reason.contains("fraction"), "{e}");

        let e = err("direct.put.throughput_mibps > 200MB");
        assert_eq!(e.position, 33);

        let e = err("overhead.get.max < 3ms");
        assert_eq!(e.position, 13);

        let e = err("gateway.get.p99 < 40ms and more");
        assert_eq!(e.position, 23);
        assert!(e.reason.contains("after the value"), "{e}");

        let e = err("gate*.get.p99 < 40ms");
        assert_eq!(e.position, 0);

        let e = err("");
        assert!(e.reason.contains("empty"), "{e}");

        let e = err("gateway.get.p50 < -1ms");
        assert!(e.reason.contains("negative"), "{e}");

        assert_eq!(
            err("a.get.p50 <").to_string(),
            "at character 12: expected a value after the comparison"
        );
    }
}
