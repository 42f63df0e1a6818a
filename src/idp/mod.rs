//! `gatebench idp`: a development OAuth2/OpenID token issuer for LOCAL RUNS ONLY.
//!
//! Owns the client-credentials grant (`POST /token`), the discovery document
//! (`/.well-known/openid-configuration`) and the public keys (`/jwks`). Tokens are RS256
//! JWTs shaped like Entra ID's v1 or v2 access tokens (`TokenShape`): `iss`, `aud`, `sub`,
//! `tid`, `ver`, the caller in `appid`/`appidacr` (v1) or `azp`/`azpacr` (v2),
//! `client_id`, `roles`, `iat`, `nbf`, `exp`, `jti`. Clients prove who they are with a secret or, as with Entra ID's certificate
//! credential, a `client_assertion` JWT signed with their certificate's key. It has no
//! users, no consent and no refresh tokens; it serves plain HTTP or TLS (a certificate
//! given or generated, see `tls::server`). It exists so the gateway stand-in and the
//! load generator can be tested without Azure AD.

pub mod keys;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::Engine;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::shared::Secret;
use crate::shared::assertion::thumbprint;
use crate::tls::server::Handshake;
use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keys::SigningKey;

/// Largest accepted token request body.
const MAX_FORM: usize = 16 * 1024;

/// A registered client application.
#[derive(Debug, Clone)]
pub struct IdpClient {
    pub id: String,
    /// How it proves who it is.
    pub credential: IdpCredential,
    /// The `roles` claim of its tokens (e.g. `storage.read`).
    pub roles: Vec<String>,
    /// The `aud` claim of its tokens.
    pub audience: String,
}

/// How a client authenticates at `/token`.
#[derive(Debug, Clone)]
pub enum IdpCredential {
    /// `client_secret` (form or HTTP Basic).
    Secret(Secret),
    /// A `client_assertion` JWT (RS256 or PS256) signed with the key of this certificate
    /// (DER) and naming it by thumbprint, as Entra ID's certificate credential does.
    Certificate(Vec<u8>),
}

/// Which Entra ID access-token version to imitate (access-token-claims-reference.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenVersion {
    /// `iss` `https://sts.windows.net/{tid}/`, `aud` the Application ID URI (the
    /// client's `audience`), caller in `appid`/`appidacr`, `ver` `1.0`.
    V1,
    /// `iss` `{base}/{tid}/v2.0`, `aud` the API's client id, caller in `azp`/`azpacr`,
    /// `ver` `2.0`.
    V2,
}

/// The Entra ID shape of issued tokens.
#[derive(Debug, Clone)]
pub struct TokenShape {
    pub version: TokenVersion,
    /// `tid`, also part of the default issuer.
    pub tenant_id: String,
    /// The API's application (client) id: the `aud` of v2 tokens.
    pub api_client_id: String,
}

/// `TokenShape::tenant_id` unless set otherwise.
pub const DEFAULT_TENANT_ID: &str = "00000000-0000-4000-8000-00000000000a";
/// `TokenShape::api_client_id` unless set otherwise (listed in `policy.local.xml`).
pub const DEFAULT_API_CLIENT_ID: &str = "00000000-0000-4000-8000-0000000000a1";

impl Default for TokenShape {
    fn default() -> Self {
        TokenShape {
            version: TokenVersion::V2,
            tenant_id: DEFAULT_TENANT_ID.into(),
            api_client_id: DEFAULT_API_CLIENT_ID.into(),
        }
    }
}

/// How to run the idp.
#[derive(Debug, Clone)]
pub struct IdpConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The `iss` claim; default by token version: `https://sts.windows.net/{tid}/` (v1),
    /// `http(s)://ADDR/{tid}/v2.0` (v2).
    pub issuer: Option<String>,
    /// v1 or v2 tokens, tenant and API client id.
    pub tokens: TokenShape,
    /// How clients reach the idp (token and JWKS URLs in the discovery document); default
    /// `http(s)://ADDR`. Needed when the bound address is not the one clients use (containers).
    pub public_url: Option<String>,
    pub clients: Vec<IdpClient>,
    /// `exp - iat` of issued tokens.
    pub token_lifetime: Duration,
    /// A PEM RSA private key; default: a fresh key at every start.
    pub key_pem: Option<PathBuf>,
    /// Serve HTTPS with this configuration; `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// An idp serving in the background; it stops accepting when dropped.
