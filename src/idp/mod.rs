//! `gatebench idp`: a development OAuth2/OpenID token issuer for LOCAL RUNS ONLY.
//!
//! Owns the client-credentials grant (`POST /token`), the discovery document
//! (`/.well-known/openid-configuration`) and the public keys (`/jwks`). Tokens are RS256
//! JWTs with `iss`, `aud`, `sub`, `azp`, `client_id`, `roles`, `iat`, `nbf`, `exp`,
//! `jti`. It has no users, no consent and no refresh tokens; it serves plain HTTP or TLS
//! (a certificate given or generated, see `tls::server`). It exists so the gateway
//! stand-in and the load generator can be tested without Azure AD.

pub mod args;
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

use crate::plan::Secret;
use crate::tls::server::Handshake;
use keys::SigningKey;

/// Largest accepted token request body.
const MAX_FORM: usize = 16 * 1024;

/// A registered client application.
#[derive(Debug, Clone)]
pub struct IdpClient {
    pub id: String,
    pub secret: Secret,
    /// The `roles` claim of its tokens (e.g. `storage.read`).
    pub roles: Vec<String>,
    /// The `aud` claim of its tokens.
    pub audience: String,
}

/// How to run the idp.
#[derive(Debug, Clone)]
pub struct IdpConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The `iss` claim; default `http(s)://ADDR` (the bound address).
    pub issuer: Option<String>,
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
    let issuer = config.issuer.clone().unwrap_or_else(|| base.clone());
    let idp = Arc::new(Idp {
        issuer: issuer.clone(),
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
        while let Ok((stream, _)) = listener.accept().await {
            let (idp, handshake, http) = (idp.clone(), handshake.clone(), http.clone());
            tokio::spawn(async move {
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
                        ["client_secret_basic", "client_secret_post"],
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
        let (id, secret) = match basic {
            Some(pair) => pair,
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned().unwrap_or_default(),
            ),
        };
        let client = match self.clients.get(&id) {
            Some(c) if constant_time_eq(c.secret.expose().as_bytes(), secret.as_bytes()) => c,
            _ => {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "unknown client or wrong secret",
                );
            }
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let lifetime = self.lifetime.as_secs();
        let claims = json!({
            "iss": self.issuer,
            "aud": client.audience,
            "sub": client.id,
            "azp": client.id,
            "client_id": client.id,
            "roles": client.roles,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": format!("{:032x}", rand::random::<u128>()),
        });
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
