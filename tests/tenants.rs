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

/// A `kind = "gateway"` target with `clients_from`: each client sends its own
/// subscription key (from `${ENV}`) to a `gatebench gateway` with three subscriptions
/// and a per-subscription `rate-limit`; no key reaches the results folder.
#[test]
fn a_gateway_target_sends_as_each_client_of_its_clients_file() {
    let Some(r) = common::ceph::rgw() else { return };
    let tmp = tempdir();
    let policy = tmp.path().join("policy.xml");
    std::fs::write(
        &policy,
        r#"<policies>
    <inbound><base /><rate-limit calls="10" renewal-period="1" /></inbound>
    <backend><forward-request timeout="30" /></backend>
    <outbound><base /></outbound>
    <on-error><base /></on-error>
</policies>"#,
    )
    .unwrap();
    let keys = [
        ("KEY_A", "tenant-a", "secret-key-of-tenant-a"),
        ("KEY_B", "tenant-b", "secret-key-of-tenant-b"),
        ("KEY_C", "tenant-c", "secret-key-of-tenant-c"),
    ];
    let subscriptions: Vec<String> = keys.iter().map(|(_, n, k)| format!("{n}={k}")).collect();
    let mut gateway = gatebench();
    gateway
        .env("GATEBENCH_BACKEND_ACCESS_KEY", &r.access_key)
        .env("GATEBENCH_BACKEND_SECRET_KEY", &r.secret_key);
    let mut args = vec![
        "gateway",
        "--policy",
        policy.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--backend-endpoint",
        &r.endpoint,
    ];
    for s in &subscriptions {
        args.extend(["--subscription-key", s]);
    }
    let (_gw, base_url) = common::procs::start_with(gateway, &args, "gateway:");
    std::fs::write(
        tmp.path().join("tenants.toml"),
        "clients = [\n  { name = \"tenant-a\", subscription_key = \"${KEY_A}\" },\n  \
         { name = \"tenant-b\", subscription_key = \"${KEY_B}\" },\n  \
         { name = \"tenant-c\", subscription_key = \"${KEY_C}\" },\n]\n",
    )
    .unwrap();
    let scenario = write_scenario(
        tmp.path(),
        "scenario.toml",
        &format!(
            r#"name = "tenants-gateway"
[run]
duration = "4s"
warmup = "1s"
seed = 16
compare = "sequential"
[load]
executor = "constant-arrival-rate"
rate = 60
max_in_flight = 12
[data]
buckets = ["gatebench-tenants"]
objects = 10
size = "1KiB"
[mix]
head = 1
[targets.direct]
kind = "s3"
endpoint = "${{RGW_ENDPOINT}}"
access_key = "${{RGW_ACCESS_KEY}}"
secret_key = "${{RGW_SECRET_KEY}}"
[targets.apim]
kind = "gateway"
base_url = "{base_url}"
setup_via = "direct"
clients_from = "tenants.toml"
"#
        ),
    );
    let out = tmp.path().join("out");
    let mut run = gatebench();
    run.envs(r.env()).envs(keys.map(|(var, _, key)| (var, key)));
    let ran = run
        .args(["run", scenario.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran));
    let s = summary(&out);
    let by_client = target(&s, "apim")["by_client"].as_array().unwrap().clone();
    let labels: Vec<&str> = by_client
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["tenant-a", "tenant-b", "tenant-c"]);
    for c in &by_client {
        let ok_per_s = c["ok_per_s"].as_f64().unwrap();
        assert!((ok_per_s - 10.0).abs() <= 1.0, "10/s per key: {c:#}");
        assert!(c["throttled"].as_u64().unwrap() > 0, "{c:#}");
    }
    for entry in walk(&out) {
        let bytes = std::fs::read(&entry).unwrap();
        let content = String::from_utf8_lossy(&bytes);
        for (_, _, key) in keys {
            assert!(!content.contains(key), "{key} in {}", entry.display());
        }
    }
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        match path.is_dir() {
            true => files.extend(walk(&path)),
            false => files.push(path),
        }
    }
    files
}
