//! Broken scenarios must be refused with file, line, column and field.

use std::path::Path;

use super::*;

const GOOD: &str = r#"name = "t"
[run]
duration = "5s"
[load]
executor = "closed-loop"
concurrency = 4
[data]
buckets = ["bench"]
objects = 10
size = "4KiB"
[mix]
get = 60
list = { weight = 5, max_keys = 100 }
[targets.rgw]
kind = "s3"
endpoint = "http://127.0.0.1:7480"
access_key = "${AK}"
secret_key = "${SK}"
"#;

fn env(name: &str) -> Option<String> {
    match name {
        "AK" => Some("access".into()),
        "SK" => Some("very-secret".into()),
        _ => None,
    }
}

fn check(text: &str) -> Result<Plan, ScenarioError> {
    parse(Path::new("scenarios/x.toml"), text, &env)
}

#[test]
fn a_good_file_becomes_a_plan() {
    let plan = check(GOOD).unwrap();
    assert_eq!(plan.mix.len(), 2);
    assert_eq!(plan.mix[1].max_keys, Some(100));
    let TargetKind::S3(s3) = &plan.targets[0].kind else {
        panic!()
    };
    assert_eq!(s3.secret_key.expose(), "very-secret");
    assert!(!format!("{plan:?}").contains("very-secret"));
    assert!(!toml::to_string(&plan).unwrap().contains("very-secret"));
}

#[test]
fn a_list_delimiter_is_slash_and_for_list_only() {
    let with = |entry: &str| check(&GOOD.replace("list = { weight = 5, max_keys = 100 }", entry));
    let plan = with("list = { weight = 5, prefix = \"s/\", delimiter = \"/\" }").unwrap();
    assert_eq!(plan.mix[1].delimiter.as_deref(), Some("/"));
    assert_eq!(check(GOOD).unwrap().mix[1].delimiter, None);
    let e = with("list = { weight = 5, delimiter = \",\" }").unwrap_err();
    assert_eq!(e.field, "mix.list.delimiter", "{e}");
    let e =
        check(&GOOD.replace("get = 60", "get = { weight = 60, delimiter = \"/\" }")).unwrap_err();
    assert_eq!(e.field, "mix.get", "{e}");
    assert!(e.message.contains("apply to `list` only"), "{e}");
}

#[test]
fn type_error_names_line_and_field() {
    let e = check(&GOOD.replace("concurrency = 4", "concurrency = \"four\"")).unwrap_err();
    assert_eq!((e.line, e.column), (Some(6), Some(15)), "{e}");
    assert_eq!(e.field, "load.concurrency");
    assert!(
        e.to_string()
            .starts_with("scenarios/x.toml:6:15: load.concurrency: "),
        "{e}"
    );
}

#[test]
fn negative_weight_is_refused() {
    let e = check(&GOOD.replace("get = 60", "get = -3")).unwrap_err();
    assert_eq!(e.line, Some(12), "{e}");
    assert_eq!(e.field, "mix.get.weight");
    assert!(e.message.contains(">= 0"), "{e}");
}

#[test]
fn unknown_field_is_refused() {
    let e = check(&GOOD.replace("objects = 10", "objects = 10\nobjcts = 3")).unwrap_err();
    assert_eq!(e.line, Some(10), "{e}");
    assert!(e.to_string().contains("objcts"), "{e}");
    assert!(e.field.starts_with("data"), "{e}");
}

#[test]
fn unset_variable_is_refused_without_leaking_values() {
    let e = check(&GOOD.replace("${SK}", "${MISSING_SECRET}")).unwrap_err();
    assert_eq!(e.line, Some(18), "{e}");
    assert_eq!(e.field, "targets.rgw.secret_key");
    assert!(e.message.contains("MISSING_SECRET is not set"), "{e}");
}

#[test]
fn a_run_must_end_by_itself() {
    let e = check(&GOOD.replace("duration = \"5s\"", "")).unwrap_err();
    assert_eq!(e.field, "run");
}

#[test]
fn reads_need_seeded_objects() {
    let e = check(&GOOD.replace("objects = 10", "objects = 0")).unwrap_err();
    assert_eq!(e.field, "mix.get");
}

#[test]
fn bad_size_and_endpoint_are_located() {
    let e = check(&GOOD.replace("\"4KiB\"", "\"4 kilos\"")).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (Some(10), "data.size"), "{e}");
    let e = check(&GOOD.replace("http://127.0.0.1:7480", "127.0.0.1:7480")).unwrap_err();
    assert_eq!(
        (e.line, e.field.as_str()),
        (Some(16), "targets.rgw.endpoint"),
        "{e}"
    );
}

