//! The stand-in's `Server-Timing` header, read back with the client's own parser.

use super::*;
use crate::client::server_timing::server_timing;
use crate::record::ServerTiming;

/// Sends a GET to `path` under the gateway and returns its timing, its `X-Cache` and how
/// long the whole exchange took.
async fn timed_get(
    http: &Client<HttpConnector, TestBody>,
    gw: &RunningGateway,
    path: &str,
) -> (ServerTiming, String, Duration) {
    let t = Instant::now();
    let resp = http
        .request(
            Request::get(format!("{}{path}", gw.base_url()))
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (parts, body) = resp.into_parts();
    body.collect().await.unwrap();
    let cache = parts.headers["x-cache"].to_str().unwrap().to_string();
    (server_timing(&parts.headers), cache, t.elapsed())
}

#[tokio::test]
async fn forwarded_and_cached_answers_say_where_the_time_went() {
    // A backend that takes 40 ms, behind a gateway that adds 15 ms.
    let backend = serve_backend(|_req| async {
        tokio::time::sleep(Duration::from_millis(40)).await;
        hyper::Response::new(Full::new(Bytes::from("ok")))
    })
    .await;
    let xml = format!(
        r#"<policies>
  <inbound>
    <cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="none" />
    <set-backend-service base-url="http://{backend}" />
  </inbound>
  <outbound><cache-store duration="30" /></outbound>
</policies>"#
    );
    let (gw, _dir) = gateway_with_policy(&xml, Some("15ms")).await;
    let http: Client<HttpConnector, TestBody> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let ms = Duration::from_millis;

    let (miss, cache, took) = timed_get(&http, &gw, "/b/k").await;
    assert_eq!(cache, "MISS");
    let (gateway, backend) = (miss.gateway.unwrap(), miss.backend.unwrap());
    assert_eq!(miss.cache, None);
    assert!(gateway >= ms(15) && gateway < ms(35), "{miss:?}");
    assert!(backend >= ms(40) && backend < ms(80), "{miss:?}");
    assert!(gateway + backend <= took, "{miss:?} within {took:?}");

    let (hit, cache, took) = timed_get(&http, &gw, "/b/k").await;
    assert_eq!(cache, "HIT");
    let (gateway, lookup) = (hit.gateway.unwrap(), hit.cache.unwrap());
    assert_eq!(hit.backend, None);
    assert!(gateway >= ms(15) && gateway < ms(35), "{hit:?}");
    assert!(lookup < ms(5), "{hit:?}");
    assert!(gateway + lookup <= took, "{hit:?} within {took:?}");
}

#[tokio::test]
async fn refusals_carry_no_timing() {
    let (gw, _dir) = gateway_with_keys(
        r#"<policies><inbound /></policies>"#,
        None,
        vec![("bench".into(), "k".into())],
    )
    .await;
    let http: Client<HttpConnector, TestBody> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let resp = http
        .request(
            Request::get(format!("{}/b/k", gw.base_url()))
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(server_timing(resp.headers()).is_empty());
}
