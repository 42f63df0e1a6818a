//! `gatebench gateway`: a local stand-in for Azure API Management in front of S3.
//!
//! Owns the server (HTTP/1.1; over TLS also HTTP/2, as ALPN chooses), its startup and shutdown: loading the policy (strictly:
//! anything unsupported is an error), keeping JWT signing keys fresh in the background,
//! connection timeouts, and serving requests through `pipeline`. Clients send path-style S3 requests under an API prefix with a bearer
//! token and a subscription key; the stand-in applies the policy and re-signs each
//! request to the S3 backend with its own credentials. It imitates APIM's documented
//! behaviour for the supported policies; it is not APIM. The one thing it measures is
//! its own time, sent back in a `Server-Timing` header (`server_timing`).

mod audit;
mod backend;
mod cache;
mod connections;
mod correlation;
mod cors;
mod forward;
mod jwt;
mod limits;
mod openid_keys;
mod pipeline;
pub mod policy;
mod reply;
mod route;
mod server_timing;
mod stats;
#[cfg(test)]
mod tests;
mod traffic;
mod values;
mod verified_tokens;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::shared::latency::AddedLatency;
use crate::shared::{S3Endpoint, TlsSpec};
use crate::tls::server::Handshake;
use pipeline::Gateway;
pub use pipeline::STATS_PATH;
use policy::{LoadOptions, Step};

/// How to run a gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The APIM policy XML file.
    pub policy: PathBuf,
    /// Overrides and named values applied while loading the policy.
    pub load: LoadOptions,
    /// The API's path prefix, e.g. `/storage` (`""` for none).
    pub api_prefix: String,
    /// The OpenAPI file defining the API's operations; `None`: `route::DEFAULT_OPENAPI`
    /// when it exists, else the built-in table (equal to it).
    pub openapi: Option<PathBuf>,
    /// The S3 backend and the gateway's own credentials for it.
    pub backend: S3Endpoint,
    /// (subscription name, key) pairs; empty: no subscription required.
    pub subscription_keys: Vec<(String, String)>,
    pub added_latency: Option<AddedLatency>,
    /// How long a client may take to send a request's headers; also how long a
    /// keep-alive connection may sit idle between requests.
    pub header_read_timeout: Duration,
    /// Serve HTTPS with this configuration; `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Whom to trust when fetching `openid-config` and JWKS documents over https.
    pub openid_tls: TlsSpec,
    /// Write one JSON line per answered request here (`--audit-log`).
    pub audit_log: Option<PathBuf>,
}

/// `GatewayConfig::header_read_timeout` unless set otherwise.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

impl GatewayConfig {
    /// A gateway on a free loopback port serving `policy` under `/storage` in front of
    /// `backend`, over plain HTTP: no subscription keys, added latency or audit log, the
    /// default header-read timeout and routes (other fields set with `..`).
    pub fn local(policy: PathBuf, backend: S3Endpoint) -> Self {
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            policy,
            load: LoadOptions::default(),
            api_prefix: "/storage".into(),
            openapi: None,
            backend,
            subscription_keys: Vec::new(),
            added_latency: None,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            tls: None,
            openid_tls: TlsSpec::default(),
            audit_log: None,
        }
    }
}

/// A gateway serving in the background; it stops accepting when dropped.
pub struct RunningGateway {
    /// The bound address.
    pub addr: SocketAddr,
    /// Policy marker blocks replaced natively: (`sigv4` | `x-cache`, line).
    pub native_blocks: Vec<(String, u32)>,
    /// `https` when serving TLS, else `http`.
    pub scheme: &'static str,
    api_prefix: String,
    accept_loop: JoinHandle<()>,
    /// Tells the accept loop to stop and how long to wait for requests in flight.
    stop: Option<oneshot::Sender<Duration>>,
    key_refresher: JoinHandle<()>,
    /// Written to the end when the gateway stops.
    gateway: Arc<Gateway>,
}

impl RunningGateway {
    /// `http(s)://ADDR/PREFIX`: the base URL clients put bucket/key paths under.
    pub fn base_url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.addr, self.api_prefix)
    }

    /// Stops accepting, closes idle connections and waits up to `grace` for the
    /// requests in flight to finish.
    pub async fn shutdown(&mut self, grace: Duration) {
        if let Some(stop) = self.stop.take()
            && stop.send(grace).is_ok()
        {
            let _ = (&mut self.accept_loop).await;
        }
        self.key_refresher.abort();
        self.close_audit_log();
    }

    fn close_audit_log(&self) {
        if let Some(audit) = &self.gateway.audit {
            audit.close();
        }
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.key_refresher.abort();
        self.close_audit_log();
    }
}

