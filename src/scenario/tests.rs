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