#[test]
fn toml_syntax_errors_are_located() {
    let e = check(&GOOD.replace("[mix]", "[mix")).unwrap_err();
    assert_eq!(e.line, Some(11), "{e}");
}

#[test]
fn a_gateway_states_its_rate_limit_and_a_direct_target_cannot() {
    let gateway = format!(
        "{GOOD}[targets.gw]\nkind = \"embedded-gateway\"\nsetup_via = \"rgw\"\n\
         rate_limit = {{ calls = 1000, renewal_period = \"10s\" }}\n"
    );
    let plan = check(&gateway).unwrap();
    let gw = plan.targets.iter().find(|t| t.name == "gw").unwrap();
    assert_eq!(
        gw.rate_limit,
        Some(RateLimitHint {
            calls: 1000,
            renewal_period_s: 10
        })
    );

    let e = check(&gateway.replace("\"10s\"", "\"500ms\"")).unwrap_err();
    assert_eq!(e.field, "targets.gw.rate_limit.renewal_period", "{e}");
    assert_eq!((e.line, e.column), (Some(22), Some(47)), "{e}");
    assert!(e.message.contains("whole seconds"), "{e}");
    let e = check(&gateway.replace("calls = 1000", "calls = 0")).unwrap_err();
    assert_eq!(e.field, "targets.gw.rate_limit.calls", "{e}");

    let direct = GOOD.replace(
        "secret_key = \"${SK}\"",
        "secret_key = \"${SK}\"\nrate_limit = { calls = 5, renewal_period = \"1s\" }",
    );
    let e = check(&direct).unwrap_err();
    assert_eq!(e.field, "targets.rgw.rate_limit", "{e}");
    assert!(e.message.contains("does not take `rate_limit`"), "{e}");
}

/// `GOOD` with `from` replaced by `to`, expected to be refused at `line` for `field`,
/// with a message that contains `says`.
fn refused(from: &str, to: &str, line: usize, field: &str, says: &str) {
    let text = GOOD.replace(from, to);
    assert_ne!(text, GOOD, "{from:?} is not in GOOD");
    let e = check(&text).unwrap_err();
    assert_eq!(
        (e.line, e.field.as_str()),
        (Some(line), field),
        "{to:?}: {e}"
    );
    assert!(e.column.is_some(), "{to:?}: {e}");
    assert!(e.message.contains(says), "{to:?}: {e}");
}

const CLOSED: &str = "executor = \"closed-loop\"\nconcurrency = 4";

#[test]
fn counts_beyond_what_the_machine_can_hold_are_refused() {
    for n in ["9223372036854775807", "1000000000000", "5000001"] {
        refused(
            "objects = 10",
            &format!("objects = {n}"),
            9,
            "data.objects",
            "at most 5000000",
        );
    }
    check(&GOOD.replace("objects = 10", "objects = 5000000")).unwrap();
    let open = "executor = \"constant-arrival-rate\"\nrate = 10\nmax_in_flight = 4294967296";
    refused(CLOSED, open, 7, "load.max_in_flight", "at most 20000");
    refused(
        CLOSED,
        "executor = \"closed-loop\"\nconcurrency = 20001",
        6,
        "load.concurrency",
        "at most 20000",
    );
    refused(
        "duration = \"5s\"",
        "ops = 9223372036854775807",
        3,
        "run.ops",
        "at most",
    );
}

#[test]
fn weights_whose_sum_overflows_are_refused_not_failed_at_run_time() {
    // Each fits a u32, the sum does not: the run used to fail building its sequence.
    refused(
        "get = 60",
        "get = 4294967295\nhead = 4294967295",
        12,
        "mix.get.weight",
        "at most 1000000",
    );
    refused(
        "get = 60",
        "get = 600000\nhead = 600000",
        13,
        "mix.head.weight",
        "add up to",
    );
    refused(
        "size = \"4KiB\"",
        "size = { weighted = [{ size = \"1KiB\", weight = 4294967295 }, { size = \"2KiB\", weight = 4294967295 }] }",
        10,
        "data.size",
        "at most 1000000",
    );
    let plan = check(&GOOD.replace("get = 60", "get = 999995")).unwrap();
    crate::plan::sequence::OpSequence::new(&plan).unwrap();
}

#[test]
fn sizes_beyond_one_s3_object_are_refused_not_clamped() {
    for size in ["\"20EiB\"", "\"6GiB\"", "\"17000000TiB\""] {
        refused(
            "size = \"4KiB\"",
            &format!("size = {size}"),
            10,
            "data.size",
            "5 GiB",
        );
    }
    refused(
        "size = \"4KiB\"",
        "size = { lognormal = { median = \"1MiB\", p99 = \"8GiB\" } }",
        10,
        "data.size",
        "5 GiB",
    );
    check(&GOOD.replace("size = \"4KiB\"", "size = \"5GiB\"")).unwrap();
}

