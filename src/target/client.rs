//! The measured request path: S3 requests over hyper, signed per request.
//!
//! One client per target; its connection pool is sized to the load's concurrency. It
//! sends, reads the whole answer, counts bytes and classifies the outcome. It does not
//! time requests against their due time; the engine does that.

use std::time::{Duration, Instant};

use bytes::Buf;
use http::header::{CONTENT_LENGTH, HOST};
use http::{HeaderValue, Method, Request};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::body::GeneratedBody;
use super::signer::Signer;
use crate::plan::S3Endpoint;
use crate::record::{CacheClass, OutcomeClass, TransportError};

/// How much of an error body is kept to classify it (e.g. `SlowDown`, quota).
const ERROR_BODY_PREFIX: usize = 512;

/// One S3 request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Call {
    pub method: Method,
    /// Path-style path and query, already percent-encoded: `/bucket/key?…`.
    pub path_and_query: String,
    /// Bytes of generated body (PUT), 0 for none.
    pub body_len: u64,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Response {
    pub class: OutcomeClass,
    pub cache: CacheClass,
    pub status: Option<u16>,
    pub transport: Option<TransportError>,
    /// When the response headers arrived.
    pub headers_at: Option<Instant>,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

impl Response {
    fn transport(kind: TransportError) -> Self {
        Response {
            class: OutcomeClass::Transport,
            cache: CacheClass::None,
            status: None,
            transport: Some(kind),
            headers_at: None,
            bytes_up: 0,
            bytes_down: 0,
        }
    }
}

/// A keep-alive HTTP/1.1 client for one S3 endpoint.
pub struct S3Client {
    http: Client<HttpConnector, GeneratedBody>,
    base: String,
    host: HeaderValue,
    signer: Signer,
    timeout: Duration,
}

impl S3Client {
    /// A client for `endpoint` keeping up to `pool` idle connections.
    pub fn new(endpoint: &S3Endpoint, pool: usize, timeout: Duration) -> anyhow::Result<Self> {
        let uri: http::Uri = endpoint.endpoint.parse()?;
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow::anyhow!("endpoint {} has no host", endpoint.endpoint))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout.min(Duration::from_secs(10))));
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(S3Client {
            http,
            base: format!("http://{authority}"),
            host: HeaderValue::from_str(authority.as_str())?,
            signer: Signer::new(endpoint),
            timeout,
        })
    }

    /// Sends `call` and reads the whole answer, within the request timeout.
    pub async fn send(&self, call: &S3Call) -> Response {
        let req = match self.request(call) {
            Ok(r) => r,
            // Only a malformed path can fail here, and paths are built by gatebench.
            Err(_) => return Response::transport(TransportError::Reset),
        };
        match tokio::time::timeout(self.timeout, self.exchange(req, call.body_len)).await {
            Ok(r) => r,
            Err(_) => Response::transport(TransportError::Timeout),
        }
    }

    fn request(&self, call: &S3Call) -> Result<Request<GeneratedBody>, String> {
        let mut builder = Request::builder()
            .method(call.method.clone())
            .uri(format!("{}{}", self.base, call.path_and_query))
            .header(HOST, self.host.clone());
        if call.body_len > 0 || call.method == Method::PUT {
            builder = builder.header(CONTENT_LENGTH, call.body_len);
        }
        let mut req = builder
            .body(GeneratedBody::new(call.body_len))
            .map_err(|e| e.to_string())?;
        self.signer.sign(&mut req)?;
        Ok(req)
    }

    async fn exchange(&self, req: Request<GeneratedBody>, body_len: u64) -> Response {
        let resp = match self.http.request(req).await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Response::transport(TransportError::Connect),
            Err(_) => return Response::transport(TransportError::Reset),
        };
        let headers_at = Instant::now();
        let status = resp.status().as_u16();
        let keep_prefix = !(200..400).contains(&status);
        let mut prefix = Vec::new();
        let mut bytes_down = 0u64;
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                let mut r = Response::transport(TransportError::Reset);
                r.headers_at = Some(headers_at);
                r.status = Some(status);
                r.bytes_down = bytes_down;
                return r;
            };
            if let Some(data) = frame.data_ref() {
                bytes_down += data.remaining() as u64;
                if keep_prefix && prefix.len() < ERROR_BODY_PREFIX {
                    let take = (ERROR_BODY_PREFIX - prefix.len()).min(data.len());
                    prefix.extend_from_slice(&data[..take]);
                }
            }
        }
        Response {
            class: OutcomeClass::of_status(status, &prefix),
            cache: CacheClass::None,
            status: Some(status),
            transport: None,
            headers_at: Some(headers_at),
            bytes_up: body_len,
            bytes_down,
        }
    }
}
