//! OAuth2 client-credentials tokens for gateway targets (the `oauth2` crate), fetched
//! before the load starts and refreshed in the background before they expire.
//!
//! Requests read the current token and never wait for a fetch, so token fetches never
//! show in request latency; they are timed and counted here, and reported per target. A
//! 401 on a request asks for one early refresh of the token it used.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenResponse,
};
use oauth2::{
    AuthType, ClientId, ClientSecret, Scope, StandardRevocableToken, TokenResponse, TokenUrl,
};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::plan::{ClientCredential, OAuth2Config};
use crate::record::{micros, new_histogram};
use crate::shared::TlsSpec;
use crate::shared::assertion::{JWT_BEARER, thumbprint};

/// Refresh when this share of a token's lifetime has passed.
const REFRESH_AT: f64 = 0.75;
/// Wait between failed refresh attempts.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// How often the refresher looks whether a refresh is due.
const CHECK_EVERY: Duration = Duration::from_millis(200);
/// A token fetch that takes longer than this fails.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Counters of a token source, for the summary.
#[derive(Debug, Clone)]
pub struct TokenStats {
    /// Successful fetches, the first included.
    pub fetches: u64,
    /// Failed fetch attempts.
    pub failures: u64,
    /// Refreshes asked for by a 401 on a request.
    pub refreshes_after_401: u64,
    /// Time each successful fetch took, µs.
    pub fetch_latency: Histogram<u64>,
    /// The last failure, if any (never contains the secret).
    pub last_error: Option<String>,
}

/// The current bearer token of one gateway target, kept fresh.
pub struct TokenSource {
    config: OAuth2Config,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    current: RwLock<(HeaderValue, Instant)>,
    stats: Mutex<TokenStats>,
    refresh_now: AtomicBool,
}

impl TokenSource {
    /// Fetches a first token (an error if that fails) and starts the refresher, which
    /// stops when the returned source is dropped by everyone else. An `https://` token
    /// endpoint is checked against `tls`'s CA (or the platform's roots); the target's
    /// client certificate and server name are not used for it.
    pub async fn start(config: OAuth2Config, tls: &TlsSpec) -> anyhow::Result<Arc<Self>> {
        let roots = TlsSpec {
            ca_file: tls.ca_file.clone(),
            insecure_skip_verify: tls.insecure_skip_verify,
            ..TlsSpec::default()
        };
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(crate::tls::client::config(&roots)?)
            .https_or_http()
            .enable_http1()
            .build();
        let http = Client::builder(TokioExecutor::new()).build(https);
        let stats = TokenStats {
            fetches: 0,
            failures: 0,
            refreshes_after_401: 0,
            fetch_latency: new_histogram(),
            last_error: None,
        };
        let mut source = TokenSource {
            config,
            http,
            current: RwLock::new((HeaderValue::from_static("Bearer -"), Instant::now())),
            stats: Mutex::new(stats),
            refresh_now: AtomicBool::new(false),
        };
        let (value, lifetime) = source
            .fetch()
            .await
            .with_context(|| format!("cannot get a token from {}", source.config.token_url))?;
        source.current = RwLock::new((value, Instant::now() + lifetime.mul_f64(REFRESH_AT)));
        let source = Arc::new(source);
        tokio::spawn(refresher(Arc::downgrade(&source)));
        Ok(source)
    }

    /// The `Authorization` header value to send now.
    pub fn header(&self) -> HeaderValue {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// A request sent with `used` got 401: refresh once, unless that already happened.
    pub fn unauthorized(&self, used: &HeaderValue) {
        if self.header() == *used {
            self.lock_stats().refreshes_after_401 += 1;
            self.refresh_now.store(true, Ordering::Relaxed);
        }
    }

    /// A copy of the counters.
    pub fn stats(&self) -> TokenStats {
        self.lock_stats().clone()
    }

    fn lock_stats(&self) -> std::sync::MutexGuard<'_, TokenStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One client-credentials exchange: the header value and the token's lifetime.
    async fn fetch(&self) -> anyhow::Result<(HeaderValue, Duration)> {
        let started = Instant::now();
        let result = tokio::time::timeout(FETCH_TIMEOUT, self.exchange()).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("no answer within {FETCH_TIMEOUT:?}")),
        };
        let mut stats = self.lock_stats();
        match &result {
            Ok(_) => {
                stats.fetches += 1;
                let _ = stats.fetch_latency.record(micros(started.elapsed()));
            }
            Err(e) => {
                stats.failures += 1;
                stats.last_error = Some(crate::redact::redact(&format!("{e:#}")));
            }
        }
        result
    }

    /// Runs the `oauth2` exchange on a blocking thread: its async API's future is not
    /// `Send`, so the crate's synchronous API drives our async HTTP client instead.
    async fn exchange(&self) -> anyhow::Result<(HeaderValue, Duration)> {
        let config = self.config.clone();
        let http = self.http.clone();
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || exchange_blocking(&config, &http, &runtime)).await?
    }
}

