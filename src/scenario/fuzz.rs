//! Fuzzing the scenario format: the shipped scenarios, mutated (numbers to extremes,
//! odd strings, lines removed or repeated), either validate into a plan whose run-time
//! parts (operation sequence, key space, seed list, schedule) build without a panic and
//! within the bounds, or are refused with a `FILE:LINE:COL` error. A fixed number of
//! cases runs in the suite; `GATEBENCH_FUZZ_CASES=N` runs more.

use std::path::Path;
use std::time::{Instant, SystemTime};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::bounds::*;
use super::*;
use crate::client::KeySpace;
use crate::plan::sequence::OpSequence;

/// Cases per run of the suite (a few seconds); `GATEBENCH_FUZZ_CASES` overrides it.
const SUITE_CASES: u32 = 20_000;

/// Seed lists are built (and checked key by key) up to this many objects.
const SEED_LIST_CHECKED: u64 = 20_000;

/// Values that broke or nearly broke validation before, and their neighbours.
const EXTREMES: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1000000000000",
    "0.0",
    "0.5",
    "-0.5",
    "1e-300",
    "1e308",
    "nan",
    "inf",
    "-inf",
    "true",
    "[]",
    "{}",
    "[[[[1]]]]",
    "\"\"",
    "\" \"",
    "\"NaN\"",
    "\"-1\"",
    "\"0s\"",
    "\"1ns\"",
    "\"1h\"",
    "\"8days\"",
    "\"99999999999years\"",
    "\"20EiB\"",
    "\"5GiB\"",
    "\"6GiB\"",
    "\"0B\"",
    "\"../victim/\"",
    "\"a//b/\"",
    "\"/abs/\"",
    "\"./\"",
    "\"x\\u0000y\"",
    "\"\\t\"",
    "\"%2e%2e/\"",
    "\"é/\"",
    "\"${UNSET_VARIABLE_FOR_FUZZ}\"",
    "\"http://127.0.0.1:1/\"",
    "\"sequential\"",
    "\"concurrent\"",
    "\"ramping-arrival-rate\"",
    "\"poisson-arrival-rate\"",
    "\"closed-loop\"",
    "{ zipf = 0.0 }",
    "{ zipf = 1e308 }",
    "{ hot_set = { requests = 1.0, keys = 1e-300 } }",
    "{ uniform = { min = \"0B\", max = \"5GiB\" } }",
    "{ lognormal = { median = \"1B\", p99 = \"5GiB\" } }",
    "{ weighted = [{ size = \"1B\", weight = 1000000 }] }",
    "{ weight = 1, max_keys = 0 }",
    "{ weight = 1, prefix = \"../\" }",
    "{ weight = 1, range = \"random:0B\" }",
    "{ weight = 1, range = \"first:6GiB\" }",
    "{ weight = 1, checksum = \"sha256\" }",
    "\"virtual\"",
];

/// A change to a scenario's text.
#[derive(Debug, Clone)]
enum Mutation {
    /// The value of a `key = value` line becomes this.
    Value(Index, String),
    /// One number or string anywhere (inside inline tables too) becomes this.
    Token(Index, String),
    RemoveLine(Index),
    RepeatLine(Index),
}

fn odd_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(EXTREMES).prop_map(str::to_string),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|x| format!("{x:e}")),
        2 => "[ -~]{0,12}".prop_map(|s| format!("{s:?}")),
        1 => "[\\PC]{0,6}".prop_map(|s| format!("{s:?}")),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), odd_value()).prop_map(|(i, v)| Mutation::Value(i, v)),
        4 => (any::<Index>(), odd_value()).prop_map(|(i, v)| Mutation::Token(i, v)),
        1 => any::<Index>().prop_map(Mutation::RemoveLine),
        1 => any::<Index>().prop_map(Mutation::RepeatLine),
    ]
}

/// Byte ranges of the numbers and quoted strings in `text` (not keys, not comments).
fn tokens(text: &str) -> Vec<std::ops::Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
                out.push(start..i);
                continue;
            }
            c if (c.is_ascii_digit() || c == b'-')
                && (start == 0
                    || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_')) =>
            {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b"._+-".contains(&b[i])) {
                    i += 1;
                }
                out.push(start..i);
                continue;
            }
            _ => i += 1,
        }
    }
    out
}

fn apply(text: &str, m: &Mutation) -> String {
    let lines: Vec<&str> = text.lines().collect();
    match m {
        Mutation::Value(i, v) => {
            let settings: Vec<usize> = (0..lines.len())
                .filter(|&n| {
                    !lines[n].trim_start().starts_with(['#', '[']) && lines[n].contains(" = ")
                })
                .collect();
            if settings.is_empty() {
                return text.to_string();
            }
            let n = settings[i.index(settings.len())];
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            let key = lines[n].split(" = ").next().unwrap_or_default();
            out[n] = format!("{key} = {v}");
            out.join("\n")
        }
        Mutation::Token(i, v) => {
            let spans = tokens(text);
            if spans.is_empty() {
                return text.to_string();
            }
            let span = spans[i.index(spans.len())].clone();
            format!("{}{v}{}", &text[..span.start], &text[span.end..])
        }
        Mutation::RemoveLine(i) | Mutation::RepeatLine(i) => {
            let mut out = lines.clone();
            let n = i.index(out.len().max(1));
            if n < out.len() {
                if matches!(m, Mutation::RemoveLine(_)) {
                    out.remove(n);
                } else {
                    out.insert(n, lines[n]);
                }
            }
            out.join("\n")
        }
    }
}