pub struct RunningIdp {
    /// The bound address.
    pub addr: SocketAddr,
    /// The `iss` claim of its tokens.
    pub issuer: String,
    /// `https` when serving TLS, else `http`.
    pub scheme: &'static str,
    accept_loop: JoinHandle<()>,
}

impl RunningIdp {
    /// `http(s)://ADDR/token`.
    pub fn token_url(&self) -> String {
        format!("{}://{}/token", self.scheme, self.addr)
    }

    /// `http(s)://ADDR/.well-known/openid-configuration`.
    pub fn openid_config_url(&self) -> String {
        format!(
            "{}://{}/.well-known/openid-configuration",
            self.scheme, self.addr
        )
    }
}

impl Drop for RunningIdp {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

struct Idp {
    issuer: String,
    tokens: TokenShape,
    base: String,
    clients: HashMap<String, IdpClient>,
    lifetime: Duration,
    key: SigningKey,
}

/// Loads or generates the key, binds and starts serving.
pub async fn start(config: IdpConfig) -> anyhow::Result<RunningIdp> {
    let key = match &config.key_pem {
        Some(path) => SigningKey::from_pem(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )
        .with_context(|| format!("key {}", path.display()))?,
        None => SigningKey::generate()?,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let handshake = Handshake::new(config.tls.clone());
    let scheme = handshake.scheme();
    let base = config
        .public_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("{scheme}://{addr}"));
    let tid = &config.tokens.tenant_id;
    let issuer = config
        .issuer
        .clone()
        .unwrap_or_else(|| match config.tokens.version {
            TokenVersion::V1 => format!("https://sts.windows.net/{tid}/"),
            TokenVersion::V2 => format!("{base}/{tid}/v2.0"),
        });
    let idp = Arc::new(Idp {
        issuer: issuer.clone(),
        tokens: config.tokens.clone(),
        base,
        clients: config
            .clients
            .iter()
            .map(|c| (c.id.clone(), c.clone()))
            .collect(),
        lifetime: config.token_lifetime,
        key,
    });
    let http = Arc::new(handshake.http());
    let accept_loop = tokio::spawn(async move {
        // Owned by the accept loop, so stopping the idp also ends its open keep-alive
        // connections (a stopped idp must not go on answering on them).
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            while connections.try_join_next().is_some() {}
            let (idp, handshake, http) = (idp.clone(), handshake.clone(), http.clone());
            connections.spawn(async move {
                let Some(io) = handshake.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |req| {
                    let idp = idp.clone();
                    async move { Ok::<_, std::convert::Infallible>(idp.handle(req).await) }
                });
                let _ = http.serve_connection(TokioIo::new(io), service).await;
            });
        }
    });
    Ok(RunningIdp {
        addr,
        issuer,
        scheme,
        accept_loop,
    })
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An RFC 6749 §5.2 error.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Full<Bytes>> {
    let mut resp = json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    );
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"gatebench-idp\""),
        );
    }
    resp
}

impl Idp {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/.well-known/openid-configuration") => json_response(
                StatusCode::OK,
                &json!({
                    "issuer": self.issuer,
                    "token_endpoint": format!("{}/token", self.base),
                    "jwks_uri": format!("{}/jwks", self.base),
                    "grant_types_supported": ["client_credentials"],
                    "token_endpoint_auth_methods_supported":
                        ["client_secret_basic", "client_secret_post", "private_key_jwt"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "response_types_supported": ["token"],
                    "subject_types_supported": ["public"],
                }),
            ),
            (&Method::GET, "/jwks" | "/discovery/keys") => {
                json_response(StatusCode::OK, &self.key.jwks())
            }
            (&Method::POST, "/token") => self.token(req).await,
            (_, "/token") => oauth_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "use POST",
            ),
            _ => json_response(StatusCode::NOT_FOUND, &json!({ "error": "not_found" })),
        }
    }

    async fn token(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let basic = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(basic_credentials);
        let Ok(body) = Limited::new(req.into_body(), MAX_FORM).collect().await else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "unreadable or too large body",
            );
        };
        let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body.to_bytes())
        else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "body must be application/x-www-form-urlencoded",
            );
        };
        match form.get("grant_type").map(String::as_str) {
            None => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "grant_type is required",
                );
            }
            Some("client_credentials") => {}
            Some(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    "only client_credentials is supported",
                );
            }
        }
        let client = match form.get("client_assertion_type").map(String::as_str) {
            Some(crate::shared::assertion::JWT_BEARER) => self.asserted_client(&form),
            Some(_) => Err("unsupported client_assertion_type"),
            None => self.secret_client(basic, &form),
        };
        let client = match client {
            Ok(c) => c,
            Err(why) => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", why),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let lifetime = self.lifetime.as_secs();
        // access-token-claims-reference.md: `appidacr`/`azpacr` are "1" for a client
        // secret and "2" for a certificate.
        let acr = match client.credential {
            IdpCredential::Secret(_) => "1",
            IdpCredential::Certificate(_) => "2",
        };
        let mut claims = json!({
            "iss": self.issuer,
            "sub": client.id,
            "tid": self.tokens.tenant_id,
            "client_id": client.id,
            "roles": client.roles,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": format!("{:032x}", rand::random::<u128>()),
        });
        let shaped = match self.tokens.version {
            TokenVersion::V1 => json!({
                "aud": client.audience, "appid": client.id, "appidacr": acr, "ver": "1.0",
            }),
            TokenVersion::V2 => json!({
                "aud": self.tokens.api_client_id, "azp": client.id, "azpacr": acr, "ver": "2.0",
            }),
        };
        if let (Some(all), Value::Object(extra)) = (claims.as_object_mut(), shaped) {
            all.extend(extra);
        }
        match self.key.sign(&claims) {
            Ok(token) => {
                let mut body = json!({
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": lifetime,
                });
                if let Some(scope) = form.get("scope") {
                    body["scope"] = Value::String(scope.clone());
                }
                json_response(StatusCode::OK, &body)
            }
            Err(_) => oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "signing failed",
            ),
        }
    }
}

