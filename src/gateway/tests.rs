//! In-process tests of the stand-in: embedded S3 backend, local idp, gateway on free ports.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::{Buf, Bytes};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use super::policy::LoadOptions;
use super::stats::StatsSnapshot;
use super::{GatewayConfig, RunningGateway, STATS_PATH};
use crate::client::body::GeneratedBody;
use crate::client::{S3Call, S3Client};
use crate::idp::keys::SigningKey;
use crate::idp::{IdpClient, IdpConfig, IdpCredential, RunningIdp};
use crate::shared::Secret;
use crate::shared::embedded_s3::EmbeddedS3;

mod expressions;
mod fidelity;
mod fuzz;
mod policy_support;
mod server_timing;
mod tls;
mod traffic;

type TestBody = BoxBody<Bytes, Infallible>;

const AUDIENCE: &str = "api://gatebench-storage";
const ISSUER: &str = "http://127.0.0.1:8081";
const BUCKET: &str = "gwtest";

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn empty() -> TestBody {
    Empty::new().boxed()
}

fn bytes_body(b: impl Into<Bytes>) -> TestBody {
    Full::new(b.into()).boxed()
}

/// Backend, idp, gateway and a client, alive together.
struct Env {
    _backend: EmbeddedS3,
    /// `None` only while a test replaces it.
    idp: Option<RunningIdp>,
    gw: RunningGateway,
    http: Client<HttpConnector, TestBody>,
    /// A key trusted by the gateway's first validate-jwt (inline), to forge claims.
    test_key: SigningKey,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn start_idp_at(issuer: Option<&str>, listen: SocketAddr) -> RunningIdp {
    start_idp_shaped(issuer, listen, Default::default()).await
}

/// An idp issuing tokens of `tokens`' shape (Entra ID v1 or v2).
async fn start_idp_shaped(
    issuer: Option<&str>,
    listen: SocketAddr,
    tokens: crate::idp::TokenShape,
) -> RunningIdp {
    let client = |id: &str, roles: &[&str]| IdpClient {
        id: id.into(),
        credential: IdpCredential::Secret(Secret::new(format!("{id}-secret"))),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        audience: AUDIENCE.into(),
    };
    crate::idp::start(IdpConfig {
        public_url: None,
        listen,
        issuer: issuer.map(str::to_string),
        clients: vec![
            client("writer", &["storage.read", "storage.write"]),
            client("reader", &["storage.read"]),
        ],
        token_lifetime: Duration::from_secs(300),
        key_pem: None,
        tokens,
        tls: None,
    })
    .await
    .unwrap()
}

/// Starts everything with the shipped `policy.local.xml`, after `edit` on its text.
async fn env_with(edit: impl FnOnce(String) -> String) -> Env {
    env_from(edit, Some(ISSUER), |_| {}).await
}

/// `env_with`, with an idp issuing as `issuer` (`None`: its own address) and the
/// gateway's load options changed by `load`.
async fn env_from(
    edit: impl FnOnce(String) -> String,
    issuer: Option<&str>,
    load: impl FnOnce(&mut LoadOptions),
) -> Env {
    let backend = EmbeddedS3::start().await.unwrap();
    let idp = start_idp_at(issuer, SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let test_key = SigningKey::generate().unwrap();
    let jwk = test_key.jwks()["keys"][0].clone();
    let shipped = std::fs::read_to_string(repo_file("deploy/apim/policy.local.xml")).unwrap();
    let first_openid =
        "<openid-config url=\"http://127.0.0.1:8081/.well-known/openid-configuration\" />";
    assert!(shipped.contains(first_openid));
    let with_inline_key = shipped.replacen(
        first_openid,
        &format!(
            "{first_openid}<issuer-signing-keys><key n=\"{}\" e=\"{}\" /></issuer-signing-keys>",
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap()
        ),
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.xml");
    std::fs::write(&policy, edit(with_inline_key)).unwrap();
    let mut load_options = LoadOptions {
        openid_config_url: Some(idp.openid_config_url()),
        ..Default::default()
    };
    load(&mut load_options);
    let gw = super::start(GatewayConfig {
        load: load_options,
        subscription_keys: vec![
            ("bench".into(), "key-bench".into()),
            ("other".into(), "key-other".into()),
            ("setup".into(), "key-setup".into()),
        ],
        ..GatewayConfig::local(policy, backend.endpoint.clone())
    })
    .await
    .unwrap();
    let env = Env {
        _backend: backend,
        idp: Some(idp),
        gw,
        http: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        test_key,
        _dir: dir,
    };
    let w = env.token("writer").await;
    let r = env
        .send(
            Method::PUT,
            &format!("/{BUCKET}"),
            Some(&w),
            Some("key-setup"),
            empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "create bucket: {:?}", r.body);
    env
}

async fn env() -> Env {
    env_with(|s| s).await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Env {
    /// A token from the idp's token endpoint (form-posted client credentials).
    async fn token(&self, client: &str) -> String {
        let form = format!(
            "grant_type=client_credentials&client_id={client}&client_secret={client}-secret&scope=storage%2F.default"
        );
        let req = Request::post(self.idp.as_ref().unwrap().token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(bytes_body(form))
            .unwrap();
        let resp = self.http.request(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value =
            serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    /// Claims that the gateway's policy accepts, signed with the inline test key.
    fn good_claims(&self) -> Value {
        json!({
            "iss": ISSUER, "aud": AUDIENCE, "azp": "forger", "roles": ["storage.read"],
            "iat": now(), "nbf": now(), "exp": now() + 300,
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        sub_key: Option<&str>,
        body: TestBody,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.gw.base_url()));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(k) = sub_key {
            req = req.header("ocp-apim-subscription-key", k);
        }
        let resp = self.http.request(req.body(body).unwrap()).await.unwrap();
        let (parts, body) = resp.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    /// A bodiless `method` request with `token` and the bench subscription key.
    async fn call(&self, method: Method, path: &str, token: &str) -> Reply {
        self.send(method, path, Some(token), Some("key-bench"), empty())
            .await
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, token).await
    }

    async fn put(&self, path: &str, token: &str, body: &'static str) -> Reply {
        self.send(
            Method::PUT,
            path,
            Some(token),
            Some("key-bench"),
            bytes_body(body),
        )
        .await
    }

    async fn stats(&self) -> StatsSnapshot {
        let req = Request::get(format!("http://{}{STATS_PATH}", self.gw.addr))
            .body(empty())
            .unwrap();
        let resp = self.http.request(req).await.unwrap();
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap()
    }
}

fn apim_body(status: u16, message: &str) -> String {
    format!("{{\"statusCode\":{status},\"message\":\"{message}\"}}")
}

#[tokio::test]
async fn missing_token_is_401_jwt_not_present() {
    let env = env().await;
    let r = env
        .send(Method::GET, "/gwtest/a", None, Some("key-bench"), empty())
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body,
        Bytes::from(r#"{"statusCode":401,"message":"JWT not present."}"#)
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
}

#[tokio::test]
async fn subscription_key_missing_or_invalid_is_401() {
    let env = env().await;
    let t = env.token("reader").await;
    let r = env
        .send(Method::GET, "/gwtest/a", Some(&t), None, empty())
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body,
        apim_body(
            401,
            "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."
        )
    );
    let r = env
        .send(Method::GET, "/gwtest/a", Some(&t), Some("nope"), empty())
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body,
        apim_body(
            401,
            "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
        )
    );
}

#[tokio::test]
async fn bad_tokens_are_401_invalid_jwt() {
    let env = env().await;
    let sign = |claims: &Value| env.test_key.sign(claims).unwrap();
    // The inline key is trusted: a well-formed forged token passes (control).
    let ok = sign(&env.good_claims());
    assert_eq!(
        env.get("/gwtest/none", &ok).await.status,
        StatusCode::NOT_FOUND
    );

    let mut expired = env.good_claims();
    expired["exp"] = json!(now() - 120);
    let mut wrong_aud = env.good_claims();
    wrong_aud["aud"] = json!("api://someone-else");
    let mut wrong_iss = env.good_claims();
    wrong_iss["iss"] = json!("http://evil.example");
    let mut no_role = env.good_claims();
    no_role["roles"] = json!(["other.role"]);
    let mut no_exp = env.good_claims();
    no_exp.as_object_mut().unwrap().remove("exp");

    // Signed by a key the gateway does not trust.
    let stranger = SigningKey::generate()
        .unwrap()
        .sign(&env.good_claims())
        .unwrap();
    // Payload swapped after signing.
    let mut parts: Vec<String> = ok.split('.').map(str::to_string).collect();
    let mut elevated = env.good_claims();
    elevated["roles"] = json!(["storage.read", "storage.write"]);
    parts[1] = URL_SAFE_NO_PAD.encode(elevated.to_string());
    let tampered = parts.join(".");
    // alg: none.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(env.good_claims().to_string())
    );
    // HS256 with the RSA public key as the HMAC secret (key confusion).
    let jwk = env.test_key.jwks()["keys"][0].clone();
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &env.good_claims(),
        &jsonwebtoken::EncodingKey::from_secret(jwk.to_string().as_bytes()),
    )
    .unwrap();

    for (name, token) in [
        ("expired", sign(&expired)),
        ("wrong audience", sign(&wrong_aud)),
        ("wrong issuer", sign(&wrong_iss)),
        ("missing role", sign(&no_role)),
        ("no exp", sign(&no_exp)),
        ("untrusted key", stranger),
        ("tampered", tampered),
        ("alg none", none),
        ("HS256 key confusion", confused),
        ("garbage", "not.a.jwt".to_string()),
    ] {
        let r = env.get("/gwtest/a", &token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(r.body, apim_body(401, "Invalid JWT."), "{name}");
    }
    assert_eq!(
        env.stats().await.forwarded,
        2,
        "only the control and bucket creation"
    );
}

/// A restarted idp has a new key; the gateway fetches it when a token names its `kid`
/// (here with a 1 s floor between refetches instead of the default 5 minutes).
#[tokio::test]
async fn signing_keys_are_refetched_for_an_unknown_kid() {
    let mut env = env_from(
        |s| s,
        Some(ISSUER),
        |l| l.jwks_refetch_floor = Some(Duration::from_secs(1)),
    )
    .await;
    let addr = env.idp.as_ref().unwrap().addr;
    let before = env.token("reader").await;
    assert_eq!(
        env.get("/gwtest/a", &before).await.status,
        StatusCode::NOT_FOUND
    );
    env.idp = None;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    env.idp = Some(start_idp_at(Some(ISSUER), addr).await);
    let after = env.token("reader").await;
    assert_eq!(
        env.get("/gwtest/a", &after).await.status,
        StatusCode::NOT_FOUND
    );
    // The first token's key left with the old idp: its remembered acceptance went too.
    let r = env.get("/gwtest/a", &before).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
}

/// The validate-jwt policies of a gateway that name one openid-config URL share its
/// keys: what one fetched (at startup, in the background or for an unknown `kid`) the
/// others know at the same moment, and the refetch floor counts for all of them.
#[tokio::test]
async fn validate_jwts_of_one_openid_config_share_its_keys() {
    let env = env().await;
    let shipped = std::fs::read_to_string(repo_file("deploy/apim/policy.local.xml")).unwrap();
    let load = LoadOptions {
        openid_config_url: Some(env.idp.as_ref().unwrap().openid_config_url()),
        ..Default::default()
    };
    let policy = super::policy::parse(&shipped, "policy.local.xml", &load).unwrap();
    let jwts = super::jwt_policies(&policy.inbound);
    assert_eq!(jwts.len(), 2, "everyone's check and the write check");
    let writer = env.token("writer").await;
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {writer}").parse().unwrap());
    assert!(jwts[1].wants_refetch(&headers), "no keys yet");
    let openid = super::jwt::OpenIdClient::new(&Default::default()).unwrap();
    jwts[0].fetch_keys(&openid).await.unwrap();
    assert_eq!(
        jwts[1].check(&headers),
        Ok(()),
        "the write check knows the key the first check fetched"
    );
    assert!(
        !jwts[1].wants_refetch(&headers),
        "one fetch for both, within the refetch floor"
    );
}

#[tokio::test]
async fn read_only_role_may_read_but_not_write() {
    let env = env().await;
    let (w, r) = (env.token("writer").await, env.token("reader").await);
    assert_eq!(
        env.put("/gwtest/doc", &w, "hello").await.status,
        StatusCode::OK
    );
    let got = env.get("/gwtest/doc", &r).await;
    assert_eq!(
        (got.status, got.body.as_ref()),
        (StatusCode::OK, &b"hello"[..])
    );
    let head = env.call(Method::HEAD, "/gwtest/doc", &r).await;
    assert_eq!(head.status, StatusCode::OK);
    let list = env.get("/gwtest?list-type=2&prefix=d", &r).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&list.body).contains("<Key>doc</Key>"));

    let put = env.put("/gwtest/doc", &r, "overwrite").await;
    assert_eq!(put.status, StatusCode::FORBIDDEN);
    assert_eq!(
        put.body,
        apim_body(403, "Forbidden: the storage.write role is required.")
    );
    let del = env.call(Method::DELETE, "/gwtest/doc", &r).await;
    assert_eq!(del.status, StatusCode::FORBIDDEN);
    assert_eq!(env.get("/gwtest/doc", &r).await.body.as_ref(), b"hello");
}

#[tokio::test]
async fn rate_limit_by_key_50_per_10s() {
    let env = env_with(|p| {
        p.replace(
            r#"calls="1000000" renewal-period="60""#,
            r#"calls="50" renewal-period="10""#,
        )
    })
    .await;
    let t = env.token("reader").await;
    let (mut ok, mut throttled) = (0, 0);
    for _ in 0..80 {
        let r = env.get("/gwtest/missing", &t).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            throttled += 1;
            let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=10).contains(&secs), "{secs}");
            assert_eq!(
                r.body,
                apim_body(
                    429,
                    &format!("Rate limit is exceeded. Try again in {secs} seconds.")
                )
            );
        } else {
            assert_eq!(r.status, StatusCode::NOT_FOUND);
            ok += 1;
        }
    }
    assert_eq!((ok, throttled), (50, 30));
    let other = env
        .send(
            Method::GET,
            "/gwtest/missing",
            Some(&t),
            Some("key-other"),
            empty(),
        )
        .await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "another key is unaffected"
    );
    assert_eq!(other.header("x-ratelimit-remaining"), Some("49"));
    assert_eq!(env.stats().await.throttled, 30);
}

