//! End to end through the CLI: `gatebench idp` and `gatebench gateway` as processes, a
//! token from the idp, S3 requests through the gateway to its embedded backend.

mod common;

use std::time::Duration;

use common::http::http;
use common::procs::start;

use base64::Engine;

#[test]
fn idp_and_gateway_serve_s3_with_tokens_cache_and_stats() {
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
    let (_gw, base) = start(
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
        "gateway:",
    );
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
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let auth = [
        ("Authorization", bearer.as_str()),
        ("Ocp-Apim-Subscription-Key", "devkey"),
    ];

    let (status, _, body) = http(&format!("{base}/demo"), "GET", &auth[1..], "");
    assert_eq!(status, 401);
    assert_eq!(body, r#"{"statusCode":401,"message":"JWT not present."}"#);
    assert_eq!(http(&format!("{base}/demo"), "PUT", &auth, "").0, 200);
    assert_eq!(
        http(&format!("{base}/demo/k"), "PUT", &auth, "hello").0,
        200
    );
    let (status, head, body) = http(&format!("{base}/demo/k"), "GET", &auth, "");
    assert_eq!((status, body.as_str()), (200, "hello"));
    assert!(head.contains("x-cache: miss"), "{head}");
    let (_, head, body) = http(&format!("{base}/demo/k"), "GET", &auth, "");
    assert!(head.contains("x-cache: hit"), "{head}");
    assert_eq!(body, "hello");

    let stats_url = format!("{}/__gatebench/stats", base.trim_end_matches("/storage"));
    let (status, _, body) = http(&stats_url, "GET", &[], "");
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["forwarded"], 3, "{stats}");
    assert_eq!(stats["cache_hits"], 1, "{stats}");
    assert_eq!(stats["auth_failed"], 1, "{stats}");
}

#[test]
fn gateway_refuses_an_unsupported_policy_with_exit_code_2() {
    let dir = common::tempdir();
    let policy = dir.path().join("p.xml");
    std::fs::write(
        &policy,
        "<policies>\n<inbound>\n<send-request mode=\"new\" />\n</inbound>\n</policies>\n",
    )
    .unwrap();
    let out = common::run(&[
        "gateway",
        "--policy",
        policy.to_str().unwrap(),
        "--embedded-backend",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("p.xml:3") && err.contains("send-request"),
        "{err}"
    );
}

/// A spawned gateway, killed if a test fails before it ends.
struct Spawned(std::process::Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn sigterm_stops_the_gateway_cleanly_and_removes_the_embedded_backend_folder() {
    use std::io::BufRead;
    let policy_dir = common::tempdir();
    let policy = policy_dir.path().join("p.xml");
    std::fs::write(&policy, "<policies><inbound><base /></inbound></policies>").unwrap();
    let tmp = common::tempdir();
    let mut gateway = Spawned(
        common::gatebench()
            .env("TMPDIR", tmp.path())
            .args(["gateway", "--listen", "127.0.0.1:0", "--embedded-backend"])
            .arg("--policy")
            .arg(&policy)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = std::io::BufReader::new(gateway.0.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("gateway: line").unwrap();
        if let Some(v) = line.strip_prefix("gateway:") {
            break v.trim().to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    assert_eq!(http(&format!("{base}/demo"), "PUT", &[], "").0, 200);
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "the embedded backend's folder"
    );

    let pid = libc::pid_t::try_from(gateway.0.id()).unwrap();
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = gateway.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
