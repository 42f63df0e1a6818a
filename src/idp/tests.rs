//! The idp over HTTP: grants, client authentication, errors, discovery and keys.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::{IdpClient, IdpConfig, IdpCredential, RunningIdp};
use crate::plan::Secret;

async fn idp() -> RunningIdp {
    super::start(IdpConfig {
        public_url: None,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        issuer: None,
        clients: vec![IdpClient {
            id: "bench".into(),
            credential: IdpCredential::Secret(Secret::new("s3cret")),
            roles: vec!["storage.read".into()],
            audience: "api://aud".into(),
        }],
        token_lifetime: Duration::from_secs(90),
        key_pem: None,
    })
    .await
    .unwrap()
}

async fn call(req: Request<Full<Bytes>>) -> (StatusCode, Value) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let resp = client.request(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

fn form(idp: &RunningIdp, body: &str, basic: Option<&str>) -> Request<Full<Bytes>> {
    let mut b =
        Request::post(idp.token_url()).header("content-type", "application/x-www-form-urlencoded");
    if let Some(creds) = basic {
        let enc = base64::engine::general_purpose::STANDARD.encode(creds);
        b = b.header("authorization", format!("Basic {enc}"));
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

#[tokio::test]
async fn issues_tokens_verifiable_with_published_keys() {
    let idp = idp().await;
    let (status, discovery) = call(
        Request::get(idp.openid_config_url())
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(discovery["issuer"], idp.issuer);
    let (_, jwks) = call(
        Request::get(discovery["jwks_uri"].as_str().unwrap())
            .body(Full::default())
            .unwrap(),
    )
    .await;
    let jwks: JwkSet = serde_json::from_value(jwks).unwrap();
    let key = DecodingKey::from_jwk(&jwks.keys[0]).unwrap();

    for (body, basic) in [
        (
            "grant_type=client_credentials&client_id=bench&client_secret=s3cret&scope=x%2F.default",
            None,
        ),
        ("grant_type=client_credentials", Some("bench:s3cret")),
    ] {
        let (status, tok) = call(form(&idp, body, basic)).await;
        assert_eq!(status, StatusCode::OK, "{tok}");
        assert_eq!(tok["token_type"], "Bearer");
        assert_eq!(tok["expires_in"], 90);
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["api://aud"]);
        v.set_issuer(&[idp.issuer.as_str()]);
        let claims = jsonwebtoken::decode::<Value>(tok["access_token"].as_str().unwrap(), &key, &v)
            .unwrap()
            .claims;
        assert_eq!(claims["azp"], "bench");
        assert_eq!(claims["client_id"], "bench");
        assert_eq!(claims["roles"], serde_json::json!(["storage.read"]));
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap(),
            claims["exp"].as_u64().unwrap(),
        );
        assert_eq!(exp - iat, 90);
        assert_eq!(claims["nbf"], claims["iat"]);
    }
}

#[tokio::test]
async fn errors_follow_rfc_6749() {
    let idp = idp().await;
    // (form body, HTTP Basic credentials, expected status, expected `error`)
    let cases = [
        (
            "grant_type=client_credentials&client_id=bench&client_secret=wrong",
            None,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "grant_type=client_credentials",
            Some("nobody:x"),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "grant_type=password&username=a&password=b",
            Some("bench:s3cret"),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "client_id=bench",
            None,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (body, basic, status, error) in cases {
        let (got, err) = call(form(&idp, body, basic)).await;
        assert_eq!(
            (got, err["error"].as_str()),
            (status, Some(error)),
            "{body}"
        );
    }
}
