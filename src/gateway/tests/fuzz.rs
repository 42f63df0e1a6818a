//! Bounded fuzzing inside `cargo test`: the policy loader, token validation and the
//! gateway's request handling meet arbitrary and mutated input. None may panic, accept a
//! forged token, let a path with dot segments reach the backend, or answer 5xx for
//! client garbage. `GATEBENCH_FUZZ_CASES` sets the inputs per target and
//! `GATEBENCH_FUZZ_SEED` the seed (docs/gateway.md); each target prints its rate.

use std::collections::HashMap;
use std::time::Instant;

use http::HeaderMap;
use http::HeaderValue;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::json;

use super::{capture_gateway, now, raw_exchange, repo_file};
use crate::gateway::jwt::JwtPolicy;
use crate::gateway::policy::{LoadOptions, Step, parse};
use crate::idp::keys::SigningKey;

/// A runner with `default_cases` inputs (or `GATEBENCH_FUZZ_CASES`), a fixed seed (or
/// `GATEBENCH_FUZZ_SEED`) so a CI failure reproduces, and no persistence files.
fn runner(default_cases: u32) -> TestRunner {
    let env = |name: &str| std::env::var(name).ok();
    TestRunner::new(Config {
        cases: env("GATEBENCH_FUZZ_CASES")
            .and_then(|v| v.parse().ok())
            .unwrap_or(default_cases),
        rng_seed: RngSeed::Fixed(
            env("GATEBENCH_FUZZ_SEED")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ),
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    })
}

/// Runs `test` on inputs from `strategy` and prints inputs/second.
fn fuzz<S: Strategy>(
    target: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = runner(default_cases);
    let cases = runner.config().cases;
    let started = Instant::now();
    let result = runner.run(&strategy, test);
    if let Err(e) = result {
        panic!("fuzz {target}: {e}");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fuzz {target}: {cases} inputs in {secs:.2} s ({:.0}/s)",
        f64::from(cases) / secs
    );
}

