//! The idp over HTTP and HTTPS: grants, client authentication, errors, discovery and keys.

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
use crate::shared::Secret;

async fn idp() -> RunningIdp {
    idp_serving(None).await
}

async fn idp_serving(tls: Option<std::sync::Arc<rustls::ServerConfig>>) -> RunningIdp {
    idp_issuing(Default::default(), tls).await
}

async fn idp_issuing(
    tokens: super::TokenShape,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> RunningIdp {
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
        tokens,
        tls,
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
        v.set_audience(&[super::DEFAULT_API_CLIENT_ID]);
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

#[tokio::test]
async fn over_https_issues_tokens_and_names_https_urls() {
    let dir = tempfile::tempdir().unwrap();
    let files = crate::tls::generate::SelfSigned::write(dir.path(), &Default::default()).unwrap();
    let tls = crate::tls::server::server_config(&files.cert, &files.key, None).unwrap();
    let idp = idp_serving(Some(tls)).await;
    let base = format!("https://{}", idp.addr);
    assert_eq!(
        idp.issuer,
        format!("{base}/{}/v2.0", super::DEFAULT_TENANT_ID)
    );
    assert_eq!(idp.token_url(), format!("{base}/token"));
    let client = crate::tls::server::test_client::https(
        &crate::shared::TlsSpec {
            ca_file: Some(files.ca),
            ..Default::default()
        },
        false,
    );
    let read = |resp: http::Response<hyper::body::Incoming>| async move {
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice::<Value>(&body).unwrap())
    };
    let discovery = client
        .request(
            Request::get(idp.openid_config_url())
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let (_, discovery) = read(discovery).await;
    assert_eq!(discovery["token_endpoint"], format!("{base}/token"));
    assert_eq!(discovery["jwks_uri"], format!("{base}/jwks"));
    let token = client
        .request(form(
            &idp,
            "grant_type=client_credentials",
            Some("bench:s3cret"),
        ))
        .await
        .unwrap();
    let (status, token) = read(token).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert!(
        token["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
}

// access-token-claims-reference.md: v1.0 tokens have iss https://sts.windows.net/{tid}/,
// the caller in appid (appidacr "1" for a secret) and aud the Application ID URI; v2.0
// tokens have iss …/{tid}/v2.0, the caller in azp (azpacr) and aud the API's client id.
// The discovery document names the issuer its tokens carry.
#[tokio::test]
async fn token_version_shapes_issuer_caller_and_audience() {
    for version in [super::TokenVersion::V1, super::TokenVersion::V2] {
        let tokens = super::TokenShape {
            version,
            tenant_id: "t-1".into(),
            api_client_id: "guid-1".into(),
        };
        let idp = idp_issuing(tokens, None).await;
        let (_, discovery) = call(
            Request::get(idp.openid_config_url())
                .body(Full::default())
                .unwrap(),
        )
        .await;
        let (_, tok) = call(form(
            &idp,
            "grant_type=client_credentials&client_id=bench&client_secret=s3cret",
            None,
        ))
        .await;
        let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(
            tok["access_token"].as_str().unwrap(),
        )
        .unwrap()
        .claims;
        let base = format!("http://{}", idp.addr);
        let (iss, aud, caller, acr, other, ver) = match version {
            super::TokenVersion::V1 => (
                "https://sts.windows.net/t-1/".to_string(),
                "api://aud",
                "appid",
                "appidacr",
                "azp",
                "1.0",
            ),
            super::TokenVersion::V2 => (
                format!("{base}/t-1/v2.0"),
                "guid-1",
                "azp",
                "azpacr",
                "appid",
                "2.0",
            ),
        };
        assert_eq!(idp.issuer, iss);
        assert_eq!(discovery["issuer"], iss, "{version:?}");
        assert_eq!(claims["iss"], iss, "{version:?}");
        assert_eq!(claims["aud"], aud, "{version:?}");
        assert_eq!(claims[caller], "bench", "{version:?}");
        assert_eq!(claims[acr], "1", "{version:?}");
        assert!(claims.get(other).is_none(), "{version:?}");
        assert_eq!(claims["ver"], ver);
        assert_eq!(claims["tid"], "t-1");
    }
}
