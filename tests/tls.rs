//! The measured client over TLS, end to end through `gatebench run`: certificates
//! trusted or refused (each problem named before any load), mutual TLS, HTTP/2, and
//! per-request connections, against an https test server and the embedded gateway.

mod common;

use std::path::Path;

use gatebench::tls::generate::{LeafOptions, SelfSigned, SelfSignedFiles};
use serde_json::Value;

use common::*;

/// A test CA and leaf in `dir/name`.
fn certs(dir: &Path, name: &str, leaf: LeafOptions) -> SelfSignedFiles {
    SelfSigned::write(&dir.join(name), &leaf).unwrap()
}

/// `tls = { ca_file = … }` trusting `files`' CA, with its client certificate if `mtls`.
fn trusting(files: &SelfSignedFiles, mtls: bool) -> String {
    let mut s = format!("{{ ca_file = {:?}", files.ca);
    if mtls {
        s += &format!(
            ", client_cert = {:?}, client_key = {:?}",
            files.client_cert, files.client_key
        );
    }
    s + " }"
}

/// Runs `scenario_text`; its exit code, output (stdout and stderr) and summary.
fn run(dir: &Path, name: &str, scenario_text: &str) -> (Option<i32>, String, Value) {
    let path = write_scenario(dir, &format!("{name}.toml"), scenario_text);
    let out_dir = dir.join(name);
    let out = run_scenario(&path, &out_dir, &[]);
    let err = text(&out);
    (out.status.code(), err, summary(&out_dir))
}

