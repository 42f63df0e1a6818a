//! `ip-filter`, `retry`, `limit-concurrency`, `forward-request` options and the
//! telemetry no-ops, against a scripted backend.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::*;
use crate::gateway::policy::parse;

/// What the scripted backend saw: path and body length, in arrival order.
type Seen = Arc<Mutex<Vec<(String, usize)>>>;

/// A backend whose answer depends on the path: `/b/flaky-N` answers 503 to its first N
/// requests and 200 after; `/b/slow` answers after 500 ms; `/b/missing` answers 404;
/// anything else 200.
async fn scripted_backend() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let failures: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let log = seen.clone();
    let addr = serve_backend(move |req: Request<hyper::body::Incoming>| {
        let (log, failures) = (log.clone(), failures.clone());
        async move {
            let path = req.uri().path().to_string();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            log.lock().unwrap().push((path.clone(), body.len()));
            let status = if let Some(n) = path.strip_prefix("/b/flaky-") {
                let mut f = failures.lock().unwrap();
                let done = f.entry(path.clone()).or_default();
                *done += 1;
                if *done <= n.parse::<u32>().unwrap() {
                    503
                } else {
                    200
                }
            } else if path == "/b/slow" {
                tokio::time::sleep(Duration::from_millis(500)).await;
                200
            } else if path == "/b/missing" {
                404
            } else {
                200
            };
            let mut resp = hyper::Response::new(Full::new(Bytes::from("ok")));
            *resp.status_mut() = StatusCode::from_u16(status).unwrap();
            resp
        }
    })
    .await;
    (addr, seen)
}

/// A gateway in front of the scripted backend with these inbound extras and backend
/// section (outbound adds `X-Out`, on-error `X-Error`).
async fn gateway(inbound: &str, backend: &str) -> (RunningGateway, tempfile::TempDir, Seen) {
    let (addr, seen) = scripted_backend().await;
    let xml = format!(
        r#"<policies>
    <inbound><set-backend-service base-url="http://{addr}" />{inbound}<emit-metric name="calls" value="1"><dimension name="API ID" /></emit-metric></inbound>
    <backend>{backend}</backend>
    <outbound><set-header name="X-Out" exists-action="override"><value>1</value></set-header><trace source="test" severity="information"><message>out</message></trace></outbound>
    <on-error><set-header name="X-Error" exists-action="override"><value>1</value></set-header></on-error>
</policies>"#
    );
    let (gw, dir) = gateway_with_policy(&xml, None).await;
    (gw, dir, seen)
}