/// Environment for the shipped scenarios: URLs where they want URLs, secrets elsewhere.
fn fuzz_env(name: &str) -> Option<String> {
    if name == "UNSET_VARIABLE_FOR_FUZZ" {
        None
    } else if name.contains("ENDPOINT") {
        Some("http://127.0.0.1:7480".into())
    } else if name.contains("URL") {
        Some("http://127.0.0.1:8080/storage".into())
    } else {
        Some("fuzz-secret".into())
    }
}

/// What a run builds from `plan` before any network I/O, checked against the bounds.
fn build(plan: &Plan) -> Result<(), TestCaseError> {
    prop_assert!(plan.data.objects <= MAX_OBJECTS);
    prop_assert!(plan.load.max_in_flight() as u64 <= MAX_IN_FLIGHT);
    prop_assert!(plan.limits.ops.unwrap_or(0) <= MAX_OPS);
    let run_length = plan.limits.warmup + plan.limits.duration.unwrap_or_default();
    prop_assert!(run_length <= MAX_RUN_LENGTH, "{run_length:?}");
    let weights: u64 = plan.mix.iter().map(|m| u64::from(m.weight)).sum();
    prop_assert!(weights <= MAX_WEIGHT);

    let mut sequence = OpSequence::new(plan).map_err(TestCaseError::fail)?;
    let run_id = crate::results::new_run_id(&plan.name, SystemTime::now());
    let run_prefix = format!("{}{run_id}/", plan.data.prefix);
    prop_assert!(
        crate::plan::check_key_prefix(&run_prefix).is_ok(),
        "{run_prefix:?}"
    );
    let keys = KeySpace::new(plan, &run_prefix);
    let under_run_prefix = |key: &str| -> Result<(), TestCaseError> {
        prop_assert!(
            key.starts_with(&run_prefix),
            "{key:?} outside {run_prefix:?}"
        );
        prop_assert!(crate::plan::check_key_prefix(key).is_ok(), "{key:?}");
        Ok(())
    };
    for _ in 0..64 {
        let op = sequence.next_op();
        let call = keys.call(&op);
        let bucket = &plan.data.buckets[op.bucket];
        if op.key != crate::plan::sequence::ObjectKey::None {
            let key = keys.key(op.key);
            under_run_prefix(&key)?;
            // A multipart upload starts with `?uploads`; the object is the same.
            let path = call.path_and_query.split('?').next().unwrap_or_default();
            prop_assert_eq!(path, format!("/{bucket}/{key}"));
        }
        if let Some(upload) = keys.upload(&op) {
            prop_assert!(upload.parts() <= crate::plan::multipart::MAX_PARTS);
        }
    }
    for entry in plan.mix.iter().filter_map(|m| m.prefix.as_deref()) {
        under_run_prefix(&format!("{run_prefix}{entry}x"))?;
    }
    if plan.data.objects <= SEED_LIST_CHECKED {
        let seeds = keys
            .seed_objects(plan)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(seeds.len() as u64, plan.data.objects);
        for (_, key, size) in &seeds {
            under_run_prefix(key)?;
            prop_assert!(*size <= crate::plan::size::MAX_OBJECT_BYTES);
        }
    }
    plan.load.phases(&plan.limits);
    if let LoadModel::Journeys(j) = &plan.load {
        // The last journey of the last user: the largest op indexes.
        let choice = crate::plan::journey::KeyChoice::new(plan, j.iterations)
            .map_err(TestCaseError::fail)?;
        let mut draw = choice.journey(j.users as u64 - 1, j.iterations - 1);
        for step in j.journeys.iter().flat_map(|j| &j.steps) {
            let op = draw.op(&choice, step);
            if op.key != crate::plan::sequence::ObjectKey::None {
                under_run_prefix(&keys.key(op.key))?;
            }
        }
    }
    if let LoadModel::OpenLoop(open) = &plan.load {
        let schedule = crate::engine::new_schedule(
            open,
            plan.limits.warmup,
            plan.limits.duration,
            plan.seed,
            crate::plan::Shard::WHOLE,
        );
        let mut cursor = schedule.lock().unwrap();
        let mut last = 0.0;
        for _ in 0..64 {
            let Some(t) = cursor.next_before(f64::INFINITY) else {
                break;
            };
            prop_assert!(t >= last && t.is_finite(), "due {t} after {last}");
            last = t;
        }
    }
    Ok(())
}

/// The shipped scenarios, as (path, text).
fn shipped() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["scenarios", "scenarios/ci"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path.display().to_string(), text));
            }
        }
    }
    out.sort();
    out
}

/// Case count: `GATEBENCH_FUZZ_CASES`, else [`SUITE_CASES`].
pub fn cases() -> u32 {
    std::env::var("GATEBENCH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SUITE_CASES)
}

#[test]
fn mutated_shipped_scenarios_validate_and_build_or_are_refused_with_a_position() {
    let files = shipped();
    for (path, text) in &files {
        let plan = parse(Path::new(path), text, &fuzz_env)
            .unwrap_or_else(|e| panic!("shipped scenario does not validate: {e}"));
        build(&plan).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let strategy = (
        proptest::sample::select(files),
        proptest::collection::vec(mutation(), 1..4),
    );
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let (started, validated) = (Instant::now(), std::cell::Cell::new(0u32));
    let result = runner.run(&strategy, |((path, text), mutations)| {
        let mutated = mutations.iter().fold(text, |t, m| apply(&t, m));
        match parse(Path::new(&path), &mutated, &fuzz_env) {
            Ok(plan) => {
                validated.set(validated.get() + 1);
                build(&plan)
            }
            Err(e) => {
                prop_assert!(
                    e.line.is_some() && e.column.is_some(),
                    "refused without a position: {e}\n{mutated}"
                );
                Ok(())
            }
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "scenario fuzz: {} cases ({} validated) in {elapsed:.2}s, {:.0}/s",
        cases(),
        validated.get(),
        f64::from(cases()) / elapsed
    );
    result.unwrap();
}