/// The `oauth2` client with Entra ID's error answer, so its trace and correlation ids
/// reach the user.
type TokenClient = oauth2::Client<
    TokenEndpointError,
    BasicTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

/// How long a client assertion is valid: Entra ID asks for 5 to 10 minutes.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

fn exchange_blocking(
    c: &OAuth2Config,
    http: &Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<(HeaderValue, Duration)> {
    let client = TokenClient::new(ClientId::new(c.client_id.clone()))
        .set_token_uri(TokenUrl::new(c.token_url.clone())?)
        .set_auth_type(AuthType::RequestBody);
    let (client, assertion) = match &c.credential {
        ClientCredential::Secret(s) => (
            client.set_client_secret(ClientSecret::new(s.expose().to_string())),
            None,
        ),
        // Read at every fetch, so a rotated secret is picked up at the next refresh.
        ClientCredential::SecretFile(path) => {
            let secret = std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the client secret from {}", path.display())
            })?;
            let secret = secret.trim().to_string();
            crate::redact::register(&secret);
            (client.set_client_secret(ClientSecret::new(secret)), None)
        }
        // Also read at every fetch: a renewed certificate is used at the next refresh.
        ClientCredential::Certificate {
            cert_file,
            key_file,
        } => {
            let assertion = client_assertion(c, cert_file, key_file)?;
            crate::redact::register(&assertion);
            (client, Some(assertion))
        }
    };
    let mut request = client.exchange_client_credentials();
    if let Some(scope) = &c.scope {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    if let Some(assertion) = assertion {
        request = request
            .add_extra_param("client_assertion_type", JWT_BEARER)
            .add_extra_param("client_assertion", assertion);
    }
    let send = |req: oauth2::HttpRequest| runtime.block_on(send(http, req));
    let token = request.request(&send).map_err(|e| match e {
        oauth2::RequestTokenError::ServerResponse(r) => {
            anyhow::anyhow!("token endpoint refused: {r}")
        }
        oauth2::RequestTokenError::Parse(e, body) => anyhow::anyhow!(
            "token endpoint answered something that is not a token: {e}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ),
        other => anyhow::anyhow!("{other}"),
    })?;
    let lifetime = token.expires_in().unwrap_or(Duration::from_secs(3600));
    crate::redact::register(token.access_token().secret());
    let value = HeaderValue::from_str(&format!("Bearer {}", token.access_token().secret()))?;
    Ok((value, lifetime))
}

/// Entra ID's certificate credential: a PS256 JWT signed with `key_file`, naming the
/// certificate by its SHA-256 (`x5t#S256`) and SHA-1 (`x5t`, older tenants) thumbprints,
/// addressed to the token URL, issued by and about the client, valid for 10 minutes.
/// See learn.microsoft.com/entra/identity-platform/certificate-credentials.
fn client_assertion(c: &OAuth2Config, cert_file: &Path, key_file: &Path) -> anyhow::Result<String> {
    let certificate = crate::tls::load_certs(cert_file)?.swap_remove(0);
    let key_pem = std::fs::read(key_file)
        .with_context(|| format!("cannot read the client key {}", key_file.display()))?;
    let key = EncodingKey::from_rsa_pem(&key_pem).with_context(|| {
        format!(
            "{} is not an RSA private key in PEM (Entra ID signs with RSA)",
            key_file.display()
        )
    })?;
    let mut header = Header::new(Algorithm::PS256);
    header.x5t_s256 = Some(thumbprint(&SHA256, &certificate));
    header.x5t = Some(thumbprint(&SHA1_FOR_LEGACY_USE_ONLY, &certificate));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = serde_json::json!({
        "aud": c.token_url,
        "iss": c.client_id,
        "sub": c.client_id,
        "jti": format!("{:032x}", rand::random::<u128>()),
        "nbf": now,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME.as_secs(),
    });
    jsonwebtoken::encode(&header, &claims, &key).with_context(|| {
        format!(
            "cannot sign the client assertion with {}",
            key_file.display()
        )
    })
}

/// A token endpoint's error answer: RFC 6749's fields and Entra ID's ids for support.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenEndpointError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

impl oauth2::ErrorResponse for TokenEndpointError {}

impl std::fmt::Display for TokenEndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(d) = &self.error_description {
            // Entra ID's descriptions end with "\r\nTrace ID: …": keep them on one line.
            write!(
                f,
                ": {}",
                d.split_whitespace().collect::<Vec<_>>().join(" ")
            )?;
        }
        if let Some(t) = &self.trace_id {
            write!(f, " (trace_id {t}")?;
            if let Some(c) = &self.correlation_id {
                write!(f, ", correlation_id {c}")?;
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}

/// The HTTP client handed to `oauth2`: plain hyper, no redirects followed.
async fn send(
    http: &Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    req: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, TokenHttpError> {
    let (parts, body) = req.into_parts();
    let req = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
    let resp = http
        .request(req)
        .await
        .map_err(|e| TokenHttpError(e.to_string()))?;
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| TokenHttpError(e.to_string()))?
        .to_bytes();
    Ok(http::Response::from_parts(parts, body.to_vec()))
}

/// A transport failure talking to the token endpoint.
#[derive(Debug, thiserror::Error)]
#[error("token endpoint: {0}")]
pub struct TokenHttpError(String);

/// Refreshes the token at `REFRESH_AT` of its lifetime, or at once after a 401; ends
/// when the source is gone.
async fn refresher(source: std::sync::Weak<TokenSource>) {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        let Some(s) = source.upgrade() else { return };
        let due = s.current.read().unwrap_or_else(|e| e.into_inner()).1;
        if Instant::now() < due && !s.refresh_now.swap(false, Ordering::Relaxed) {
            continue;
        }
        match s.fetch().await {
            Ok((value, lifetime)) => {
                *s.current.write().unwrap_or_else(|e| e.into_inner()) =
                    (value, Instant::now() + lifetime.mul_f64(REFRESH_AT));
            }
            Err(_) => {
                drop(s);
                tokio::time::sleep(RETRY_AFTER_FAILURE).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp::{IdpClient, IdpConfig, IdpCredential};

    /// An RSA key and a self-signed certificate for it, as PEM files in `dir`.
    fn certificate(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_file, key_file) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert_file, key_file)
    }

    /// The certificate credential end to end: the idp accepts the assertion signed by the
    /// registered certificate's key and refuses another certificate's, saying why.
    #[tokio::test]
    async fn certificate_credential_gets_a_token_and_a_wrong_one_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_file, key_file) = certificate(dir.path(), "bench");
        let (other_cert, other_key) = certificate(dir.path(), "other");
        let registered = crate::tls::load_certs(&cert_file).unwrap()[0].to_vec();
        let idp = crate::idp::start(IdpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            issuer: None,
            public_url: None,
            clients: vec![IdpClient {
                id: "bench".into(),
                credential: IdpCredential::Certificate(registered),
                roles: vec!["storage.read".into()],
                audience: "api://aud".into(),
            }],
            token_lifetime: Duration::from_secs(60),
            key_pem: None,
            tokens: Default::default(),
            tls: None,
        })
        .await
        .unwrap();
        let config = |cert_file: &Path, key_file: &Path| OAuth2Config {
            token_url: idp.token_url(),
            client_id: "bench".into(),
            credential: ClientCredential::Certificate {
                cert_file: cert_file.into(),
                key_file: key_file.into(),
            },
            scope: Some("api://aud/.default".into()),
        };
        let source = TokenSource::start(config(&cert_file, &key_file), &TlsSpec::default())
            .await
            .unwrap();
        let token = source.header().to_str().unwrap().replace("Bearer ", "");
        let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&token)
            .unwrap()
            .claims;
        assert_eq!(
            (claims["azp"].as_str(), claims["aud"].as_str()),
            (Some("bench"), Some(crate::idp::DEFAULT_API_CLIENT_ID))
        );

        let err = TokenSource::start(config(&other_cert, &other_key), &TlsSpec::default())
            .await
            .err()
            .unwrap();
        let err = format!("{err:#}");
        assert!(
            err.contains("invalid_client") && err.contains("x5t"),
            "{err}"
        );
        // The certificate, signed with another key, keeps its thumbprint: still refused.
        let err = TokenSource::start(config(&cert_file, &other_key), &TlsSpec::default())
            .await
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("bad signature"), "{err:#}");
    }

    #[test]
    fn token_endpoint_errors_show_entra_ids_text_and_ids_on_one_line() {
        let answer = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t1\r\nCorrelation ID: c1","error_codes":[7000215],"trace_id":"t1","correlation_id":"c1"}"#;
        let e: TokenEndpointError = serde_json::from_str(answer).unwrap();
        assert_eq!(
            e.to_string(),
            "invalid_client: AADSTS7000215: Invalid client secret provided. Trace ID: t1 \
             Correlation ID: c1 (trace_id t1, correlation_id c1)"
        );
    }
}
