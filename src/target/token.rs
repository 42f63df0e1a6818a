//! OAuth2 client-credentials tokens for gateway targets (the `oauth2` crate), fetched
//! before the load starts and refreshed in the background before they expire.
//!
//! Requests read the current token and never wait for a fetch, so token fetches never
//! show in request latency; they are timed and counted here, and reported per target. A
//! 401 on a request asks for one early refresh of the token it used.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::plan::{ClientCredential, OAuth2Config, TlsSpec};
use crate::record::{micros, new_histogram};

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

fn exchange_blocking(
    c: &OAuth2Config,
    http: &Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<(HeaderValue, Duration)> {
    let secret = match &c.credential {
        ClientCredential::Secret(s) => s.expose().to_string(),
        // Read at every fetch, so a rotated secret is picked up at the next refresh.
        ClientCredential::SecretFile(path) => {
            let secret = std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the client secret from {}", path.display())
            })?;
            let secret = secret.trim().to_string();
            crate::redact::register(&secret);
            secret
        }
        ClientCredential::Certificate { .. } => {
            anyhow::bail!("client_certificate credentials are not supported yet")
        }
    };
    let client = BasicClient::new(ClientId::new(c.client_id.clone()))
        .set_client_secret(ClientSecret::new(secret))
        .set_token_uri(TokenUrl::new(c.token_url.clone())?)
        .set_auth_type(AuthType::RequestBody);
    let mut request = client.exchange_client_credentials();
    if let Some(scope) = &c.scope {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let send = |req: oauth2::HttpRequest| runtime.block_on(send(http, req));
    let token = request.request(&send).map_err(|e| match e {
        oauth2::RequestTokenError::ServerResponse(r) => {
            anyhow::anyhow!("token endpoint refused: {r}")
        }
        other => anyhow::anyhow!("{other}"),
    })?;
    let lifetime = token.expires_in().unwrap_or(Duration::from_secs(3600));
    crate::redact::register(token.access_token().secret());
    let value = HeaderValue::from_str(&format!("Bearer {}", token.access_token().secret()))?;
    Ok((value, lifetime))
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
