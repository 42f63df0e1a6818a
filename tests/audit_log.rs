//! `gatebench gateway --audit-log`: one line per request the gateway answered (refusals
//! too), as many as its own stats count and the client sent, each with the gateway's
//! `x-ms-request-id` and the client's `x-client-request-id`, and no secret in the file.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::http::http;
use common::procs::{start, start_reading};

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn the_audit_log_has_a_line_per_answered_request_and_no_secret() {
    let (_idp, token_url) = start(
        &[
            "idp",
            "--listen",
            "127.0.0.1:0",
            "--issuer",
            "http://127.0.0.1:8081",
            "--client",
            "bench:devsecret:storage.read,storage.write",
        ],
        "token endpoint:",
    );
    let discovery = token_url.replace("/token", "/.well-known/openid-configuration");
    let tmp = common::tempdir();
    let log = tmp.path().join("audit.jsonl");
    let (mut gw, values) = start_reading(
        common::gatebench(),
        &[
            "gateway",
            "--policy",
            "deploy/apim/policy.local.xml",
            "--listen",
            "127.0.0.1:0",
            "--embedded-backend",
            "--subscription-key",
            "bench=devkey-4f1d",
            "--openid-config-url",
            &discovery,
            "--audit-log",
            log.to_str().unwrap(),
        ],
        &["GATEBENCH_BACKEND_SECRET_KEY=", "gateway:"],
    );
    let (backend_secret, base) = (values[0].clone(), values[1].clone());
    let basic = base64::engine::general_purpose::STANDARD.encode("bench:devsecret");
    let (status, _, body) = http(
        &token_url,
        "POST",
        &[
            ("Authorization", &format!("Basic {basic}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "grant_type=client_credentials",
    );
    assert_eq!(status, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    let jwt = token["access_token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {jwt}");
    let good = |id: &str| {
        [
            ("Authorization", bearer.clone()),
            ("Ocp-Apim-Subscription-Key", "devkey-4f1d".to_string()),
            ("x-client-request-id", id.to_string()),
        ]
    };

    let mut sent = 0;
    let mut send = |url: String, method: &str, headers: Vec<(&str, String)>, body: &str| {
        sent += 1;
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        http(&url, method, &h, body)
    };
    let (status, head, _) = send(format!("{base}/audit"), "PUT", good("c-0").to_vec(), "");
    assert_eq!(status, 200);
    assert!(head.contains("x-ms-request-id: "), "{head}");
    for i in 1..=12 {
        let id = format!("c-{i}");
        assert_eq!(
            send(format!("{base}/audit/k{i}"), "PUT", good(&id).to_vec(), "x").0,
            200
        );
        let query = format!("{base}/audit?list-type=2&prefix=k{i}");
        assert_eq!(send(query, "GET", good(&id).to_vec(), "").0, 200);
    }
    // Refused: no token, a bad token, no subscription key, a wrong one.
    let no_token = vec![("Ocp-Apim-Subscription-Key", "devkey-4f1d".to_string())];
    assert_eq!(send(format!("{base}/audit/k1"), "GET", no_token, "").0, 401);
    let bad_token = vec![
        (
            "Authorization",
            "Bearer eyJhbGciOiJub25lIn0.eyJhenAiOiJ4In0.".to_string(),
        ),
        ("Ocp-Apim-Subscription-Key", "devkey-4f1d".to_string()),
    ];
    assert_eq!(
        send(format!("{base}/audit/k1"), "GET", bad_token, "").0,
        401
    );
    let no_key = vec![("Authorization", bearer.clone())];
    assert_eq!(send(format!("{base}/audit/k1"), "GET", no_key, "").0, 401);
    let wrong_key = vec![
        ("Authorization", bearer.clone()),
        ("Ocp-Apim-Subscription-Key", "wrong-key-77".to_string()),
    ];
    assert_eq!(
        send(format!("{base}/audit/k1"), "GET", wrong_key, "").0,
        401
    );

    let stats_url = format!("{}/__gatebench/stats", base.trim_end_matches("/storage"));
    let stats: serde_json::Value =
        serde_json::from_str(&http(&stats_url, "GET", &[], "").2).unwrap();
    let served = stats["requests"].as_u64().unwrap();
    assert_eq!(served, sent, "{stats}");

    // Flushed within a second or so while the gateway still runs.
    let deadline = Instant::now() + Duration::from_secs(5);
    while (lines(&log).len() as u64) < served && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(lines(&log).len() as u64, served, "flushed while running");
    assert!(gw.terminate().success(), "a clean stop");
    let all = lines(&log);
    assert_eq!(all.len() as u64, served, "the stats request is not audited");

    let statuses: Vec<u64> = all.iter().map(|l| l["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 4);
    for l in &all {
        assert!(
            l["ids"]["gateway"].as_str().is_some_and(|g| g.len() == 36),
            "{l}"
        );
        assert!(l["total_ms"].as_f64().is_some(), "{l}");
        assert!(l["time"].as_str().unwrap().ends_with('Z'), "{l}");
    }
    let first = &all[0];
    assert_eq!(first["client_id"], "bench", "{first}");
    assert_eq!(first["subscription"], "bench", "{first}");
    assert_eq!(first["operation"], "createBucket", "{first}");
    assert_eq!(first["ids"]["client"], "c-0", "{first}");
    assert!(first["backend_ms"].as_f64().is_some(), "{first}");
    let list = all
        .iter()
        .find(|l| l["operation"] == "listObjects")
        .unwrap();
    assert_eq!(list["path"], "/storage/audit?list-type&prefix", "{list}");
    let wrong = all.iter().rfind(|l| l["status"] == 401).unwrap();
    assert!(wrong["subscription"].is_null(), "{wrong}");

    let text = std::fs::read_to_string(&log).unwrap();
    for secret in [
        "devkey-4f1d",
        "wrong-key-77",
        "devsecret",
        basic.as_str(),
        jwt.as_str(),
        "eyJ",
        "Bearer",
        backend_secret.as_str(),
    ] {
        assert!(!text.contains(secret), "{secret} in the audit log:\n{text}");
    }
}