/// Loads the policy, binds and starts serving; signing keys are fetched in the
/// background (tokens are refused as `Invalid JWT.` until they are known).
pub async fn start(config: GatewayConfig) -> anyhow::Result<RunningGateway> {
    let policy = policy::load(&config.policy, &config.load)?;
    let operations = match &config.openapi {
        Some(file) => route::Operations::load(file)?,
        None if std::path::Path::new(route::DEFAULT_OPENAPI).exists() => {
            route::Operations::load(std::path::Path::new(route::DEFAULT_OPENAPI))?
        }
        None => route::Operations::built_in(),
    };
    // A first fetch now, so a gateway started after its idp validates from its first
    // request; if the idp is not up yet, the background task keeps trying.
    let openid = jwt::OpenIdClient::new(&config.openid_tls)?;
    let mut reported = jwt::ReportedFailures::new();
    let keys_fetched = jwt::fetch_all(&policy.openid_keys, &openid, &mut reported).await;
    let api_prefix = normalize_prefix(&config.api_prefix);
    let caching = has_cache_lookup(&policy.inbound);
    let native_blocks = policy.native_blocks.clone();
    let handshake = Handshake::new(config.tls);
    let scheme = handshake.scheme();
    let gateway = Arc::new(Gateway {
        subscriptions: config
            .subscription_keys
            .iter()
            .map(|(name, key)| (key.clone(), name.clone()))
            .collect::<HashMap<_, _>>(),
        api_prefix: api_prefix.clone(),
        operations,
        backend: backend::Backend::new(&config.backend)?,
        cache: cache::ResponseCache::default(),
        values: values::ValueCache::default(),
        stats: Arc::new(stats::Stats::default()),
        latency: config.added_latency.clone(),
        caching,
        policy,
        openid,
        scheme,
        audit: match &config.audit_log {
            Some(path) => Some(
                audit::AuditLog::create(path)
                    .with_context(|| format!("cannot create the audit log {}", path.display()))?,
            ),
            None => None,
        },
    });
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let key_refresher = tokio::spawn(jwt::keep_keys_fresh(
        gateway.clone(),
        reported,
        keys_fetched,
    ));
    let (stop, stopped) = oneshot::channel();
    let accept_loop = tokio::spawn(serve(
        listener,
        handshake,
        gateway.clone(),
        config.header_read_timeout,
        stopped,
    ));
    Ok(RunningGateway {
        addr,
        native_blocks,
        scheme,
        api_prefix,
        accept_loop,
        stop: Some(stop),
        key_refresher,
        gateway,
    })
}

/// Accepts connections until `stop` says how long to wait for the requests in flight.
async fn serve(
    listener: TcpListener,
    handshake: Handshake,
    gateway: Arc<Gateway>,
    header_read_timeout: Duration,
    mut stop: oneshot::Receiver<Duration>,
) {
    let connections = GracefulShutdown::new();
    let mut http = handshake.http();
    // hyper's header-read timer also runs while a keep-alive connection waits for
    // its next request, so it bounds idle connections too.
    http.http1().header_read_timeout(header_read_timeout);
    let http = Arc::new(http);
    let grace = loop {
        let (stream, peer) = tokio::select! {
            grace = &mut stop => break grace.unwrap_or_default(),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors or a connection reset before accept: go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let gateway = gateway.clone();
        let service = service_fn(move |req| {
            let gateway = gateway.clone();
            async move { Ok::<_, std::convert::Infallible>(gateway.answer(req, peer.ip()).await) }
        });
        let (handshake, http, watcher) = (handshake.clone(), http.clone(), connections.watcher());
        tokio::spawn(async move {
            if let Some(io) = handshake.accept(stream).await {
                let _ = watcher
                    .watch(http.serve_connection(TokioIo::new(io), service))
                    .await;
            }
        });
    };
    drop(listener);
    let _ = tokio::time::timeout(grace, connections.shutdown()).await;
}

/// `/storage/` and `storage` become `/storage`; `/` becomes empty.
fn normalize_prefix(p: &str) -> String {
    let trimmed = p.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

fn has_cache_lookup(steps: &[Step]) -> bool {
    steps.iter().any(|s| match s {
        Step::CacheLookup(_) => true,
        Step::Choose { whens, otherwise } => {
            whens.iter().any(|(_, s)| has_cache_lookup(s)) || has_cache_lookup(otherwise)
        }
        _ => false,
    })
}

/// Every `validate-jwt` of `steps`, also inside `choose`.
fn jwt_policies(steps: &[Step]) -> Vec<&jwt::JwtPolicy> {
    let mut out = Vec::new();
    for s in steps {
        match s {
            Step::ValidateJwt(p) => out.push(p.as_ref()),
            Step::Choose { whens, otherwise } => {
                for (_, branch) in whens {
                    out.extend(jwt_policies(branch));
                }
                out.extend(jwt_policies(otherwise));
            }
            _ => {}
        }
    }
    out
}
