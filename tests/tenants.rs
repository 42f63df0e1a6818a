//! Many tenants through one gateway: each subscription key is throttled at its own
//! per-key limit, and the gateway as a whole lets through that limit times the keys.

mod common;

use common::*;

/// The per-subscription limit of deploy/apim/policy.tenants.local.xml, calls per second.
const LIMIT: f64 = 20.0;

#[test]
fn each_subscription_key_is_throttled_at_its_own_limit() {
    let tmp = tempdir();
    // 4 keys at 20/s each; 120/s offered (30/s per key), above 4× the limit.
    let path = write_scenario(
        tmp.path(),
        "tenants.toml",
        r#"name = "tenants"
[run]
duration = "5s"
warmup = "1s"
seed = 16
compare = "sequential"
[load]
executor = "constant-arrival-rate"
rate = 120
max_in_flight = 16
[data]
buckets = ["tenants"]
objects = 20
size = "1KiB"
[mix]
get = 1
[targets.direct]
kind = "embedded"
[targets.apim]
kind = "embedded-gateway"
policy = "deploy/apim/policy.tenants.local.xml"
setup_via = "direct"
clients = [{ name = "tenant-a" }, { name = "tenant-b" }, { name = "tenant-c" }, {}]
"#,
    );
    let out = tmp.path().join("out");
    let ran = run_scenario(&path, &out, &[]);
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran));
    let s = summary(&out);
    let apim = target(&s, "apim");
    let by_client = apim["by_client"].as_array().expect("by_client");
    let labels: Vec<&str> = by_client
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["tenant-a", "tenant-b", "tenant-c", "client-4"]);
    let mut ok_total = 0.0;
    for c in by_client {
        let ok_per_s = c["ok_per_s"].as_f64().unwrap();
        assert!(
            (ok_per_s - LIMIT).abs() <= 0.1 * LIMIT,
            "each key is let through at its own limit: {c:#}"
        );
        assert!(c["throttled"].as_u64().unwrap() > 0, "{c:#}");
        assert_eq!(c["errors"], 0, "{c:#}");
        let fields: Vec<&String> = c.as_object().unwrap().keys().collect();
        assert!(
            fields
                .iter()
                .all(|f| !f.contains("key") && !f.contains("secret")),
            "no key or secret in by_client: {fields:?}"
        );
        ok_total += ok_per_s;
    }
    assert!(
        (ok_total - 4.0 * LIMIT).abs() <= 0.1 * 4.0 * LIMIT,
        "the gateway lets 4 × the limit through: {ok_total}/s"
    );
    // by_client adds up to the target's own counts.
    let get = op(&s, "apim", "get");
    let sum = |field: &str| {
        by_client
            .iter()
            .map(|c| c[field].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(sum("ok"), ok_count(get));
    assert_eq!(
        sum("throttled"),
        get["outcomes"]["throttled"].as_u64().unwrap()
    );
    assert!(target(&s, "direct").get("by_client").is_none());

    let chart = std::fs::read_to_string(out.join("charts/outcomes.svg")).unwrap();
    assert!(chart.contains("throttled: tenant-a") && chart.contains("throttled: client-4"));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("### By client") && md.contains("| apim | tenant-b |"),
        "{md}"
    );
}
