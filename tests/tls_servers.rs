//! The local stack over TLS, end to end: `gatebench idp` and `gatebench gateway` as
//! processes sharing one `--tls-self-signed` folder (mTLS at the gateway), and the
//! gateway reaching the test RGW over https (`ceph-up.sh` with `CEPH_TLS_DIR`).

mod common;

use std::path::Path;

use bytes::Bytes;
use gatebench::gateway::{self, GatewayConfig};
use gatebench::shared::{S3Endpoint, Secret, TlsSpec};
use http::{Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use common::procs::start;

/// An HTTP/2 client trusting `dir/ca.pem`, presenting `dir/client.pem` if `mtls`.
fn client(dir: &Path, mtls: bool) -> Client<HttpsConnector<HttpConnector>, Full<Bytes>> {
    let spec = TlsSpec {
        ca_file: Some(dir.join("ca.pem")),
        client_cert: mtls.then(|| dir.join("client.pem")),
        client_key: mtls.then(|| dir.join("client-key.pem")),
        ..Default::default()
    };
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(gatebench::tls::client::config(&spec).unwrap())
        .https_only()
        .enable_http2()
        .build();
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(connector)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn cli_idp_and_gateway_serve_https_with_one_self_signed_folder() {
    let tmp = common::tempdir();
    let certs = tmp.path().join("certs");
    let certs_arg = certs.to_str().unwrap();
    let (_idp, token_url) = start(
        &[
            "idp",
            "--listen",
            "127.0.0.1:0",
            "--client",
            "bench:devsecret:storage.read,storage.write",
            "--tls-self-signed",
            certs_arg,
            // The issuer policy.local.xml expects (over https the default is https://…).
            "--issuer",
            "http://127.0.0.1:8081",
        ],
        "token endpoint:",
    );
    assert!(token_url.starts_with("https://127.0.0.1:"), "{token_url}");
    let openid = token_url.replace("/token", "/.well-known/openid-configuration");
    let ca = certs.join("ca.pem");
    let ca_before = std::fs::read(&ca).unwrap();
    let (_gw, base_url) = start(
        &[
            "gateway",
            "--policy",
            "deploy/apim/policy.local.xml",
            "--embedded-backend",
            "--listen",
            "127.0.0.1:0",
            "--subscription-key",
            "bench=devkey",
            "--openid-config-url",
            &openid,
            "--openid-ca",
            ca.to_str().unwrap(),
            "--tls-self-signed",
            certs_arg,
            "--tls-client-ca",
            ca.to_str().unwrap(),
        ],
        "gateway:",
    );
    assert!(base_url.starts_with("https://127.0.0.1:"), "{base_url}");
    assert_eq!(
        std::fs::read(&ca).unwrap(),
        ca_before,
        "the folder is reused"
    );

    runtime().block_on(async {
        let form = "grant_type=client_credentials&client_id=bench&client_secret=devsecret";
        let resp = client(&certs, false)
            .request(
                Request::post(&token_url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Full::new(Bytes::from(form)))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let token: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
        let put = || {
            Request::put(format!("{base_url}/tls-cli"))
                .header("authorization", &bearer)
                .header("ocp-apim-subscription-key", "devkey")
                .body(Full::default())
                .unwrap()
        };
        let refused = client(&certs, false).request(put()).await;
        assert!(refused.is_err(), "no client certificate: {refused:?}");
        let resp = client(&certs, true).request(put()).await.unwrap();
        assert_eq!(
            (resp.status(), resp.version()),
            (StatusCode::OK, Version::HTTP_2)
        );
    });
}

#[test]
fn gateway_reaches_rgw_over_https() {
    let Some(rgw) = common::ceph::rgw() else {
        return;
    };
    let Some((tls_endpoint, ca)) = rgw.tls.clone() else {
        eprintln!("skipped: the RGW under test serves no https (GATEBENCH_RGW_TLS_ENDPOINT)");
        return;
    };
    let tmp = common::tempdir();
    let policy = tmp.path().join("pass-through.xml");
    std::fs::write(&policy, "<policies><inbound><base /></inbound></policies>").unwrap();
    runtime().block_on(async {
        let gw = gateway::start(GatewayConfig::local(
            policy,
            S3Endpoint {
                endpoint: tls_endpoint,
                region: "us-east-1".into(),
                access_key: rgw.access_key.clone(),
                secret_key: Secret::new(rgw.secret_key.clone()),
                tls: TlsSpec {
                    ca_file: Some(ca),
                    ..Default::default()
                },
            },
        ))
        .await
        .unwrap();
        let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let bucket = format!("{}/tls-rgw-{}", gw.base_url(), std::process::id());
        let object = format!("{bucket}/object");
        // (The stand-in routes no HEAD or DELETE of a bucket: the empty bucket stays in
        // the throw-away test cluster.)
        for (method, url) in [
            (Method::PUT, &bucket),
            (Method::PUT, &object),
            (Method::GET, &object),
            (Method::DELETE, &object),
        ] {
            let req = Request::builder()
                .method(method.clone())
                .uri(url)
                .body(if method == Method::PUT && url == &object {
                    Full::new(Bytes::from_static(b"over https"))
                } else {
                    Full::default()
                })
                .unwrap();
            let resp = http.request(req).await.unwrap();
            assert!(
                resp.status().is_success(),
                "{method} {url}: {}",
                resp.status()
            );
            if method == Method::GET {
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(&body[..], b"over https");
            }
        }
    });
}