#[tokio::test]
async fn cached_get_is_a_hit_that_skips_the_backend() {
    let env = env().await;
    let w = env.token("writer").await;
    assert_eq!(env.put("/gwtest/c", &w, "v1").await.header("x-cache"), None);
    let first = env.get("/gwtest/c", &w).await;
    assert_eq!(first.header("x-cache"), Some("MISS"));
    let before = env.stats().await;
    let second = env.get("/gwtest/c", &w).await;
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(second.body.as_ref(), b"v1");
    let after = env.stats().await;
    assert_eq!(
        after.forwarded, before.forwarded,
        "a hit never reaches the backend"
    );
    assert_eq!(after.cache_hits, before.cache_hits + 1);

    // HEAD and PUT never come from the cache.
    let head = env.call(Method::HEAD, "/gwtest/c", &w).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("x-cache"), None);
    let put = env.put("/gwtest/c", &w, "v2").await;
    assert_eq!((put.status, put.header("x-cache")), (StatusCode::OK, None));
    assert_eq!(env.stats().await.forwarded, after.forwarded + 2);

    // Like APIM, a PUT does not invalidate: the old body is served until `duration` ends.
    let stale = env.get("/gwtest/c", &w).await;
    assert_eq!(stale.header("x-cache"), Some("HIT"));
    assert_eq!(stale.body.as_ref(), b"v1");
    // A different query string is a different entry.
    let fresh = env.get("/gwtest/c?x=1", &w).await;
    assert_eq!(fresh.header("x-cache"), Some("MISS"));
    assert_eq!(fresh.body.as_ref(), b"v2");
}

