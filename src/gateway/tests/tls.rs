//! The gateway over TLS: HTTP/1.1 and HTTP/2 by ALPN, mTLS, refused certificates, a
//! handshake failure that leaves the server serving, and an https backend.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};
use http_body_util::Full;
use tokio::io::AsyncWriteExt;

use super::super::{GatewayConfig, RunningGateway};
use crate::shared::embedded_s3::EmbeddedS3;
use crate::shared::{S3Endpoint, TlsSpec};
use crate::tls::generate::{LeafOptions, SelfSigned, SelfSignedFiles};
use crate::tls::server::server_config;
use crate::tls::server::test_client::{https, tls_reason};

/// A policy that lets every request through (no token, no subscription).
const PASS_THROUGH: &str = "<policies><inbound><base /></inbound></policies>";

fn certs(leaf: &LeafOptions) -> (tempfile::TempDir, SelfSignedFiles) {
    let dir = tempfile::tempdir().unwrap();
    let files = SelfSigned::write(dir.path(), leaf).unwrap();
    (dir, files)
}

fn trusting(ca: &Path) -> TlsSpec {
    TlsSpec {
        ca_file: Some(ca.to_path_buf()),
        ..Default::default()
    }
}

/// A pass-through gateway in front of `backend`, serving `tls` (plain without).
async fn gateway(
    backend: S3Endpoint,
    tls: Option<Arc<rustls::ServerConfig>>,
    dir: &Path,
) -> RunningGateway {
    let policy = dir.join("pass-through.xml");
    std::fs::write(&policy, PASS_THROUGH).unwrap();
    super::super::start(GatewayConfig {
        tls,
        ..GatewayConfig::local(policy, backend)
    })
    .await
    .unwrap()
}

fn request(method: Method, url: String) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(url)
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn serves_http1_and_http2_to_a_client_trusting_the_ca() {
    let (dir, files) = certs(&LeafOptions::default());
    let backend = EmbeddedS3::start().await.unwrap();
    let tls = server_config(&files.cert, &files.key, None).unwrap();
    let gw = gateway(backend.endpoint.clone(), Some(tls), dir.path()).await;
    assert!(
        gw.base_url().starts_with("https://127.0.0.1:"),
        "{}",
        gw.base_url()
    );
    let bucket = format!("{}/tls-bucket", gw.base_url());

    let http1 = https(&trusting(&files.ca), false);
    let resp = http1
        .request(request(Method::PUT, bucket.clone()))
        .await
        .unwrap();
    assert_eq!(
        (resp.status(), resp.version()),
        (StatusCode::OK, Version::HTTP_11)
    );

    let h2 = https(&trusting(&files.ca), true);
    let resp = h2.request(request(Method::GET, bucket)).await.unwrap();
    assert_eq!(
        (resp.status(), resp.version()),
        (StatusCode::OK, Version::HTTP_2)
    );
}

#[tokio::test]
async fn a_client_not_trusting_the_ca_fails_and_the_server_goes_on() {
    let (dir, files) = certs(&LeafOptions::default());
    let backend = EmbeddedS3::start().await.unwrap();
    let tls = server_config(&files.cert, &files.key, None).unwrap();
    let gw = gateway(backend.endpoint.clone(), Some(tls), dir.path()).await;
    let url = format!("{}/no-such-bucket", gw.base_url());

    let err = https(&TlsSpec::default(), false)
        .request(request(Method::GET, url.clone()))
        .await
        .expect_err("an unknown CA is refused");
    let reason = tls_reason(&err).unwrap_or_else(|| format!("not a TLS error: {err:?}"));
    assert!(reason.contains("unknown issuer"), "{reason}");

    // Not TLS at all, and a client that connects and says nothing: closed, not fatal.
    let mut garbage = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let _silent = tokio::net::TcpStream::connect(gw.addr).await.unwrap();

    let resp = https(&trusting(&files.ca), false)
        .request(request(Method::GET, url))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn expired_and_misnamed_certificates_are_refused_with_their_reason() {
    let backend = EmbeddedS3::start().await.unwrap();
    for (leaf, expected) in [
        (
            LeafOptions {
                expired: true,
                ..Default::default()
            },
            "expired",
        ),
        (
            LeafOptions {
                extra_names: vec!["elsewhere.example".into()],
                without_loopback: true,
                ..Default::default()
            },
            "name mismatch",
        ),
    ] {
        let (dir, files) = certs(&leaf);
        let tls = server_config(&files.cert, &files.key, None).unwrap();
        let gw = gateway(backend.endpoint.clone(), Some(tls), dir.path()).await;
        let err = https(&trusting(&files.ca), false)
            .request(request(Method::GET, gw.base_url()))
            .await
            .expect_err("the certificate is refused");
        let reason = tls_reason(&err).unwrap_or_else(|| format!("not a TLS error: {err:?}"));
        assert!(reason.contains(expected), "{expected}: {reason}");
    }
}

#[tokio::test]
async fn mtls_refuses_a_client_without_a_certificate_and_serves_one_with_it() {
    let (dir, files) = certs(&LeafOptions::default());
    let backend = EmbeddedS3::start().await.unwrap();
    let tls = server_config(&files.cert, &files.key, Some(&files.ca)).unwrap();
    let gw = gateway(backend.endpoint.clone(), Some(tls), dir.path()).await;
    let url = format!("{}/no-such-bucket", gw.base_url());

    // TLS 1.3: the client learns of the refusal when it reads the response.
    let err = https(&trusting(&files.ca), false)
        .request(request(Method::GET, url.clone()))
        .await
        .expect_err("no client certificate is refused");
    let reason = tls_reason(&err).unwrap_or_else(|| format!("not a TLS error: {err:?}"));
    assert!(reason.contains("requires a client certificate"), "{reason}");

    let with_cert = TlsSpec {
        client_cert: Some(files.client_cert.clone()),
        client_key: Some(files.client_key.clone()),
        ..trusting(&files.ca)
    };
    for h2 in [false, true] {
        let resp = https(&with_cert, h2)
            .request(request(Method::GET, url.clone()))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}

/// gateway (plain) → gateway (TLS) → S3: the first reaches an https backend only when
/// it trusts the second's CA.
#[tokio::test]
async fn reaches_an_https_backend_trusting_backend_ca() {
    let (dir, files) = certs(&LeafOptions::default());
    let s3 = EmbeddedS3::start().await.unwrap();
    let tls = server_config(&files.cert, &files.key, None).unwrap();
    let inner = gateway(s3.endpoint.clone(), Some(tls), dir.path()).await;
    let https_backend = S3Endpoint {
        endpoint: inner.base_url(),
        tls: trusting(&files.ca),
        ..s3.endpoint.clone()
    };
    let plain = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();

    let outer = gateway(https_backend.clone(), None, dir.path()).await;
    let resp = plain
        .request(request(
            Method::PUT,
            format!("{}/chained", outer.base_url()),
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let untrusting = S3Endpoint {
        tls: TlsSpec::default(),
        ..https_backend
    };
    let outer = gateway(untrusting, None, dir.path()).await;
    let resp = plain
        .request(request(
            Method::GET,
            format!("{}/chained", outer.base_url()),
        ))
        .await
        .unwrap();
    assert!(resp.status().is_server_error(), "{}", resp.status());
}
