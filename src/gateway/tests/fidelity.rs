//! The stand-in against Microsoft's documented APIM behaviour (issue #12): each test
//! names the doc page (azure-docs `articles/api-management/…`) whose behaviour it checks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::super::policy::LoadOptions;
use super::super::{GatewayConfig, RunningGateway};
use crate::shared::Secret;

/// A backend answering `ok` with the status named by a last path segment `sNNN`
/// (else 200), and counting the requests that reach it.
async fn status_backend() -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let count = hits.clone();
    let addr = super::serve_backend(move |req: Request<hyper::body::Incoming>| {
        count.fetch_add(1, Ordering::SeqCst);
        let status = req
            .uri()
            .path()
            .rsplit('/')
            .next()
            .and_then(|s| s.strip_prefix('s')?.parse::<u16>().ok())
            .unwrap_or(200);
        let mut resp = hyper::Response::new(Full::new(Bytes::from("ok")));
        *resp.status_mut() = StatusCode::from_u16(status).unwrap();
        async move { resp }
    })
    .await;
    (addr, hits)
}

/// A gateway under `/api` with `xml` as its policy in front of `backend`.
async fn gateway(
    xml: &str,
    backend: SocketAddr,
    subscription_keys: &[(&str, &str)],
) -> (RunningGateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.xml");
    std::fs::write(&policy, xml).unwrap();
    let gw = super::super::start(GatewayConfig {
        api_prefix: "/api".into(),
        subscription_keys: subscription_keys
            .iter()
            .map(|(n, k)| (n.to_string(), k.to_string()))
            .collect(),
        ..GatewayConfig::local(
            policy,
            crate::shared::S3Endpoint {
                endpoint: format!("http://{backend}"),
                region: "us-east-1".into(),
                access_key: "AKGATEWAY".into(),
                secret_key: Secret::new("gateway-secret"),
                tls: Default::default(),
            },
        )
    })
    .await
    .unwrap();
    (gw, dir)
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

/// GET `path` below the gateway's prefix with the given subscription key.
async fn get(gw: &RunningGateway, path: &str, key: Option<&str>) -> Answer {
    let http: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut req = Request::get(format!("{}{path}", gw.base_url()));
    if let Some(k) = key {
        req = req.header("ocp-apim-subscription-key", k);
    }
    let resp = http.request(req.body(Empty::new()).unwrap()).await.unwrap();
    let (parts, body) = resp.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

fn policy(inbound: &str, outbound: &str, on_error: &str) -> String {
    format!(
        "<policies><inbound>{inbound}</inbound><backend><forward-request timeout=\"5\" />\
         </backend><outbound>{outbound}</outbound><on-error>{on_error}</on-error></policies>"
    )
}

// rate-limit-by-key-policy.md: retry-after-header-name is "the name of a custom response
// header whose value is the recommended retry interval"; default `Retry-After`. The name
// replaces the default: one header, never two.
#[tokio::test]
async fn retry_after_header_name_replaces_the_default() {
    let (backend, _) = status_backend().await;
    for (name, expect_default) in [("Retry-After", true), ("X-Retry-In", false)] {
        let xml = policy(
            &format!(
                r#"<rate-limit-by-key calls="1" renewal-period="60" counter-key="all" retry-after-header-name="{name}" />"#
            ),
            "",
            "",
        );
        let (gw, _dir) = gateway(&xml, backend, &[]).await;
        assert_eq!(get(&gw, "/b/k", None).await.status, StatusCode::OK);
        let refused = get(&gw, "/b/k", None).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers.get_all(name).iter().count(), 1, "{name}");
        assert_eq!(
            refused.headers.contains_key("retry-after"),
            expect_default,
            "{name}"
        );
    }
}

// rate-limit-policy.md ("Limit call rate by subscription"): the limit is per
// subscription; a call made without a subscription key is not counted or refused by it.
#[tokio::test]
async fn rate_limit_applies_only_to_calls_with_a_subscription() {
    let (backend, _) = status_backend().await;
    let xml = policy(r#"<rate-limit calls="1" renewal-period="60" />"#, "", "");
    let (open, _d1) = gateway(&xml, backend, &[]).await;
    for _ in 0..3 {
        assert_eq!(get(&open, "/b/k", None).await.status, StatusCode::OK);
    }
    let (keyed, _d2) = gateway(&xml, backend, &[("bench", "key-bench")]).await;
    assert_eq!(
        get(&keyed, "/b/k", Some("key-bench")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&keyed, "/b/k", Some("key-bench")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

// rate-limit-policy.md: "prevents API usage spikes on a per subscription basis": each
// subscription has its own window, so one tenant's throttling leaves another's alone.
#[tokio::test]
async fn rate_limit_counts_each_subscription_apart() {
    let (backend, _) = status_backend().await;
    let xml = policy(r#"<rate-limit calls="2" renewal-period="60" />"#, "", "");
    let tenants = [("tenant-a", "key-a"), ("tenant-b", "key-b")];
    let (gw, _dir) = gateway(&xml, backend, &tenants).await;
    let mut statuses = Vec::new();
    for key in ["key-a", "key-a", "key-a", "key-b", "key-b", "key-b"] {
        statuses.push(get(&gw, "/b/k", Some(key)).await.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429]);
}

const LOOKUP: &str = r#"<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="none" />"#;

// cache-store-policy.md: cache-response "Set to true to cache the current HTTP response.
// If the attribute is omitted, only HTTP responses with the status code 200 OK are cached."
#[tokio::test]
async fn cache_response_true_caches_any_status_and_false_only_200() {
    for (attr, cached_404) in [
        ("", false),
        (r#" cache-response="false""#, false),
        (r#" cache-response="true""#, true),
    ] {
        let (backend, hits) = status_backend().await;
        let xml = policy(
            LOOKUP,
            &format!(r#"<cache-store duration="30"{attr} />"#),
            "",
        );
        let (gw, _dir) = gateway(&xml, backend, &[]).await;
        assert_eq!(
            get(&gw, "/b/s404", None).await.status,
            StatusCode::NOT_FOUND
        );
        let again = get(&gw, "/b/s404", None).await;
        assert_eq!(again.status, StatusCode::NOT_FOUND);
        let hit = again.headers.get("x-cache").unwrap() == "HIT";
        assert_eq!(hit, cached_404, "cache-store{attr}");
        assert_eq!(hits.load(Ordering::SeqCst), if cached_404 { 1 } else { 2 });
        get(&gw, "/b/k", None).await;
        assert_eq!(
            get(&gw, "/b/k", None).await.headers["x-cache"],
            "HIT",
            "200 is cached either way"
        );
    }
}

// cache-lookup-policy.md / cache-store-policy.md: on a cache hit the stored response
// (as it was at cache-store) is returned and outbound processing resumes after
// cache-store; the outbound policies before it do not run again.
#[tokio::test]
async fn a_cache_hit_resumes_outbound_after_cache_store() {
    let (backend, _) = status_backend().await;
    let xml = policy(
        LOOKUP,
        r#"<set-header name="X-Before" exists-action="append"><value>1</value></set-header>
           <cache-store duration="30" />
           <set-header name="X-After" exists-action="append"><value>1</value></set-header>"#,
        "",
    );
    let (gw, _dir) = gateway(&xml, backend, &[]).await;
    let miss = get(&gw, "/b/k", None).await;
    assert_eq!(miss.headers["x-cache"], "MISS");
    let count = |a: &Answer, name: &str| a.headers.get_all(name).iter().count();
    assert_eq!((count(&miss, "x-before"), count(&miss, "x-after")), (1, 1));
    let hit = get(&gw, "/b/k", None).await;
    assert_eq!(hit.headers["x-cache"], "HIT");
    assert_eq!(
        (count(&hit, "x-before"), count(&hit, "x-after")),
        (1, 1),
        "X-Before comes with the stored response and does not run again; X-After runs"
    );
}

// api-management-error-handling-policies.md: when a policy refuses a request (rate
// limit, quota, JWT validation) the on-error section runs (context.LastError); the
// refusal is the answer unless on-error changes it.
#[tokio::test]
async fn on_error_runs_for_policy_refusals() {
    let (backend, _) = status_backend().await;
    let xml = policy(
        r#"<rate-limit-by-key calls="1" renewal-period="60" counter-key="all" />"#,
        "",
        r#"<set-header name="X-Error" exists-action="override"><value>yes</value></set-header>"#,
    );
    let (gw, _dir) = gateway(&xml, backend, &[]).await;
    let passed = get(&gw, "/b/k", None).await;
    assert!(!passed.headers.contains_key("x-error"));
    let refused = get(&gw, "/b/k", None).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers["x-error"], "yes");
    let text = String::from_utf8_lossy(&refused.body);
    assert!(text.contains("Rate limit is exceeded."), "{text}");
}

// quota-by-key-policy.md: "Minimum period: 300 seconds. When renewal-period is set to 0,
// the period is set to infinite"; first-period-start is yyyy-MM-ddTHH:mm:ssZ.
#[tokio::test]
async fn quota_renewal_period_below_300_is_a_startup_error() {
    for (attrs, ok) in [
        (r#"renewal-period="60""#, false),
        (r#"renewal-period="300""#, true),
        (r#"renewal-period="0""#, true),
        (
            r#"renewal-period="300" first-period-start="2024-03-01T08:00:00Z""#,
            true,
        ),
        (
            r#"renewal-period="300" first-period-start="yesterday""#,
            false,
        ),
    ] {
        let xml = format!(
            r#"<policies><inbound><quota-by-key calls="5" {attrs} counter-key="x" /></inbound></policies>"#
        );
        let parsed = super::super::policy::parse(&xml, "p.xml", &LoadOptions::default());
        assert_eq!(parsed.is_ok(), ok, "{attrs}");
        if let Err(e) = parsed {
            let e = e.to_string();
            assert!(e.contains("p.xml:1") && e.contains("quota-by-key"), "{e}");
        }
    }
}

/// An access token for `client` from `idp`'s token endpoint.
async fn idp_token(idp: &crate::idp::RunningIdp, client: &str) -> String {
    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let form =
        format!("grant_type=client_credentials&client_id={client}&client_secret={client}-secret");
    let req = Request::post(idp.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form)))
        .unwrap();
    let body = http
        .request(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body.to_bytes()).unwrap();
    json["access_token"].as_str().unwrap().to_string()
}

// validate-jwt-policy.md: with <openid-config>, the issuer of the configuration metadata
// is a valid issuer besides those listed in <issuers>. policy.local.xml lists
// http://127.0.0.1:8081; an idp on another port (issuer = its own address) must work
// through --openid-config-url.
#[tokio::test]
async fn the_discovery_documents_issuer_is_accepted() {
    let env = super::env_from(|s| s, None, |_| {}).await;
    let idp = env.idp.as_ref().unwrap();
    assert_ne!(idp.issuer, super::ISSUER);
    let t = idp_token(idp, "reader").await;
    let r = env.get("/gwtest/none", &t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    // A token from a third issuer is still refused.
    let mut claims = env.good_claims();
    claims["iss"] = serde_json::json!("http://127.0.0.1:1");
    let forged = env.test_key.sign(&claims).unwrap();
    assert_eq!(
        env.get("/gwtest/none", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
}

// APIM caches the openid-config metadata and keys (validate-jwt-policy.md; the
// IdentityModel configuration manager it builds on refreshes at most every 5 minutes).
// A token naming an unknown `kid` right after a fetch does not trigger another one.
#[tokio::test]
async fn signing_keys_are_not_refetched_within_the_floor() {
    let mut env = super::env().await;
    let addr = env.idp.as_ref().unwrap().addr;
    let before = idp_token(env.idp.as_ref().unwrap(), "reader").await;
    assert_eq!(
        env.get("/gwtest/a", &before).await.status,
        StatusCode::NOT_FOUND
    );
    env.idp = None;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    env.idp = Some(super::start_idp_at(Some(super::ISSUER), addr).await);
    let after = idp_token(env.idp.as_ref().unwrap(), "reader").await;
    let r = env.get("/gwtest/a", &after).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the new key is not fetched before the floor has passed: {:?}",
        r.body
    );
    assert_eq!(env.stats().await.jwt_refused["unknown_key"], 1);
}

// validate-jwt refusals go to on-error like other policy errors
// (api-management-error-handling-policies.md), keep their answer, and are counted by
// reason at /__gatebench/stats (stand-in only; the token itself is never logged).
#[tokio::test]
async fn jwt_refusals_run_on_error_and_are_counted_by_reason() {
    let env = super::env_with(|p| {
        p.replacen(
            "<on-error>",
            r#"<on-error><set-header name="X-Error" exists-action="override"><value>jwt</value></set-header>"#,
            1,
        )
    })
    .await;
    let mut expired = env.good_claims();
    expired["exp"] = serde_json::json!(super::now() - 600);
    let mut wrong_aud = env.good_claims();
    wrong_aud["aud"] = serde_json::json!("api://someone-else");
    for claims in [&expired, &expired, &wrong_aud] {
        let r = env
            .get("/gwtest/a", &env.test_key.sign(claims).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body, super::apim_body(401, "Invalid JWT."));
        assert_eq!(r.header("x-error"), Some("jwt"));
    }
    let stats = env.stats().await;
    assert_eq!(
        stats.jwt_refused,
        [("audience".to_string(), 1), ("expired".to_string(), 2)].into()
    );
}

// APIM answers a request matching no operation of the API with 404
// {"statusCode":404,"message":"Resource not found"} (issue #12; not checked against a
// single doc page). The operations come from the OpenAPI file, which covers every S3 call
// gatebench sends.
#[tokio::test]
async fn operations_come_from_the_openapi_file() {
    let (backend, hits) = status_backend().await;
    let (gw, _dir) = gateway(&policy("", "", ""), backend, &[]).await;
    let http: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let send = |method: &str, path: &str| {
        let req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", gw.base_url()))
            .body(Empty::new())
            .unwrap();
        http.request(req)
    };
    for (method, path) in [
        ("POST", "/b/k?uploads"),
        ("PUT", "/b/k?partNumber=1&uploadId=u"),
        ("POST", "/b/k?uploadId=u"),
        ("DELETE", "/b/k?uploadId=u"),
        ("GET", "/b/k?uploadId=u"),
        ("HEAD", "/b"),
        ("DELETE", "/b"),
        ("GET", "/b?uploads"),
    ] {
        let status = send(method, path).await.unwrap().status();
        assert_eq!(status, StatusCode::OK, "{method} {path}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 8);
    let resp = send("POST", "/b").await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        body.as_ref(),
        br#"{"statusCode":404,"message":"Resource not found"}"#
    );
    assert_eq!(hits.load(Ordering::SeqCst), 8);
}