/// `text` after `edits`: (position, bytes removed, bytes inserted), positions taken
/// modulo the length; the result need not be valid UTF-8 before lossy conversion.
fn mutate(text: &str, edits: &[(usize, usize, String)]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for (at, remove, insert) in edits {
        let at = at % (bytes.len() + 1);
        let end = (at + remove).min(bytes.len());
        bytes.splice(at..end, insert.bytes());
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Edits made of characters that matter to the input's grammar.
fn edits(alphabet: &'static str) -> impl Strategy<Value = Vec<(usize, usize, String)>> {
    prop::collection::vec((any::<usize>(), 0usize..12, alphabet), 1..6)
}

#[test]
fn fuzz_policy_loader_never_panics() {
    let shipped: Vec<String> = [
        "deploy/apim/policy.xml",
        "deploy/apim/policy.local.xml",
        "deploy/apim/policy.throttle.local.xml",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(repo_file(f)).unwrap())
    .collect();
    let opts = LoadOptions {
        openid_config_url: Some("http://127.0.0.1:9/.well-known/openid-configuration".into()),
        named_values: [
            ("tenant-id", "t"),
            ("storage-app-id-uri", "a"),
            ("storage-client-id", "b"),
            ("rgw-base-url", "http://127.0.0.1:9"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<HashMap<_, _>>(),
        ..Default::default()
    };
    for text in &shipped {
        parse(text, "shipped.xml", &opts).unwrap();
    }
    let input = prop_oneof![
        any::<String>(),
        "(<[a-z-]{0,12}( [a-z-]{1,10}=\"[^\"]{0,12}\")*/?>|</[a-z-]{0,12}>|[^<]{0,8}){0,30}",
        (
            0..shipped.len(),
            edits(r#"(<|>|/|"|=|@\(|\)|\{\{|\}\}|&quot;|-1|0|99999999999999999999|[ -~]{0,8})"#)
        )
            .prop_map(move |(i, e)| mutate(&shipped[i], &e)),
    ];
    fuzz("policy-loader", 2000, input, |xml| {
        let _ = parse(&xml, "fuzz.xml", &opts);
        Ok(())
    });
}

#[test]
fn fuzz_jwt_validation_never_panics_and_never_accepts_a_forgery() {
    let key = SigningKey::generate().unwrap();
    let jwk = key.jwks()["keys"][0].clone();
    let xml = format!(
        r#"<policies><inbound><validate-jwt header-name="Authorization" require-scheme="Bearer">
        <issuer-signing-keys><key n="{}" e="{}" /></issuer-signing-keys>
        <audiences><audience>aud</audience></audiences><issuers><issuer>iss</issuer></issuers>
        <required-claims><claim name="roles" match="any"><value>storage.read</value></claim></required-claims>
        </validate-jwt></inbound></policies>"#,
        jwk["n"].as_str().unwrap(),
        jwk["e"].as_str().unwrap()
    );
    let policy: JwtPolicy = match parse(&xml, "jwt.xml", &LoadOptions::default())
        .unwrap()
        .inbound
        .remove(0)
    {
        Step::ValidateJwt(p) => *p,
        _ => unreachable!(),
    };
    let claims = json!({"iss": "iss", "aud": "aud", "roles": ["storage.read"], "exp": now() + 600});
    let valid = key.sign(&claims).unwrap();
    let bearer = |token: &str| {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
            h.insert("authorization", v);
        }
        h
    };
    assert!(policy.check(&bearer(&valid)).is_ok(), "the valid token");
    let other_key = SigningKey::generate().unwrap();
    assert!(
        policy
            .check(&bearer(&other_key.sign(&claims).unwrap()))
            .is_err()
    );
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let (_, payload_and_sig) = valid.split_once('.').unwrap();
    let valid_for_strategy = valid.clone();
    let token = prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_.=-]{0,300}",
        edits("[A-Za-z0-9_.=-]{0,3}").prop_map(move |e| mutate(&valid_for_strategy, &e)),
        (
            prop_oneof![
                Just(r#"{"alg":"none"}"#.to_string()),
                Just(r#"{"alg":"HS256"}"#.to_string()),
                Just(r#"{"alg":"RS256","kid":"../../x"}"#.to_string()),
                r#"\{"alg":"[A-Z0-9a-z]{0,6}"(,"[a-z]{1,4}":[^,}]{0,10})?\}"#,
                any::<String>(),
            ],
            prop_oneof![Just(String::new()), "[A-Za-z0-9_-]{0,64}"],
        )
            .prop_map(move |(header, sig)| {
                let (payload, _) = payload_and_sig.split_once('.').unwrap();
                format!("{}.{payload}.{sig}", b64(&header))
            }),
    ];
    fuzz("jwt-validation", 3000, token, |token| {
        let headers = bearer(&token);
        let _ = policy.wants_refetch(&headers);
        let verdict = policy.check(&headers);
        prop_assert!(
            token == valid || verdict.is_err(),
            "accepted a forged token: {token}"
        );
        Ok(())
    });
}

/// The request line, headers and body of one fuzzed request.
#[derive(Debug, Clone)]
struct FuzzRequest {
    method: String,
    path: String,
    with_host: bool,
    headers: Vec<(String, String)>,
    /// `None`: no body; `Some(Ok(b))`: `b` chunked; `Some(Err(size))`: a chunk size line.
    chunked: Option<Result<String, String>>,
}

impl FuzzRequest {
    fn to_bytes(&self) -> Vec<u8> {
        let mut raw = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        if self.with_host {
            raw.push_str("Host: gw\r\n");
        }
        for (k, v) in &self.headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        match &self.chunked {
            None => raw.push_str("Connection: close\r\nContent-Length: 0\r\n\r\n"),
            Some(Ok(body)) => raw.push_str(&format!(
                "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                body.len()
            )),
            Some(Err(size)) => raw.push_str(&format!(
                "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nhello\r\n0\r\n\r\n"
            )),
        }
        raw.into_bytes()
    }
}

fn fuzz_request() -> impl Strategy<Value = FuzzRequest> {
    let method = prop_oneof![
        Just("GET".to_string()),
        Just("PUT".to_string()),
        Just("HEAD".to_string()),
        Just("DELETE".to_string()),
        "(put|get|POST|PATCH|PROPFIND|OPTIONS|TRACE|CONNECT)",
        "[A-Z]{1,12}",
        "[!-~]{1,16}",
    ];
    let segment = prop_oneof![
        "(b|k|victim|\\.|\\.\\.|%2e|%2E|%2e%2E|\\.%2e|%2e\\.|\\.\\.%2f|\\.\\.%2F|%2e%2e%5c|\\.\\.\\\\|\\\\|%00|%|%zz|)",
        "[a-zA-Z0-9._~%-]{0,8}",
        "[!-~]{0,6}",
    ];
    let path = (
        "(/api|/api/|/other|/API|)",
        prop::collection::vec(segment, 0..7),
        "(\\?[ -~&&[^ #]]{0,16})?",
    )
        .prop_map(|(prefix, segments, query)| format!("{prefix}/{}{query}", segments.join("/")));
    let header = (
        "(Authorization|Expect|X-Amz-Date|Range|If-Match|[a-zA-Z-]{1,10})",
        "[ -~]{0,24}",
    );
    (
        method,
        path,
        any::<bool>(),
        prop::collection::vec(header, 0..4),
        prop::option::of(prop_oneof![
            "[ -~]{0,32}".prop_map(Ok),
            "[0-9a-zA-Z; -]{0,8}".prop_map(Err),
        ]),
    )
        .prop_map(|(method, path, with_host, headers, chunked)| FuzzRequest {
            method,
            path,
            with_host,
            headers,
            chunked,
        })
}

/// Whether `path` names a bucket and holds no segment that decodes to a dot segment.
fn stays_in_its_bucket(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    !segments[0].is_empty()
        && segments.iter().all(|s| {
            let decoded: Vec<u8> = percent_encoding::percent_decode_str(s).collect();
            decoded
                .split(|b| *b == b'/' || *b == b'\\')
                .all(|part| part != b"." && part != b"..")
        })
}

#[test]
fn fuzz_gateway_requests_stay_in_their_bucket_without_5xx() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (gw, _dir, seen) = runtime.block_on(capture_gateway());
    fuzz("gateway-requests", 300, fuzz_request(), |request| {
        let (status, body) = runtime.block_on(raw_exchange(gw.addr, &request.to_bytes()));
        prop_assert!(
            (100..500).contains(&status),
            "status {status} (0: no answer) for {request:?}: {body}"
        );
        for reached in seen.lock().unwrap().drain(..) {
            let path = reached.uri().path();
            prop_assert!(
                stays_in_its_bucket(path),
                "{path} reached the backend for {request:?}"
            );
        }
        Ok(())
    });
}