#[tokio::test]
async fn streams_64_mib_put_and_get() {
    let env = env().await;
    let w = env.token("writer").await;
    let len: u64 = 64 * 1024 * 1024;
    let put = env
        .send(
            Method::PUT,
            "/gwtest/big",
            Some(&w),
            Some("key-bench"),
            GeneratedBody::new(len).boxed(),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{:?}", put.body);
    let req = Request::get(format!("{}/gwtest/big", env.gw.base_url()))
        .header("authorization", format!("Bearer {w}"))
        .header("ocp-apim-subscription-key", "key-bench")
        .body(empty())
        .unwrap();
    let resp = env.http.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers().get("x-cache").unwrap(),
        "MISS",
        "too large to cache"
    );
    let mut body = resp.into_body();
    let mut got = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(d) = frame.unwrap().data_ref() {
            got += d.remaining() as u64;
        }
    }
    assert_eq!(got, len);
}

#[tokio::test]
async fn unknown_policy_element_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.xml");
    std::fs::write(
        &policy,
        "<policies>\n  <inbound>\n    <base />\n    <ip-filter action=\"allow\" />\n  </inbound>\n</policies>\n",
    )
    .unwrap();
    let backend = EmbeddedS3::start().await.unwrap();
    let err = super::start(GatewayConfig::local(policy, backend.endpoint.clone()))
        .await
        .err()
        .expect("must not start");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("ip-filter") && msg.contains("p.xml:4"),
        "{msg}"
    );
}