impl Idp {
    /// The client named by HTTP Basic or the form, if its secret matches.
    fn secret_client(
        &self,
        basic: Option<(String, String)>,
        form: &HashMap<String, String>,
    ) -> Result<&IdpClient, &'static str> {
        let (id, secret) = match basic {
            Some(pair) => pair,
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned().unwrap_or_default(),
            ),
        };
        match self.clients.get(&id) {
            Some(
                c @ IdpClient {
                    credential: IdpCredential::Secret(s),
                    ..
                },
            ) if constant_time_eq(s.expose().as_bytes(), secret.as_bytes()) => Ok(c),
            _ => Err("unknown client or wrong secret"),
        }
    }

    /// The client whose certificate signed the form's `client_assertion`: issuer and
    /// subject are its id, the audience is this token URL, the thumbprint names its
    /// certificate, and the assertion has not expired.
    fn asserted_client(&self, form: &HashMap<String, String>) -> Result<&IdpClient, &'static str> {
        let assertion = form
            .get("client_assertion")
            .ok_or("client_assertion is required")?;
        let header =
            jsonwebtoken::decode_header(assertion).map_err(|_| "client_assertion is not a JWT")?;
        let id = jsonwebtoken::dangerous::insecure_decode::<Value>(assertion)
            .ok()
            .and_then(|t| t.claims["iss"].as_str().map(str::to_string))
            .ok_or("client_assertion has no iss")?;
        let Some(
            client @ IdpClient {
                credential: IdpCredential::Certificate(der),
                ..
            },
        ) = self.clients.get(&id)
        else {
            return Err("no client with a certificate credential has this iss");
        };
        let named = match (&header.x5t_s256, &header.x5t) {
            (Some(t), _) => *t == thumbprint(&SHA256, der),
            (None, Some(t)) => *t == thumbprint(&SHA1_FOR_LEGACY_USE_ONLY, der),
            (None, None) => false,
        };
        if !named {
            return Err("the assertion's x5t#S256/x5t is not the registered certificate's");
        }
        let (_, certificate) = x509_parser::parse_x509_certificate(der)
            .map_err(|_| "the registered certificate is unreadable")?;
        let key = DecodingKey::from_rsa_der(&certificate.public_key().subject_public_key.data);
        let mut validation = Validation::new(Algorithm::PS256);
        validation.algorithms = vec![Algorithm::PS256, Algorithm::RS256];
        validation.set_audience(&[format!("{}/token", self.base)]);
        validation.set_issuer(&[&id]);
        validation.sub = Some(id.clone());
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        jsonwebtoken::decode::<Value>(assertion, &key, &validation)
            .map_err(|_| "client_assertion refused: bad signature, aud, sub or exp")?;
        Ok(client)
    }
}

/// `Basic base64(id:secret)` → (id, secret), form-decoded as RFC 6749 §2.3.1 asks.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
            .ok()
            .and_then(|v| v.into_iter().next())
            .map(|(_, v)| v)
    };
    Some((unescape(id)?, unescape(secret)?))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