/// Requests the gateway target sent, all outcomes.
fn gw_requests(s: &Value) -> u64 {
    target(s, "gw")["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["requests"].as_u64().unwrap())
        .sum()
}

#[test]
fn certificate_problems_are_named_before_any_load() {
    let tmp = tempdir();
    let good = certs(tmp.path(), "good", LeafOptions::default());
    let expired = certs(
        tmp.path(),
        "expired",
        LeafOptions {
            expired: true,
            ..Default::default()
        },
    );
    let elsewhere = certs(
        tmp.path(),
        "elsewhere",
        LeafOptions {
            without_loopback: true,
            extra_names: vec!["storage.example".into()],
            ..Default::default()
        },
    );
    let cases = [
        // No ca_file: the platform's roots do not know the test CA.
        (&good, "{ }", "unknown issuer"),
        (&expired, &trusting(&expired, false) as &str, "expired"),
        (&elsewhere, &trusting(&elsewhere, false), "name mismatch"),
    ];
    for (i, (files, tls, expect)) in cases.into_iter().enumerate() {
        let server = common::servers::TlsTestServer::start(files, false);
        let (code, err, s) = run(
            tmp.path(),
            &format!("bad{i}"),
            &server.scenario(10, tls, ""),
        );
        assert_eq!(code, Some(1), "{expect}: {err}");
        assert!(
            err.contains("target gw") && err.contains(expect),
            "{expect}: {err}"
        );
        assert_eq!(s["status"], "failed", "{s:#}");
        assert!(s["error"].as_str().unwrap().contains(expect), "{s:#}");
        assert_eq!(gw_requests(&s), 0, "nothing was sent: {s:#}");
    }
    // server_name makes the same certificate acceptable.
    let server = common::servers::TlsTestServer::start(&elsewhere, false);
    let tls = format!(
        "{{ ca_file = {:?}, server_name = \"storage.example\" }}",
        elsewhere.ca
    );
    let (code, err, _) = run(tmp.path(), "named", &server.scenario(10, &tls, ""));
    assert_eq!(code, Some(0), "{err}");

    // insecure_skip_verify accepts an unknown issuer, and says so in output and report.
    let server = common::servers::TlsTestServer::start(&good, false);
    let insecure = "{ insecure_skip_verify = true }";
    let (code, err, s) = run(tmp.path(), "insecure", &server.scenario(10, insecure, ""));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("note (gw): WARNING: tls.insecure_skip_verify"),
        "{err}"
    );
    let note = target(&s, "gw")["note"].as_str().unwrap_or_default();
    assert!(note.contains("NOT checked"), "{s:#}");
    let html = std::fs::read_to_string(tmp.path().join("insecure/report.html")).unwrap();
    assert!(html.contains("NOT checked"), "the report shows the warning");
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let tmp = tempdir();
    let files = certs(tmp.path(), "mtls", LeafOptions::default());
    let server = common::servers::TlsTestServer::start(&files, true);
    let (code, err, s) = run(
        tmp.path(),
        "with",
        &server.scenario(20, &trusting(&files, true), ""),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(op(&s, "gw", "get")["outcomes"]["ok"], 20, "{s:#}");

    // Without one, TLS 1.3 refuses after the client's side of the handshake: every
    // request fails as transport/tls, and the run says no request succeeded.
    let (code, err, s) = run(
        tmp.path(),
        "without",
        &server.scenario(20, &trusting(&files, false), ""),
    );
    assert_eq!(code, Some(1), "{err}");
    let get = op(&s, "gw", "get");
    assert_eq!(get["requests"], 20, "{s:#}");
    assert_eq!(get["transport_errors"]["tls"], 20, "{s:#}");
}

#[test]
fn http2_and_per_request_connections_are_counted_and_stated() {
    let tmp = tempdir();
    let files = certs(tmp.path(), "h2-certs", LeafOptions::default());
    let server = common::servers::TlsTestServer::start(&files, false);
    let tls = trusting(&files, false);

    let (code, err, s) = run(tmp.path(), "h2", &server.scenario(40, &tls, "http = \"2\""));
    assert_eq!(code, Some(0), "{err}");
    let c = &target(&s, "gw")["connections"];
    assert_eq!(c["http"], "h2", "{c:#}");
    assert_eq!(c["tls"], "TLSv1_3", "{c:#}");
    assert_eq!(c["opened"], 2, "one connection per worker: {c:#}");
    assert!(
        err.contains("connections (gw): keep-alive, h2 over TLSv1_3"),
        "{err}"
    );

    // Two workers share one HTTP/2 connection.
    let shared = "http = \"2\"\nstreams_per_connection = 2";
    let (code, err, s) = run(tmp.path(), "shared", &server.scenario(40, &tls, shared));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(target(&s, "gw")["connections"]["opened"], 1, "{s:#}");

    // A new connection, and a full handshake, for every request.
    let per_request = "connection = \"per-request\"";
    let (code, err, s) = run(tmp.path(), "per", &server.scenario(40, &tls, per_request));
    assert_eq!(code, Some(0), "{err}");
    let c = &target(&s, "gw")["connections"];
    assert_eq!(c["http"], "http/1.1", "{c:#}");
    assert_eq!(c["opened"], 40, "{c:#}");
    assert_eq!(c["tls_handshakes"], 40, "{c:#}");
    let get = op(&s, "gw", "get");
    assert_eq!(get["tls_us"]["count"], 40, "{get:#}");
    assert_eq!(get["connect_us"]["count"], 40, "{get:#}");
}

/// The quickstart workload through the embedded gateway and idp over https.
#[test]
fn the_quickstart_runs_over_https_through_the_embedded_gateway() {
    let tmp = tempdir();
    let quickstart = std::fs::read_to_string("scenarios/quickstart.toml").unwrap();
    let scenario_text = quickstart
        .replace("duration = \"8s\"", "duration = \"2s\"")
        .replace("warmup = \"2s\"", "warmup = \"0s\"")
        .replace("window = \"2s\"", "window = \"1s\"\nhttp = \"2\"")
        .replace(
            "setup_via = \"direct\"",
            "setup_via = \"direct\"\ntls = true",
        );
    let (code, err, s) = run(tmp.path(), "quick", &scenario_text);
    assert_eq!(code, Some(0), "{err}");
    let t = target(&s, "gateway");
    assert!(
        t["endpoint"].as_str().unwrap().starts_with("https://"),
        "{t:#}"
    );
    assert_eq!(t["connections"]["http"], "h2", "{t:#}");
    for op in t["ops"].as_array().unwrap() {
        assert!(op["requests"].as_u64().unwrap() > 0, "{op:#}");
        assert_eq!(op["outcomes"]["ok"], op["requests"], "{op:#}");
    }
    assert_eq!(t["auth"]["token_fetch_failures"], 0, "{t:#}");
}