/// A token for the idp's `client` (client credentials, secret `{client}-secret`).
async fn client_token(
    http: &Client<HttpConnector, TestBody>,
    idp: &RunningIdp,
    client: &str,
) -> String {
    let form =
        format!("grant_type=client_credentials&client_id={client}&client_secret={client}-secret");
    let req = Request::post(idp.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(bytes_body(form))
        .unwrap();
    let resp = http.request(req).await.unwrap();
    let body: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// The real-APIM policy loads (native blocks replaced) and serves with a local idp
/// posing as Entra ID, for both token versions: v1 tokens (issuer sts.windows.net, aud the
/// Application ID URI, caller in `appid`) and v2 tokens (issuer …/v2.0, aud the API's
/// client id, caller in `azp`) pass validate-jwt, and the rate limit counts each client
/// application separately (access-token-claims-reference.md; the counter key is
/// `azp ?? appid`).
#[tokio::test]
async fn shipped_apim_policy_accepts_v1_and_v2_tokens_and_limits_each_client() {
    use crate::idp::{TokenShape, TokenVersion};
    let backend = EmbeddedS3::start().await.unwrap();
    for (version, issuer) in [
        (TokenVersion::V1, None),
        (
            TokenVersion::V2,
            Some("https://login.microsoftonline.com/test-tenant/v2.0"),
        ),
    ] {
        let tokens = TokenShape {
            version,
            tenant_id: "test-tenant".into(),
            ..Default::default()
        };
        let idp = start_idp_shaped(issuer, SocketAddr::from(([127, 0, 0, 1], 0)), tokens).await;
        if version == TokenVersion::V1 {
            assert_eq!(idp.issuer, "https://sts.windows.net/test-tenant/");
        }
        let named_values: HashMap<String, String> = [
            ("tenant-id", "test-tenant"),
            ("storage-app-id-uri", AUDIENCE),
            ("storage-client-id", crate::idp::DEFAULT_API_CLIENT_ID),
            ("rgw-base-url", backend.endpoint.endpoint.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let load = LoadOptions {
            openid_config_url: Some(idp.openid_config_url()),
            named_values,
            ..Default::default()
        };
        let policy_path = repo_file("deploy/apim/policy.xml");
        let parsed = super::policy::load(&policy_path, &load).unwrap();
        let blocks: Vec<&str> = parsed
            .native_blocks
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(
            blocks,
            [
                "x-cache",
                "sigv4",
                "server-timing",
                "server-timing",
                "x-cache",
                "server-timing"
            ]
        );
        let gw = super::start(GatewayConfig {
            load,
            subscription_keys: vec![("bench".into(), "k".into())],
            // Deliberately unreachable: set-backend-service must take over.
            ..GatewayConfig::local(
                policy_path,
                crate::shared::S3Endpoint {
                    endpoint: "http://127.0.0.1:9".into(),
                    ..backend.endpoint.clone()
                },
            )
        })
        .await
        .unwrap();
        let http: Client<HttpConnector, TestBody> =
            Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let writer = client_token(&http, &idp, "writer").await;
        let reader = client_token(&http, &idp, "reader").await;
        let claims = |t: &str| -> Value {
            serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(t.split('.').nth(1).unwrap())
                    .unwrap(),
            )
            .unwrap()
        };
        let caller = if version == TokenVersion::V1 {
            "appid"
        } else {
            "azp"
        };
        assert_eq!(claims(&writer)[caller], "writer", "{version:?}");
        let bucket = format!("bucket-{version:?}").to_lowercase();
        let mut remaining = Vec::new();
        for (token, method, path, body) in [
            (&writer, Method::PUT, bucket.clone(), ""),
            (&writer, Method::PUT, format!("{bucket}/k"), "x"),
            (&reader, Method::GET, format!("{bucket}/k"), ""),
            (&writer, Method::GET, format!("{bucket}/k"), ""),
            (&reader, Method::GET, format!("{bucket}/k"), ""),
        ] {
            let req = Request::builder()
                .method(method)
                .uri(format!("{}/{path}", gw.base_url()))
                .header("authorization", format!("Bearer {token}"))
                .header("ocp-apim-subscription-key", "k")
                .body(bytes_body(body))
                .unwrap();
            let resp = http.request(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{version:?} {path}");
            assert_eq!(resp.headers()["x-ratelimit-limit"], "1000");
            // The server-timing blocks are replaced by the stand-in's own header.
            let timing = crate::client::server_timing::server_timing(resp.headers());
            assert!(timing.gateway.is_some(), "{version:?} {path}: {timing:?}");
            remaining.push(
                resp.headers()["x-ratelimit-remaining"]
                    .to_str()
                    .unwrap()
                    .to_string(),
            );
        }
        // One counter per client application: the reader's calls do not use the writer's.
        assert_eq!(
            remaining,
            ["999", "998", "999", "997", "998"],
            "{version:?}"
        );
    }
}

/// `validate-azure-ad-token` (validate-azure-ad-token-policy.md) takes v1 and v2 tokens of
/// the tenant from a listed client application and refuses other callers.
#[tokio::test]
async fn validate_azure_ad_token_admits_listed_client_applications() {
    use crate::idp::{TokenShape, TokenVersion};
    let (backend, seen) = capture_backend().await;
    for version in [TokenVersion::V1, TokenVersion::V2] {
        let tokens = TokenShape {
            version,
            tenant_id: "test-tenant".into(),
            ..Default::default()
        };
        let idp = start_idp_shaped(None, SocketAddr::from(([127, 0, 0, 1], 0)), tokens).await;
        let xml = format!(
            r#"<policies><inbound>
    <validate-azure-ad-token tenant-id="test-tenant">
        <client-application-ids><application-id>writer</application-id></client-application-ids>
        <backend-application-ids><application-id>{}</application-id></backend-application-ids>
        <audiences><audience>{AUDIENCE}</audience></audiences>
    </validate-azure-ad-token>
    <set-backend-service base-url="http://{backend}" />
</inbound></policies>"#,
            crate::idp::DEFAULT_API_CLIENT_ID
        );
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("p.xml");
        std::fs::write(&policy, xml).unwrap();
        let gw = super::start(GatewayConfig {
            load: LoadOptions {
                openid_config_url: Some(idp.openid_config_url()),
                ..Default::default()
            },
            api_prefix: "/api".into(),
            ..GatewayConfig::local(policy, backend_unreachable())
        })
        .await
        .unwrap();
        let http: Client<HttpConnector, TestBody> =
            Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let before = seen.lock().unwrap().len();
        for (client, want) in [
            ("writer", StatusCode::OK),
            ("reader", StatusCode::UNAUTHORIZED),
        ] {
            let token = client_token(&http, &idp, client).await;
            let req = Request::get(format!("{}/b/k", gw.base_url()))
                .header("authorization", format!("Bearer {token}"))
                .body(empty())
                .unwrap();
            let status = http.request(req).await.unwrap().status();
            assert_eq!(status, want, "{version:?} {client}");
        }
        assert_eq!(seen.lock().unwrap().len(), before + 1, "{version:?}");
        let stats: Value = {
            let req = Request::get(format!("http://{}{STATS_PATH}", gw.addr))
                .body(empty())
                .unwrap();
            let resp = http.request(req).await.unwrap();
            serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap()
        };
        assert_eq!(stats["jwt_refused"]["client_application"], 1, "{version:?}");
    }
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Prints (does not assert) the gateway's added latency on loopback.
#[tokio::test]
async fn overhead_p50_direct_vs_gateway() {
    let env = env().await;
    let w = env.token("writer").await;
    let n = 200;
    for i in 0..n {
        let body = Bytes::from(vec![b'x'; 4096]);
        let r = env
            .send(
                Method::PUT,
                &format!("/gwtest/o{i}"),
                Some(&w),
                Some("key-bench"),
                bytes_body(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let options = crate::client::ClientOptions {
        cache_rule: None,
        timeout: Duration::from_secs(10),
        policy: Default::default(),
    };
    let direct = S3Client::direct(&env._backend.endpoint, options).unwrap();
    let mut conn = direct.connection(0);
    let mut d = Vec::with_capacity(n);
    for i in 0..n {
        let call = S3Call {
            method: Method::GET,
            path_and_query: format!("/{BUCKET}/o{i}"),
            body_len: 0,
            index: None,
            range: None,
            checksum: Default::default(),
        };
        let t = Instant::now();
        let r = direct.send(&mut conn, &call).await;
        d.push(t.elapsed());
        assert_eq!(r.status, Some(200));
    }
    let mut miss = Vec::with_capacity(n);
    let mut hit = Vec::with_capacity(n);
    for round in [&mut miss, &mut hit] {
        for i in 0..n {
            let t = Instant::now();
            let r = env.get(&format!("/gwtest/o{i}"), &w).await;
            round.push(t.elapsed());
            assert_eq!(r.status, StatusCode::OK);
        }
    }
    let (d, miss, hit) = (p50(d), p50(miss), p50(hit));
    println!(
        "overhead (200 sequential 4 KiB GETs, loopback, release): direct p50 {d:?}, \
         gateway miss p50 {miss:?} (+{:?}), gateway cache hit p50 {hit:?}",
        miss.saturating_sub(d)
    );
}

/// Serves `answer` over HTTP/1.1 on a fresh loopback port for the rest of the test: the
/// accept loop of every test backend.
async fn serve_backend<F, Fut>(answer: F) -> SocketAddr
where
    F: Fn(Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = hyper::Response<Full<Bytes>>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let reply = answer(req);
                    async move { Ok::<_, Infallible>(reply.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A backend that records what reaches it and answers 200 `ok` (after 3 s for `/slow`).
async fn capture_backend() -> (
    SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<Request<()>>>>,
) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let addr = serve_backend(move |req: Request<hyper::body::Incoming>| {
        let log = log.clone();
        async move {
            if req.uri().path().ends_with("/slow") {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            let (parts, _) = req.into_parts();
            log.lock().unwrap().push(Request::from_parts(parts, ()));
            hyper::Response::new(Full::new(Bytes::from("ok")))
        }
    })
    .await;
    (addr, seen)
}

async fn gateway_with_policy(
    xml: &str,
    latency: Option<&str>,
) -> (RunningGateway, tempfile::TempDir) {
    gateway_with_keys(xml, latency, Vec::new()).await
}

/// A default backend nobody listens on (a policy's `set-backend-service` must take over).
fn backend_unreachable() -> crate::shared::S3Endpoint {
    crate::shared::S3Endpoint {
        endpoint: "http://127.0.0.1:9".into(),
        region: "us-east-1".into(),
        access_key: "AKGATEWAY".into(),
        secret_key: Secret::new("gateway-secret"),
        tls: Default::default(),
    }
}

/// A gateway on `xml` under `/api` whose default backend is unreachable, requiring the
/// subscription keys `(name, key)` if any.
async fn gateway_with_keys(
    xml: &str,
    latency: Option<&str>,
    subscription_keys: Vec<(String, String)>,
) -> (RunningGateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.xml");
    std::fs::write(&policy, xml).unwrap();
    let gw = super::start(GatewayConfig {
        api_prefix: "/api/".into(),
        subscription_keys,
        added_latency: latency.map(|l| crate::shared::latency::AddedLatency::parse(l).unwrap()),
        header_read_timeout: Duration::from_secs(1),
        ..GatewayConfig::local(policy, backend_unreachable())
    })
    .await
    .unwrap();
    (gw, dir)
}

#[tokio::test]
async fn headers_rewrite_backend_service_quota_and_timeout() {
    let (backend, seen) = capture_backend().await;
    let xml = format!(
        r#"<policies>
    <inbound>
        <set-header name="X-Added" exists-action="override"><value>yes</value></set-header>
        <set-header name="X-Remove" exists-action="delete" />
        <set-header name="X-Kept" exists-action="skip"><value>gateway</value></set-header>
        <rewrite-uri template="/data/{{bucket}}/{{key}}" />
        <set-backend-service base-url="http://{backend}" />
        <quota-by-key calls="3" renewal-period="300" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Tenant&quot;, &quot;none&quot;))" />
    </inbound>
    <backend><forward-request timeout="1" /></backend>
    <outbound><set-header name="X-Out" exists-action="append"><value>1</value></set-header></outbound>
    <on-error><set-header name="X-Error" exists-action="override"><value>yes</value></set-header></on-error>
</policies>"#
    );
    let (gw, _dir) = gateway_with_policy(&xml, None).await;
    let http: Client<HttpConnector, TestBody> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let get = |path: &str, tenant: &str| {
        Request::get(format!("{}{path}", gw.base_url()))
            .header("authorization", "Bearer client-token")
            .header("ocp-apim-subscription-key", "client-key")
            .header("x-remove", "1")
            .header("x-kept", "client")
            .header("x-tenant", tenant)
            .body(empty())
            .unwrap()
    };
    for _ in 0..3 {
        let resp = http.request(get("/b/k/x?q=1", "a")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers().get("x-out").unwrap(), "1");
    }
    let resp = http.request(get("/b/k/x", "a")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Windows align to first-period-start (default 0001-01-01), so to multiples of 300 s.
    let aligned = 300 - now() % 300;
    assert!(retry.abs_diff(aligned) <= 1, "{retry} vs {aligned}");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body);
    let want = format!(
        r#"{{"statusCode":403,"message":"Out of call volume quota. Quota will be replenished in {}."}}"#,
        super::limits::hh_mm_ss(Duration::from_secs(retry))
    );
    assert_eq!(text, want);
    assert_eq!(
        http.request(get("/b/k", "b")).await.unwrap().status(),
        StatusCode::OK
    );

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "the refused call never reached the backend");
    let first = &seen[0];
    assert_eq!(
        first.uri().path_and_query().unwrap().as_str(),
        "/data/b/k/x?q=1"
    );
    assert_eq!(seen[3].uri().path(), "/data/b/k");
    let h = first.headers();
    assert_eq!(h["host"], backend.to_string().as_str());
    assert_eq!(h["x-added"], "yes");
    assert_eq!(h["x-kept"], "client");
    assert!(h.get("x-remove").is_none());
    assert!(h.get("ocp-apim-subscription-key").is_none());
    assert_eq!(h["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    let auth = h["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKGATEWAY/"),
        "{auth}"
    );

    let t = Instant::now();
    let slow = http.request(get("/b/slow", "c")).await.unwrap();
    assert_eq!(slow.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(slow.headers().get("x-error").unwrap(), "yes");
    assert!(t.elapsed() < Duration::from_millis(2500));
}

#[tokio::test]
async fn added_latency_delays_each_request() {
    let (backend, _seen) = capture_backend().await;
    let xml = format!(
        r#"<policies><inbound><set-backend-service base-url="http://{backend}" /></inbound></policies>"#
    );
    let (gw, _dir) = gateway_with_policy(&xml, Some("80ms")).await;
    let http: Client<HttpConnector, TestBody> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let t = Instant::now();
    let resp = http
        .request(
            Request::get(format!("{}/b/k", gw.base_url()))
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(80));
    let outside = http
        .request(
            Request::get(format!("http://{}/other", gw.addr))
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(outside.status(), StatusCode::NOT_FOUND);
}

/// A `Connection: close` request with no body, as raw HTTP/1.1 bytes.
fn raw_request(method: &str, path: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Sends `raw` on a fresh connection and reads until the gateway closes it (at most
/// 10 s): (status, body); status 0 if no response came.
async fn raw_exchange(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(raw).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// A gateway under `/api` in front of `capture_backend`, with a 1 s header-read timeout.
async fn capture_gateway() -> (
    RunningGateway,
    tempfile::TempDir,
    std::sync::Arc<std::sync::Mutex<Vec<Request<()>>>>,
) {
    let (backend, seen) = capture_backend().await;
    let xml = format!(
        r#"<policies><inbound><set-backend-service base-url="http://{backend}" /></inbound></policies>"#
    );
    let (gw, dir) = gateway_with_policy(&xml, None).await;
    (gw, dir, seen)
}

#[tokio::test]
async fn dot_segments_are_resolved_and_never_leave_the_api() {
    let (gw, _dir, seen) = capture_gateway().await;
    for (path, reaches) in [
        ("/api/demo/../victim/x", "/victim/x"),
        ("/api/demo/%2e%2e/victim/x", "/victim/x"),
        ("/api/demo/%2E./victim/x", "/victim/x"),
        ("/api/./demo/.%2E/demo/x/./y/%2e", "/demo/x/y/"),
        ("/other/../api/demo/k", "/demo/k"),
    ] {
        let (status, body) = raw_exchange(gw.addr, &raw_request("PUT", path)).await;
        assert_eq!(status, 200, "{path}: {body}");
        let got = seen.lock().unwrap().pop().unwrap();
        assert_eq!(got.uri().path(), reaches, "{path}");
    }
    for path in [
        "/api/demo/../../x",
        "/api/../x",
        "/api/demo/..",
        "/api/demo/..%2f..%2fx",
        "/api/demo/..%2F%2E%2E%2Fx",
        "/api/demo/..%5C..%5Cx",
        "/api/demo/k/..%5c..%5c..%5cx",
        "/api/demo/..\\..\\x",
        "/api/demo/.%2e/.%2e/x",
    ] {
        let (status, body) = raw_exchange(gw.addr, &raw_request("PUT", path)).await;
        assert!(matches!(status, 400 | 404), "{path}: {status} {body}");
    }
    let leaked: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.uri().to_string())
        .collect();
    assert!(leaked.is_empty(), "reached the backend: {leaked:?}");
}

#[tokio::test]
async fn methods_the_api_does_not_define_are_404_and_not_forwarded() {
    let (gw, _dir, seen) = capture_gateway().await;
    let long = "X".repeat(10_000);
    for (method, path) in [
        ("put", "/api/b/k"),
        ("PATCH", "/api/b/k"),
        ("PROPFIND", "/api/b/k"),
        ("OPTIONS", "/api/b/k"),
        ("POST", "/api/b"),
        (long.as_str(), "/api/b/k"),
        ("PATCH", "/api/b"),
        ("GET", "/api/"),
        ("GET", "/api"),
    ] {
        let (status, body) = raw_exchange(gw.addr, &raw_request(method, path)).await;
        assert_eq!(
            (status, body.as_str()),
            (404, apim_body(404, "Resource not found").as_str()),
            "{} {path}",
            &method[..method.len().min(16)]
        );
    }
    let leaked: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                &r.method().as_str()[..16.min(r.method().as_str().len())],
                r.uri()
            )
        })
        .collect();
    assert!(leaked.is_empty(), "reached the backend: {leaked:?}");
    for (method, path) in [
        ("GET", "/api/b"),
        ("PUT", "/api/b"),
        ("GET", "/api/b/k"),
        ("HEAD", "/api/b/k"),
        ("PUT", "/api/b/k"),
        ("DELETE", "/api/b/k"),
    ] {
        let (status, _) = raw_exchange(gw.addr, &raw_request(method, path)).await;
        assert_eq!(status, 200, "{method} {path}");
    }
}

#[tokio::test]
async fn http11_without_exactly_one_host_is_400() {
    let (gw, _dir, seen) = capture_gateway().await;
    for raw in [
        "GET /api/b/k HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET /api/b/k HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    ] {
        let (status, body) = raw_exchange(gw.addr, raw.as_bytes()).await;
        assert_eq!(status, 400, "{raw:?}: {body}");
    }
    assert!(seen.lock().unwrap().is_empty());
    let (status, _) = raw_exchange(gw.addr, b"GET /api/b/k HTTP/1.0\r\n\r\n").await;
    assert_eq!(status, 200, "HTTP/1.0 needs no Host");
}

#[tokio::test]
async fn malformed_chunk_size_is_400() {
    let env = env().await;
    let w = env.token("writer").await;
    let raw = format!(
        "PUT /storage/gwtest/chunky HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {w}\r\n\
         Ocp-Apim-Subscription-Key: key-bench\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
    );
    let (status, body) = raw_exchange(env.gw.addr, raw.as_bytes()).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn slow_headers_and_idle_keep_alive_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (gw, _dir, _seen) = capture_gateway().await;
    // One byte every 200 ms: the 1 s header-read timeout closes the connection.
    let mut slow = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let started = Instant::now();
    let request =
        b"GET /api/b/k HTTP/1.1\r\nHost: gw\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut closed = false;
    for byte in request.iter().take(40) {
        if slow.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(200), slow.read(&mut probe)).await
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "still open after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(4));

    // A keep-alive connection idle after its response is closed too.
    let mut idle = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    idle.write_all(b"GET /api/b/k HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"\r\n\r\nok") {
        let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before the response");
        got.extend_from_slice(&buf[..n]);
    }
    let eof = tokio::time::timeout(Duration::from_secs(4), idle.read(&mut buf)).await;
    assert!(
        matches!(eof, Ok(Ok(0))),
        "idle connection not closed: {eof:?}"
    );
}

#[tokio::test]
async fn gateway_starts_before_the_idp_and_validates_once_keys_arrive() {
    let idp_addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let backend = EmbeddedS3::start().await.unwrap();
    let gw = super::start(GatewayConfig {
        load: LoadOptions {
            openid_config_url: Some(format!(
                "http://{idp_addr}/.well-known/openid-configuration"
            )),
            ..Default::default()
        },
        subscription_keys: vec![("bench".into(), "key-bench".into())],
        ..GatewayConfig::local(
            repo_file("deploy/apim/policy.local.xml"),
            backend.endpoint.clone(),
        )
    })
    .await
    .expect("starts although the idp is down");
    let env = Env {
        _backend: backend,
        idp: None,
        gw,
        http: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        test_key: SigningKey::generate().unwrap(),
        _dir: tempfile::tempdir().unwrap(),
    };
    let unsigned = format!(
        "{}.{}.sig",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k1"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#)
    );
    let r = env.get("/gwtest/a", &unsigned).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, apim_body(401, "Invalid JWT."));

    let env = Env {
        idp: Some(start_idp_at(Some(ISSUER), idp_addr).await),
        ..env
    };
    let w = env.token("writer").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = env
            .send(Method::PUT, "/gwtest", Some(&w), Some("key-bench"), empty())
            .await;
        if r.status == StatusCode::OK {
            break;
        }
        // Both checks share the idp's keys: until they arrive the first refuses (401);
        // the write check never knows a key the first does not (no 403 between).
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
        assert!(Instant::now() < deadline, "keys never fetched");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish_and_stops_accepting() {
    let (backend, _seen) = capture_backend().await;
    let xml = format!(
        r#"<policies><inbound><set-backend-service base-url="http://{backend}" /></inbound></policies>"#
    );
    let (mut gw, _dir) = gateway_with_policy(&xml, Some("400ms")).await;
    let addr = gw.addr;
    let in_flight =
        tokio::spawn(async move { raw_exchange(addr, &raw_request("GET", "/api/b/k")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    gw.shutdown(Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(in_flight.await.unwrap(), (200, "ok".to_string()));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}