async fn request(gw: &RunningGateway, method: Method, path: &str, body: &'static str) -> Reply {
    let http: Client<HttpConnector, TestBody> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let req = Request::builder()
        .method(method)
        .uri(format!("{}{path}", gw.base_url()))
        .body(bytes_body(body))
        .unwrap();
    let resp = http.request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

#[tokio::test]
async fn ip_filter_allows_and_forbids_the_caller() {
    // ip-filter-policy.md, api-management-error-handling-policies.md (CallerIpNotAllowed,
    // CallerIpBlocked): 403 with APIM's messages. The test client is 127.0.0.1.
    let (gw, _d, seen) = gateway(
        r#"<ip-filter action="allow"><address-range from="127.0.0.2" to="127.0.0.9" /></ip-filter>"#,
        "<forward-request />",
    )
    .await;
    let r = request(&gw, Method::GET, "/b/k", "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.body,
        apim_body(
            403,
            "Caller IP address 127.0.0.1 is not allowed. Access denied."
        )
    );
    assert!(seen.lock().unwrap().is_empty());

    let (gw, _d, _) = gateway(
        r#"<ip-filter action="forbid"><address>127.0.0.1</address></ip-filter>"#,
        "<forward-request />",
    )
    .await;
    let r = request(&gw, Method::GET, "/b/k", "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.body,
        apim_body(403, "Caller IP address is blocked. Access denied.")
    );

    let (gw, _d, _) = gateway(
        r#"<ip-filter action="allow"><address>127.0.0.1</address></ip-filter>"#,
        "<forward-request />",
    )
    .await;
    assert_eq!(
        request(&gw, Method::GET, "/b/k", "").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn retry_resends_the_whole_body_while_the_condition_holds() {
    // retry-policy.md: the children run once, then again while `condition` holds, at most
    // `count` more times; first-fast-retry sends the first retry at once.
    let (gw, _d, seen) = gateway(
        "",
        r#"<retry condition="@(context.Response.StatusCode == 503)" count="1" interval="1" first-fast-retry="true"><forward-request /></retry>"#,
    )
    .await;
    let t = Instant::now();
    let r = request(&gw, Method::PUT, "/b/flaky-2", "hello").await;
    assert_eq!(
        r.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "retries exhausted"
    );
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "the fast retry waited"
    );
    let r = request(&gw, Method::PUT, "/b/flaky-2", "hello").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![("/b/flaky-2".to_string(), 5); 3],
        "each attempt carried the whole body"
    );

    let (gw, _d, seen) = gateway(
        "",
        r#"<retry condition="@(context.Response.StatusCode == 503)" count="3" interval="1"><forward-request timeout="5" /></retry>"#,
    )
    .await;
    let t = Instant::now();
    let r = request(&gw, Method::GET, "/b/flaky-1", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-out"), Some("1"));
    assert!(t.elapsed() >= Duration::from_secs(1), "interval waited");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn limit_concurrency_refuses_over_max_count_with_429() {
    // limit-concurrency-policy.md: over max-count, a request fails at once with 429.
    let (gw, _d, seen) = gateway(
        "",
        r#"<limit-concurrency key="@(context.Request.IpAddress)" max-count="1"><forward-request /></limit-concurrency>"#,
    )
    .await;
    let (a, b) = tokio::join!(request(&gw, Method::GET, "/b/slow", ""), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        request(&gw, Method::GET, "/b/slow", "").await
    });
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(b.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(
        request(&gw, Method::GET, "/b/slow", "").await.status,
        StatusCode::OK,
        "the slot is free again"
    );
}

#[tokio::test]
async fn fail_on_error_status_code_sends_backend_errors_to_on_error() {
    // forward-request-policy.md: with fail-on-error-status-code, 4xx/5xx go to on-error.
    let (gw, _d, _) = gateway(
        "",
        r#"<forward-request fail-on-error-status-code="true" />"#,
    )
    .await;
    let r = request(&gw, Method::GET, "/b/missing", "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!((r.header("x-out"), r.header("x-error")), (None, Some("1")));
    let r = request(&gw, Method::GET, "/b/there", "").await;
    assert_eq!((r.header("x-out"), r.header("x-error")), (Some("1"), None));

    let (gw, _d, _) = gateway("", "<forward-request />").await;
    let r = request(&gw, Method::GET, "/b/missing", "").await;
    assert_eq!((r.header("x-out"), r.header("x-error")), (Some("1"), None));
}

#[test]
fn traffic_elements_refuse_what_they_cannot_do() {
    let parse_err = |backend: &str| {
        let xml = format!("<policies><backend>{backend}</backend></policies>");
        match parse(&xml, "t.xml", &LoadOptions::default()) {
            Ok(_) => String::new(),
            Err(e) => format!("{e:#}"),
        }
    };
    for (backend, wanted) in [
        (
            "<retry count=\"1\" interval=\"1\"><forward-request /></retry>",
            "`condition` is required",
        ),
        (
            "<retry condition=\"@(context.Response.StatusCode == 503)\" count=\"51\" interval=\"1\"><forward-request /></retry>",
            "`count` (1..=50)",
        ),
        (
            "<retry condition=\"@(context.Response.StatusCode == 503)\" count=\"2\" interval=\"1\" max-interval=\"9\"><forward-request /></retry>",
            "needs `delta`",
        ),
        (
            "<forward-request /><forward-request />",
            "more than one <forward-request>",
        ),
        (
            "<forward-request follow-redirects=\"true\" />",
            "follow-redirects=\"true\" is not supported",
        ),
        (
            "<limit-concurrency key=\"k\" max-count=\"0\"><forward-request /></limit-concurrency>",
            "`max-count` (> 0)",
        ),
    ] {
        let err = parse_err(backend);
        assert!(err.contains(wanted), "{backend}: {err}");
    }
    let xml = "<policies><inbound><ip-filter action=\"allow\"><address>not-an-ip</address></ip-filter></inbound></policies>";
    let err = format!(
        "{:#}",
        parse(xml, "t.xml", &LoadOptions::default()).err().unwrap()
    );
    assert!(err.contains("`not-an-ip` is not an IP address"), "{err}");
}

#[tokio::test]
async fn cors_answers_preflights_itself_and_decorates_matched_requests() {
    // cors-policy.md: only the cors policy runs for a preflight (here no subscription key
    // or token is sent, and OPTIONS is no API operation); matched requests get
    // Access-Control-Allow-Origin; an unmatched simple GET ends with an empty 200.
    let (gw, _d, seen) = gateway(
        r#"<cors allow-credentials="true"><allowed-origins><origin>https://app.example</origin></allowed-origins><allowed-methods preflight-result-max-age="600"><method>GET</method><method>PUT</method></allowed-methods><allowed-headers><header>*</header></allowed-headers><expose-headers><header>x-cache</header></expose-headers></cors>"#,
        "<forward-request />",
    )
    .await;
    let http: Client<HttpConnector, TestBody> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let send = |method: Method, origin: &'static str, preflight: bool| {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}/b/k", gw.base_url()))
            .header("origin", origin);
        if preflight {
            req = req
                .header("access-control-request-method", "PUT")
                .header("access-control-request-headers", "authorization");
        }
        http.request(req.body(empty()).unwrap())
    };
    let pre = send(Method::OPTIONS, "https://app.example", true)
        .await
        .unwrap();
    assert_eq!(pre.status(), StatusCode::OK);
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-methods"], "PUT");
    assert_eq!(h["access-control-allow-headers"], "authorization");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-max-age"], "600");
    assert!(
        seen.lock().unwrap().is_empty(),
        "a preflight never reaches the backend"
    );

    let get = send(Method::GET, "https://app.example", false)
        .await
        .unwrap();
    assert_eq!(
        get.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(get.headers()["access-control-expose-headers"], "x-cache");
    let evil = send(Method::GET, "https://evil.example", false)
        .await
        .unwrap();
    assert_eq!(evil.status(), StatusCode::OK);
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the unmatched GET was terminated"
    );
}

#[tokio::test]
async fn value_cache_keeps_values_until_a_put_removes_them() {
    // cache-lookup-value-policy.md: a miss leaves `variable-name` unset unless
    // `default-value` is given; cache-store-value-policy.md: `duration` in seconds, any
    // section but backend here; cache-remove-value-policy.md: the key is gone at once.
    // custom-caching-policies.md: lookup, then `choose` on `ContainsKey`.
    let (addr, seen) = scripted_backend().await;
    let key = r#"@("seen:" + context.Request.Url.Path)"#;
    let xml = format!(
        r#"<policies>
    <inbound>
        <set-backend-service base-url="http://{addr}" />
        <cache-lookup-value key="never-stored" variable-name="fallback" default-value="@(&quot;none&quot;)" />
        <choose>
            <when condition='@(context.Request.Method == "PUT")'>
                <cache-remove-value key='{key}' caching-type="internal" />
            </when>
            <when condition='@(context.Request.Method == "GET")'>
                <cache-lookup-value key='{key}' variable-name="status" />
                <choose>
                    <when condition='@(context.Variables.ContainsKey("status"))'>
                        <return-response>
                            <set-header name="X-Cached-Status"><value>@(context.Variables["status"].ToString())</value></set-header>
                        </return-response>
                    </when>
                </choose>
            </when>
        </choose>
    </inbound>
    <backend><forward-request /></backend>
    <outbound>
        <set-header name="X-Fallback"><value>@((string)context.Variables["fallback"])</value></set-header>
        <choose>
            <when condition='@(context.Request.Method == "GET")'>
                <cache-store-value key='{key}' value="@(context.Response.StatusCode)" duration="60" />
            </when>
        </choose>
    </outbound>
</policies>"#
    );
    let (gw, _d) = gateway_with_policy(&xml, None).await;
    let backend_calls = || seen.lock().unwrap().len();
    let miss = request(&gw, Method::GET, "/b/k", "").await;
    assert_eq!(miss.status, StatusCode::OK);
    assert_eq!(miss.headers["x-fallback"], "none");
    assert!(miss.headers.get("x-cached-status").is_none());
    assert_eq!(backend_calls(), 1);
    let hit = request(&gw, Method::GET, "/b/k", "").await;
    assert_eq!(hit.headers["x-cached-status"], "200");
    assert_eq!(backend_calls(), 1, "a hit answers from the value cache");
    let other = request(&gw, Method::GET, "/b/missing", "").await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "keys differ by path");
    assert_eq!(
        request(&gw, Method::GET, "/b/missing", "").await.headers["x-cached-status"],
        "404"
    );
    assert_eq!(backend_calls(), 2);
    request(&gw, Method::PUT, "/b/k", "new").await;
    assert_eq!(backend_calls(), 3);
    let after_put = request(&gw, Method::GET, "/b/k", "").await;
    assert!(
        after_put.headers.get("x-cached-status").is_none(),
        "the PUT removed it"
    );
    assert_eq!(backend_calls(), 4);
    assert_eq!(
        request(&gw, Method::GET, "/b/missing", "").await.headers["x-cached-status"],
        "404"
    );
}

#[test]
fn value_cache_elements_check_their_attributes() {
    let cases = [
        (
            r#"<outbound><cache-store-value key="k" value="v" /></outbound>"#,
            "`duration` (seconds, > 0) is required",
        ),
        (
            r#"<inbound><cache-lookup-value key="k" /></inbound>"#,
            "`variable-name` is required",
        ),
        (
            r#"<inbound><cache-remove-value key="k" caching-type="external" /></inbound>"#,
            "caching-type=\"external\" is not supported",
        ),
        (
            r#"<backend><cache-remove-value key="k" /></backend>"#,
            "<cache-remove-value> in <backend>",
        ),
    ];
    for (section, expected) in cases {
        let xml = format!("<policies>{section}</policies>");
        let err = parse(&xml, "p.xml", &LoadOptions::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(expected), "{section}: {err}");
    }
}
