//! The probe's output: a table per target and step for people, JSON for machines.

use std::fmt::Write;

use super::Probe;

/// Per target: a heading, then one line per step (✓/✗, step, ms, detail).
pub fn table(probe: &Probe) -> String {
    let mut out = String::new();
    for t in &probe.targets {
        let _ = writeln!(out, "target {} ({} {})", t.name, t.kind, t.address);
        for s in &t.steps {
            let mark = if s.ok { "✓" } else { "✗" };
            let ms =
                s.ms.map_or_else(|| "-".to_string(), |ms| format!("{ms:.1} ms"));
            let _ = writeln!(out, "  {mark} {:<9} {ms:>10}  {}", s.step, s.detail);
        }
    }
    out
}

/// The probe as pretty JSON.
pub fn json(probe: &Probe) -> String {
    serde_json::to_string_pretty(probe).unwrap_or_default()
}

/// The closing line: all passed, or the first failing step and target.
pub fn verdict(probe: &Probe) -> String {
    match probe.first_failure() {
        Some((target, step)) => format!(
            "probe failed at {} for target {target}: {}",
            step.step, step.detail
        ),
        None => {
            let steps: usize = probe.targets.iter().map(|t| t.steps.len()).sum();
            format!(
                "probe passed: {} targets, {steps} steps",
                probe.targets.len()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Step, TargetProbe};

    #[test]
    fn the_verdict_names_the_first_failing_step_and_its_target() {
        let step = |step: &str, ok| Step {
            step: step.into(),
            ok,
            ms: Some(1.25),
            detail: format!("{step} detail"),
        };
        let mut probe = Probe {
            scenario: "s".into(),
            prefix: "p/".into(),
            targets: vec![TargetProbe {
                name: "apim".into(),
                kind: "gateway".into(),
                address: "http://127.0.0.1:1/storage".into(),
                steps: vec![
                    step("resolve", true),
                    step("token", false),
                    step("get", false),
                ],
            }],
        };
        assert_eq!(
            verdict(&probe),
            "probe failed at token for target apim: token detail"
        );
        let text = table(&probe);
        assert!(
            text.contains("✓ resolve") && text.contains("1.2 ms"),
            "{text}"
        );
        assert!(text.contains("✗ token"), "{text}");
        probe.targets[0].steps.truncate(1);
        assert_eq!(verdict(&probe), "probe passed: 1 targets, 1 steps");
    }
}
