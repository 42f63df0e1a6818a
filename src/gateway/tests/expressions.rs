//! Policy expressions end to end: the stand-in on a policy using them, in front of a
//! backend that records what it received.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::{
    RunningGateway, STATS_PATH, StatsSnapshot, capture_backend, empty, gateway_with_keys,
    gateway_with_policy,
};

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("<none>", |v| v.to_str().unwrap())
    }
}

/// A request to `url` (the gateway's address and a path).
async fn request(method: Method, url: String, headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let client = Client::builder(TokioExecutor::new()).build_http();
    let resp = client.request(req.body(empty()).unwrap()).await.unwrap();
    let (parts, body) = resp.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body.collect().await.unwrap().to_bytes()).into_owned(),
    }
}

/// A request to `path` under the gateway's API prefix.
async fn call(gw: &RunningGateway, method: Method, path: &str, headers: &[(&str, &str)]) -> Answer {
    let prefix = gw.base_url();
    let below_prefix = path.strip_prefix("/api").unwrap();
    request(method, format!("{prefix}{below_prefix}"), headers).await
}

/// An unsigned token with these claims (no validate-jwt in these policies).
fn bearer(claims: &str) -> String {
    format!(
        "Bearer {}.{}.sig",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims)
    )
}

#[tokio::test]
async fn choose_on_path_header_and_jwt_claim_and_return_response() {
    let (backend, seen) = capture_backend().await;
    // choose-policy.md: the first `when` whose condition is true runs, else `otherwise`.
    // return-response-policy.md: cancels the pipeline and answers with set-status,
    // set-header and set-body.
    let xml = format!(
        r#"<policies><inbound>
        <set-backend-service base-url="http://{backend}" />
        <choose>
            <when condition='@(context.Request.Url.Path.StartsWith("/api/private/"))'>
                <return-response>
                    <set-status code="403" reason="Private" />
                    <set-header name="X-Path"><value>@(context.Request.Url.Path)</value></set-header>
                    <set-body>@($"no access to {{context.Request.MatchedParameters.GetValueOrDefault("key", "")}}")</set-body>
                </return-response>
            </when>
            <when condition='@(context.Request.Headers.GetValueOrDefault("X-Tier", "") == "gold")'>
                <set-header name="X-Route"><value>gold</value></set-header>
            </when>
            <when condition='@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Claims.GetValueOrDefault("azp", "") == "bench")'>
                <set-header name="X-Route"><value>bench</value></set-header>
            </when>
            <otherwise>
                <set-header name="X-Route"><value>default</value></set-header>
            </otherwise>
        </choose>
    </inbound></policies>"#
    );
    let (gw, _dir) = gateway_with_policy(&xml, None).await;
    let private = call(&gw, Method::GET, "/api/private/secret.txt", &[]).await;
    assert_eq!(private.status, StatusCode::FORBIDDEN);
    assert_eq!(private.body, "no access to secret.txt");
    assert_eq!(private.header("x-path"), "/api/private/secret.txt");

    let azp = bearer(r#"{"azp":"bench"}"#);
    let other = bearer(r#"{"azp":"someone"}"#);
    for (headers, route) in [
        (
            vec![("x-tier", "gold"), ("authorization", azp.as_str())],
            "gold",
        ),
        (vec![("authorization", azp.as_str())], "bench"),
        (vec![("authorization", other.as_str())], "default"),
        (vec![("authorization", "Bearer not-a-jwt")], "default"),
    ] {
        assert_eq!(
            call(&gw, Method::GET, "/api/b/k", &headers).await.status,
            StatusCode::OK
        );
        let last = seen.lock().unwrap().last().unwrap().headers().clone();
        assert_eq!(last["x-route"], route, "{headers:?}");
    }
    assert_eq!(
        seen.lock().unwrap().len(),
        4,
        "return-response never reached the backend"
    );
}

#[tokio::test]
async fn set_header_joins_values_and_set_query_parameter_edits_the_query() {
    let (backend, seen) = capture_backend().await;
    // set-variable-policy.md, set-header-policy.md (several values are one
    // comma-separated line), set-query-parameter-policy.md (exists-action).
    let xml = format!(
        r#"<policies><inbound>
        <set-backend-service base-url="http://{backend}" />
        <set-variable name="tenant" value='@(context.Request.Headers.GetValueOrDefault("X-Tenant", "none"))' />
        <set-header name="X-Joined" exists-action="override">
            <value>a</value>
            <value>@((string)context.Variables["tenant"])</value>
            <value>@((string)null)</value>
            <value>@(context.Request.Method.ToLower())</value>
        </set-header>
        <set-query-parameter name="tenant" exists-action="override"><value>@(context.Variables.GetValueOrDefault("tenant", "") + " x")</value></set-query-parameter>
        <set-query-parameter name="drop" exists-action="delete" />
        <set-query-parameter name="keep" exists-action="skip"><value>new</value></set-query-parameter>
        <set-query-parameter name="multi" exists-action="append"><value>2</value></set-query-parameter>
    </inbound></policies>"#
    );
    let (gw, _dir) = gateway_with_policy(&xml, None).await;
    let r = call(
        &gw,
        Method::GET,
        "/api/b/k?drop=1&keep=old&multi=1&x=y",
        &[("x-tenant", "t1")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let seen = seen.lock().unwrap();
    let req = &seen[0];
    assert_eq!(req.headers()["x-joined"], "a,t1,get");
    assert_eq!(req.headers().get_all("x-joined").iter().count(), 1);
    assert_eq!(
        req.uri().path_and_query().unwrap().as_str(),
        "/b/k?keep=old&multi=1&x=y&tenant=t1+x&multi=2"
    );
}

#[tokio::test]
async fn rewrite_uri_template_from_an_expression() {
    let (backend, seen) = capture_backend().await;
    // rewrite-uri-policy.md: the template may be a policy expression; the query is kept
    // (copy-unmatched-params defaults to true).
    let xml = format!(
        r#"<policies><inbound>
        <set-backend-service base-url="http://{backend}" />
        <rewrite-uri template='@("/v2/" + context.Request.MatchedParameters.GetValueOrDefault("bucket", "") + "/objects/" + context.Request.Url.Path.Split(&apos;/&apos;)[3].ToUpper())' />
    </inbound></policies>"#
    );
    let (gw, _dir) = gateway_with_policy(&xml, None).await;
    assert_eq!(
        call(&gw, Method::GET, "/api/b/k1?q=1", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        seen.lock().unwrap()[0]
            .uri()
            .path_and_query()
            .unwrap()
            .as_str(),
        "/v2/b/objects/K1?q=1"
    );
}

#[tokio::test]
async fn increment_count_and_remaining_calls_variable() {
    let (backend, _seen) = capture_backend().await;
    // rate-limit-by-key-policy.md: increment-count is how much a request adds (a policy
    // expression there defers the increment to the end of the outbound pipeline);
    // remaining-calls-variable-name stores the calls left for later policies.
    let xml = format!(
        r#"<policies><inbound>
        <set-backend-service base-url="http://{backend}" />
        <choose>
            <when condition='@(context.Request.Headers.ContainsKey("X-Computed"))'>
                <rate-limit-by-key calls="3" renewal-period="60" counter-key="computed"
                    increment-count='@(context.Request.Method == "PUT" ? 3 : 1)' />
            </when>
            <otherwise>
                <rate-limit-by-key calls="5" renewal-period="60" counter-key="fixed"
                    increment-count="2" remaining-calls-variable-name="remaining" />
            </otherwise>
        </choose>
    </inbound>
    <outbound>
        <set-header name="X-Remaining"><value>@(context.Variables.ContainsKey("remaining") ? context.Variables["remaining"].ToString() : "unset")</value></set-header>
    </outbound></policies>"#
    );
    let (gw, _dir) = gateway_with_policy(&xml, None).await;
    for remaining in ["3", "1", "0"] {
        let r = call(&gw, Method::GET, "/api/b/k", &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("x-remaining"), remaining);
    }
    assert_eq!(
        call(&gw, Method::GET, "/api/b/k", &[]).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "5 calls, counted 2 at a time"
    );

    let computed = [("x-computed", "1")];
    let first = call(&gw, Method::GET, "/api/b/k", &computed).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("x-remaining"), "unset");
    assert_eq!(
        call(&gw, Method::PUT, "/api/b/k", &computed).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&gw, Method::GET, "/api/b/k", &computed).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "1 + 3 calls counted of 3"
    );
}

#[tokio::test]
async fn outbound_choose_reads_the_response_and_sets_the_status() {
    let (backend, _seen) = capture_backend().await;
    // choose-policy.md and set-status-policy.md in outbound; context.Response in
    // api-management-policy-expressions.md.
    let xml = format!(
        r#"<policies><inbound>
        <set-backend-service base-url="http://{backend}" />
        <set-variable name="started" value="@(context.Elapsed.TotalMilliseconds >= 0)" />
    </inbound>
    <outbound>
        <choose>
            <when condition="@(context.Response.StatusCode == 200 &amp;&amp; (bool)context.Variables[&quot;started&quot;])">
                <set-status code="203" reason="Rewritten" />
                <set-header name="X-Backend-Length"><value>@(context.Response.Headers.GetValueOrDefault("Content-Length", "?"))</value></set-header>
            </when>
        </choose>
        <set-header name="X-Status"><value>@(context.Response.StatusCode.ToString())</value></set-header>
    </outbound></policies>"#
    );
    let (gw, _dir) = gateway_with_policy(&xml, None).await;
    let r = call(&gw, Method::GET, "/api/b/k", &[]).await;
    assert_eq!(r.status.as_u16(), 203);
    assert_eq!(r.header("x-backend-length"), "2");
    assert_eq!(r.header("x-status"), "203");
    assert_eq!(r.body, "ok");
}

#[tokio::test]
async fn an_expression_failing_at_run_time_is_500_through_on_error() {
    let (backend, seen) = capture_backend().await;
    // api-management-error-handling-policies.md: an error in a policy runs on-error and
    // the caller gets 500 Internal server error by default.
    let xml = format!(
        r#"<policies><inbound>
        <set-backend-service base-url="http://{backend}" />
        <set-header name="X-Short"><value>@(context.Request.Headers.GetValueOrDefault("X-Name", "").Substring(5))</value></set-header>
    </inbound>
    <on-error>
        <set-header name="X-Handled"><value>@(context.Response.StatusCode.ToString())</value></set-header>
    </on-error></policies>"#
    );
    let (gw, _dir) = gateway_with_policy(&xml, None).await;
    let r = call(&gw, Method::GET, "/api/b/k", &[("x-name", "abc")]).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        r.body,
        r#"{"statusCode":500,"message":"Internal server error"}"#
    );
    assert_eq!(r.header("x-handled"), "500");
    assert!(
        seen.lock().unwrap().is_empty(),
        "the failed request never reached the backend"
    );

    let ok = call(&gw, Method::GET, "/api/b/k", &[("x-name", "abcdefg")]).await;
    assert_eq!(ok.status, StatusCode::OK, "the gateway still serves");
    assert_eq!(seen.lock().unwrap()[0].headers()["x-short"], "fg");
    let stats = request(Method::GET, format!("http://{}{STATS_PATH}", gw.addr), &[]).await;
    let stats: StatsSnapshot = serde_json::from_str(&stats.body).unwrap();
    assert_eq!(stats.expression_errors, 1);
}

#[tokio::test]
async fn quota_counts_only_calls_with_a_subscription() {
    let (backend, _seen) = capture_backend().await;
    // quota-policy.md: the per-subscription quota.
    let xml = format!(
        r#"<policies><inbound>
        <set-backend-service base-url="http://{backend}" />
        <quota calls="1" renewal-period="300" />
    </inbound></policies>"#
    );
    let (open, _dir) = gateway_with_policy(&xml, None).await;
    for _ in 0..3 {
        assert_eq!(
            call(&open, Method::GET, "/api/b/k", &[]).await.status,
            StatusCode::OK
        );
    }
    let keys = vec![("bench".to_string(), "key-bench".to_string())];
    let (gw, _dir2) = gateway_with_keys(&xml, None, keys).await;
    let with_key = [("ocp-apim-subscription-key", "key-bench")];
    assert_eq!(
        call(&gw, Method::GET, "/api/b/k", &with_key).await.status,
        StatusCode::OK
    );
    let refused = call(&gw, Method::GET, "/api/b/k", &with_key).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("Out of call volume quota"),
        "{}",
        refused.body
    );
}
