//! The gateway's side of the backend: re-signing requests with the gateway's own
//! credentials (SigV4, `UNSIGNED-PAYLOAD` unless the client gave the body's SHA-256)
//! and streaming bodies both ways.
//!
//! Owns header hygiene (the client's credentials and hop-by-hop headers never reach
//! the backend) and how backend connections are made (http, or https trusting the
//! endpoint's `tls` settings: `--backend-ca` or the platform's roots); the pool and the
//! exchange are `connections`. Bodies are passed through frame by frame, unless `retry`
//! or `buffer-request-body` needs the whole body first (`gateway::forward`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;

use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;

use super::connections::{Connections, ResponseBody};
use crate::shared::sigv4::ProxySigner;
use crate::shared::{S3Endpoint, TlsSpec};

/// Request headers never forwarded: hop-by-hop, the client's credentials, and the
/// SigV4 headers the gateway sets itself.
const DROPPED_REQUEST_HEADERS: [&str; 14] = [
    "host",
    "authorization",
    "ocp-apim-subscription-key",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "x-amz-date",
    "x-amz-content-sha256",
];

/// Response headers never passed back (hop-by-hop).
const DROPPED_RESPONSE_HEADERS: [HeaderName; 4] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
];

/// Where backend requests go: `http(s)://host:port` plus an optional path prefix.
#[derive(Debug, Clone)]
pub struct BaseUrl {
    /// `http(s)://host:port`: which connections of the pool it uses.
    origin: Arc<str>,
    path_prefix: String,
    host: HeaderValue,
}

impl BaseUrl {
    /// Parses `http(s)://host:port[/prefix]`.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let uri: http::Uri = url.parse()?;
        let scheme = uri.scheme_str().unwrap_or_default();
        anyhow::ensure!(
            scheme == "http" || scheme == "https",
            "backend URL {url} must be http:// or https://"
        );
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow::anyhow!("backend URL {url} has no host"))?;
        Ok(BaseUrl {
            origin: format!("{scheme}://{authority}").into(),
            path_prefix: uri.path().trim_end_matches('/').to_string(),
            host: HeaderValue::from_str(authority.as_str())?,
        })
    }
}

/// Why the backend gave no response.
#[derive(Debug)]
pub enum BackendError {
    Timeout,
    Unreachable,
    /// The client's body broke off or was malformed (e.g. a bad chunk size).
    ClientBody,
}

/// The client's body on its way to the backend (streamed, or buffered for `retry`).
pub type ForwardedBody = BoxBody<Bytes, hyper::Error>;

/// A pooled, signing client for the backend.
pub struct Backend {
    connections: Arc<Connections>,
    signer: ProxySigner,
    /// `--backend-endpoint`, unless a policy sets another base URL.
    pub default_base: BaseUrl,
}

impl Backend {
    /// A client for `endpoint`, signing with its keys.
    pub fn new(endpoint: &S3Endpoint) -> anyhow::Result<Self> {
        let connector = https_connector(&endpoint.tls).context("backend TLS")?;
        Ok(Backend {
            connections: Connections::new(connector),
            signer: ProxySigner::new(endpoint),
            default_base: BaseUrl::parse(&endpoint.endpoint)?,
        })
    }

    /// Sends `method path_and_query` with the client's remaining headers and body to
    /// `base`, re-signed; waits up to `timeout` for the response headers.
    pub async fn send(
        &self,
        base: &BaseUrl,
        method: Method,
        path_and_query: &str,
        client_headers: &HeaderMap,
        body: ForwardedBody,
        timeout: Duration,
    ) -> Result<Response<ResponseBody>, BackendError> {
        let client_body_failed = Arc::new(AtomicBool::new(false));
        let failed = client_body_failed.clone();
        let body = body
            .map_err(move |e| {
                failed.store(true, Ordering::Relaxed);
                e
            })
            .boxed();
        let mut req = Request::new(body);
        *req.method_mut() = method;
        // Origin-form, as HTTP/1.1 sends it to an origin server.
        *req.uri_mut() = format!("{}{}", base.path_prefix, path_and_query)
            .parse()
            .map_err(|_| BackendError::Unreachable)?;
        let headers = req.headers_mut();
        for (name, value) in client_headers {
            if !DROPPED_REQUEST_HEADERS.contains(&name.as_str()) {
                headers.append(name, value.clone());
            }
        }
        headers.insert(header::HOST, base.host.clone());
        self.signer
            .sign(&mut req, client_payload_hash(client_headers))
            .map_err(|_| BackendError::Unreachable)?;
        match tokio::time::timeout(timeout, self.connections.send(&base.origin, req)).await {
            Err(_) => Err(BackendError::Timeout),
            Ok(Err(_)) if client_body_failed.load(Ordering::Relaxed) => {
                Err(BackendError::ClientBody)
            }
            Ok(Err(_)) => Err(BackendError::Unreachable),
            Ok(Ok(mut resp)) => {
                for h in &DROPPED_RESPONSE_HEADERS {
                    resp.headers_mut().remove(h);
                }
                Ok(resp)
            }
        }
    }
}

/// The body's SHA-256 a client sent in `x-amz-content-sha256` (a PUT with `checksum =
/// "sha256"`): signed as the payload hash, so the backend checks the body against it.
/// Anything else there (`UNSIGNED-PAYLOAD`, streaming markers) is not passed on.
fn client_payload_hash(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("x-amz-content-sha256")?.to_str().ok()?;
    (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())).then_some(value)
}

/// A connector for http and https URLs (HTTP/1.1), trusting what `tls` says.
pub fn https_connector(tls: &TlsSpec) -> anyhow::Result<HttpsConnector<HttpConnector>> {
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(Duration::from_secs(10)));
    tcp.enforce_http(false);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(crate::tls::client::config(tls)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp))
}