#[test]
fn durations_beyond_a_week_are_refused() {
    refused(
        "duration = \"5s\"",
        "duration = \"400000000000years\"",
        3,
        "run.duration",
        "at most 7days",
    );
    refused(
        "duration = \"5s\"",
        "duration = \"5s\"\nwarmup = \"8days\"",
        4,
        "run.warmup",
        "at most 7days",
    );
    refused(
        "duration = \"5s\"",
        "duration = \"5s\"\nrequest_timeout = \"3days\"",
        4,
        "run.request_timeout",
        "at most 1day",
    );
    // Two stages whose lengths overflow a Duration when added used to panic.
    let ramp = "executor = \"ramping-arrival-rate\"\nstages = [{ target = 1, duration = \"500000000000years\" }, { target = 1, duration = \"500000000000years\" }]";
    refused(CLOSED, ramp, 6, "load.stages[0].duration", "at most 7days");
    let ramp = "executor = \"ramping-arrival-rate\"\nstages = [{ target = 1, duration = \"4days\" }, { target = 1, duration = \"4days\" }]";
    let e = check(&GOOD.replace("duration = \"5s\"", "").replace(CLOSED, ramp)).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (Some(6), "load.stages"), "{e}");
    assert!(e.message.contains("at most 7days"), "{e}");
}

#[test]
fn prefixes_that_could_leave_the_run_prefix_are_refused() {
    // As written in the file (TOML strings).
    for prefix in [
        r#""../victim/""#,
        r#""a/../../b/""#,
        r#""./x/""#,
        r#""a/./b""#,
        r#""a//b/""#,
        r#""/abs/""#,
        r#""..""#,
        r#""tab\there/""#,
        r#""nul\u0000/""#,
        r#""a%2e%2e/""#,
        r#"'back\slash/'"#,
        r#""q?x=1/""#,
    ] {
        let to = format!("buckets = [\"bench\"]\nprefix = {prefix}");
        refused("buckets = [\"bench\"]", &to, 9, "data.prefix", "");
    }
    for prefix in ["gatebench/", "team-a/bench_1/", "runs.v2/", "flat-", ""] {
        let to = format!("buckets = [\"bench\"]\nprefix = {prefix:?}");
        check(&GOOD.replace("buckets = [\"bench\"]", &to)).unwrap();
    }
    refused(
        "max_keys = 100 }",
        "max_keys = 100, prefix = \"../\" }",
        13,
        "mix.list.prefix",
        "",
    );
    for bucket in ["...", "a..b", ".bench", "bench-"] {
        let to = format!("buckets = [{bucket:?}]");
        refused("buckets = [\"bench\"]", &to, 8, "data.buckets[0]", "");
    }
    for name in ["..", ".hidden", "a/b", &"n".repeat(65)] {
        refused("name = \"t\"", &format!("name = {name:?}"), 1, "name", "");
    }
}

#[test]
fn errors_without_a_field_of_their_own_point_at_their_table() {
    let e = check(
        &GOOD
            .replace("get = 60", "get = 0")
            .replace("weight = 5", "weight = 0"),
    )
    .unwrap_err();
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (Some(11), Some(1), "mix"),
        "{e}"
    );
    let e = check(&GOOD.replace("duration = \"5s\"", "")).unwrap_err();
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (Some(2), Some(1), "run"),
        "{e}"
    );
}

#[test]
fn invalid_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let (first, rest) = GOOD.split_once('\n').unwrap();
    let mut bytes = format!("{first}\ndescription = \"ab").into_bytes();
    bytes.push(0xFF);
    bytes.extend_from_slice(format!("\"\n{rest}").as_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!((e.line, e.column), (Some(2), Some(18)), "{e}");
    assert!(e.message.contains("UTF-8"), "{e}");
}

#[test]
fn deep_nesting_is_a_located_error_not_a_stack_overflow() {
    let deep = 100_000;
    for (open, close) in [("[", "]"), ("{ a = ", " }")] {
        let value = format!("{}1{}", open.repeat(deep), close.repeat(deep));
        let text = GOOD.replace("name = \"t\"", &format!("name = \"t\"\nx = {value}"));
        let e = check(&text).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.column.is_some(), "{e}");
        assert!(e.message.contains("recursion depth"), "{e}");
    }
}

/// A scenario without `[mix]` is refused at the executor that needs it (found by the
/// scenario fuzzer: the refusal had no position).
#[test]
fn a_missing_mix_is_refused_at_the_executor() {
    refused(
        "[mix]\nget = 60\nlist = { weight = 5, max_keys = 100 }\n",
        "",
        5,
        "mix",
        "missing [mix]",
    );
}
