//! `gatebench probe` end to end through the CLI, against `gatebench idp` and `gatebench
//! gateway` processes: every step passes on a working stack; a token with the wrong
//! audience and an unreachable target each fail at the step that is wrong, named.

mod common;

use std::path::Path;
use std::process::Output;

use common::procs::{Running, start, start_reading};
use common::{gatebench, tempdir, text, write_scenario};

/// A running idp (issuing tokens for `audience`) and gateway with an embedded backend:
/// the processes, and a scenario probing the backend directly and through the gateway.
struct Stack {
    _idp: Running,
    _gateway: Running,
    scenario: String,
}

fn stack(audience: &str) -> Stack {
    stack_with(audience, None)
}

/// `stack`, the client authenticating with `certificate` (cert and key PEM files)
/// instead of a secret.
fn stack_with(audience: &str, certificate: Option<(&Path, &Path)>) -> Stack {
    let (client_option, client) = match certificate {
        Some((cert, _)) => (
            "--client-certificate",
            format!("bench:{}:storage.read,storage.write", cert.display()),
        ),
        None => (
            "--client",
            "bench:devsecret:storage.read,storage.write".into(),
        ),
    };
    let credential = match certificate {
        Some((cert, key)) => format!(
            r#"client_certificate = {{ cert_file = "{}", key_file = "{}" }}"#,
            cert.display(),
            key.display()
        ),
        None => r#"client_secret = "devsecret""#.into(),
    };
    let (idp, token_url) = start(
        &[
            "idp",
            "--listen",
            "127.0.0.1:0",
            "--issuer",
            "http://127.0.0.1:8081",
            // v1 tokens: aud is --audience (v2 would carry --api-client-id).
            "--token-version",
            "1",
            "--audience",
            audience,
            client_option,
            &client,
        ],
        "token endpoint:",
    );
    let discovery = token_url.replace("/token", "/.well-known/openid-configuration");
    let (gateway, values) = start_reading(
        gatebench(),
        &[
            "gateway",
            "--policy",
            "deploy/apim/policy.local.xml",
            "--listen",
            "127.0.0.1:0",
            "--embedded-backend",
            "--subscription-key",
            "bench=devkey",
            "--openid-config-url",
            &discovery,
        ],
        &[
            "embedded backend:",
            "GATEBENCH_BACKEND_ACCESS_KEY=",
            "GATEBENCH_BACKEND_SECRET_KEY=",
            "gateway:",
        ],
    );
    let [backend, access_key, secret_key, base_url] = &values[..] else {
        panic!("{values:?}")
    };
    let scenario = format!(
        r#"name = "probe-test"
[run]
duration = "2s"
[load]
executor = "closed-loop"
concurrency = 1
[data]
buckets = ["gatebench-probe"]
objects = 5
size = "1KiB"
[mix]
get = 5
head = 2
list = 1
put = 1
delete = 1
[targets.store]
kind = "s3"
endpoint = "{backend}"
access_key = "{access_key}"
secret_key = "{secret_key}"
[targets.apim]
kind = "gateway"
base_url = "{base_url}"
subscription_key = "devkey"
oauth2 = {{ token_url = "{token_url}", client_id = "bench", {credential}, scope = "api://gatebench-storage/.default" }}
setup_via = "store"
"#
    );
    Stack {
        _idp: idp,
        _gateway: gateway,
        scenario,
    }
}

fn probe(scenario: &str, extra: &[&str]) -> Output {
    let dir = tempdir();
    let path = write_scenario(dir.path(), "probe.toml", scenario);
    gatebench()
        .arg("probe")
        .arg(&path)
        .args(extra)
        .output()
        .expect("gatebench runs")
}

#[test]
fn a_working_gateway_stack_passes_every_step() {
    let stack = stack("api://gatebench-storage");
    let out = probe(&stack.scenario, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for step in [
        "resolve", "connect", "token", "seed", "put", "get", "head", "list", "delete", "clean-up",
    ] {
        assert!(stdout.contains(&format!("✓ {step}")), "{step}: {stdout}");
    }
    assert!(!stdout.contains('✗'), "{stdout}");
    assert!(
        stdout.contains("aud api://gatebench-storage") && stdout.contains("azp/appid bench"),
        "{stdout}"
    );
    // The gateway's cache header on GET, and never the secrets or the token.
    assert!(stdout.contains("x-cache: MISS"), "{stdout}");
    assert!(
        !stdout.contains("devsecret") && !stdout.contains("devkey"),
        "{stdout}"
    );
    assert!(stdout.contains("probe passed: 2 targets"), "{stdout}");

    let out = probe(&stack.scenario, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let apim = json["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "apim")
        .expect("target apim");
    assert!(
        apim["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["ok"] == true && s["step"].is_string()),
        "{apim:#}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("eyJ"),
        "a token leaked"
    );
}

#[test]
fn a_token_for_the_wrong_audience_fails_naming_aud() {
    let stack = stack("api://wrong");
    let out = probe(&stack.scenario, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("probe failed at put for target apim: 401 Invalid JWT.")
            && stderr.contains("check aud (token has \"api://wrong\")"),
        "{}",
        text(&out)
    );
    // The probe object was deleted again even though the target failed.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("✓ clean-up"), "{stdout}");
}

#[test]
fn an_unreachable_target_fails_at_connect_and_a_broken_scenario_exits_2() {
    let port = common::free_port();
    let scenario = format!(
        r#"name = "probe-unreachable"
[run]
duration = "2s"
[load]
executor = "closed-loop"
concurrency = 1
[data]
buckets = ["gatebench-probe"]
objects = 5
size = "1KiB"
[mix]
get = 1
[targets.rgw]
kind = "s3"
endpoint = "http://127.0.0.1:{port}"
access_key = "a"
secret_key = "b"
"#
    );
    let out = probe(&scenario, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("probe failed at connect for target rgw")
            && stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        text(&out)
    );

    let out = probe(&scenario.replace("[mix]", "[mix]\nbogus = 1"), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn a_certificate_credential_gets_a_token_the_gateway_accepts() {
    let dir = tempdir();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["bench".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_file, key_file) = (dir.path().join("bench.pem"), dir.path().join("bench.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let stack = stack_with("api://gatebench-storage", Some((&cert_file, &key_file)));
    let out = probe(&stack.scenario, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("✓ token") && stdout.contains("✓ get"),
        "{stdout}"
    );
}

/// The quickstart with its embedded gateway and idp over https: the probe shows the
/// TLS step (protocol, the generated CA as issuer) and passes every step.
#[test]
fn the_https_quickstart_stack_passes_every_step_with_its_tls_details() {
    let scenario = std::fs::read_to_string("scenarios/quickstart.toml")
        .unwrap()
        .replace(
            "setup_via = \"direct\"",
            "setup_via = \"direct\"\ntls = true",
        );
    let out = probe(&scenario, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for step in ["connect", "tls", "token", "get", "clean-up"] {
        assert!(stdout.contains(&format!("✓ {step}")), "{step}: {stdout}");
    }
    assert!(stdout.contains("TLSv1_3"), "{stdout}");
    assert!(!stdout.contains('✗'), "{stdout}");
}
