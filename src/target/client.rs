//! The measured request path: S3-shaped requests over hyper, one client for both paths.
//!
//! A direct target signs each request with SigV4; a gateway target sends the same
//! request under the gateway's API prefix with a bearer token and a subscription key.
//! So a comparison compares paths, not clients. The client sends, reads the whole
//! answer, counts bytes and classifies the outcome (and cache class, and Retry-After).
//! It does not time requests against their due time; the engine does that.
//!
//! Each engine worker owns one keep-alive connection ([`Connection`]), opened on first
//! use and again after it breaks or times out: as many connections as workers, like wrk,
//! and no shared pool to check out from (or to retry requests in behind our back).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Buf;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, HOST, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::BodyExt;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::body::GeneratedBody;
use super::signer::Signer;
use super::token::TokenSource;
use crate::plan::{CacheRule, GatewayTarget, S3Endpoint};
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
    /// Seconds from a `Retry-After` header (throttled and quota answers).
    pub retry_after: Option<u32>,
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
            retry_after: None,
            headers_at: None,
            bytes_up: 0,
            bytes_down: 0,
        }
    }
}

/// How requests authenticate.
enum Auth {
    /// SigV4 for a direct S3 endpoint.
    SigV4(Signer),
    /// Bearer token and/or subscription key for a gateway.
    Gateway {
        token: Option<Arc<TokenSource>>,
        subscription: Option<(HeaderName, HeaderValue)>,
    },
}

/// One worker's HTTP/1.1 connection to the target: none until the first request, and
/// none again after a failure, a timeout or the server closing it.
#[derive(Default)]
pub struct Connection(Option<SendRequest<GeneratedBody>>);

/// How requests to one target are made.
pub struct S3Client {
    /// `host:port` to connect to.
    authority: http::uri::Authority,
    /// The gateway's API prefix before every path (empty for S3).
    path_prefix: String,
    host: HeaderValue,
    auth: Auth,
    cache_rule: Option<(HeaderName, CacheRule)>,
    timeout: Duration,
    connect_timeout: Duration,
}

impl S3Client {
    /// A SigV4 client for a direct S3 endpoint.
    pub fn direct(
        endpoint: &S3Endpoint,
        cache_rule: Option<&CacheRule>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Self::build(
            &endpoint.endpoint,
            Auth::SigV4(Signer::new(endpoint)),
            cache_rule,
            timeout,
        )
    }

    /// A client for a gateway: same requests under `base_url`, bearer token from `token`.
    pub fn gateway(
        gateway: &GatewayTarget,
        token: Option<Arc<TokenSource>>,
        cache_rule: Option<&CacheRule>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let subscription = match &gateway.subscription_key {
            Some(key) => Some((
                HeaderName::from_bytes(gateway.subscription_header.as_bytes())?,
                HeaderValue::from_str(key.expose())?,
            )),
            None => None,
        };
        Self::build(
            &gateway.base_url,
            Auth::Gateway {
                token,
                subscription,
            },
            cache_rule,
            timeout,
        )
    }

    fn build(
        url: &str,
        auth: Auth,
        cache_rule: Option<&CacheRule>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let uri: http::Uri = url.parse()?;
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow::anyhow!("{url} has no host"))?;
        let cache_rule = match cache_rule {
            Some(r) => Some((HeaderName::from_bytes(r.header.as_bytes())?, r.clone())),
            None => None,
        };
        Ok(S3Client {
            host: HeaderValue::from_str(authority.as_str())?,
            authority: authority.clone(),
            path_prefix: uri.path().trim_end_matches('/').to_string(),
            auth,
            cache_rule,
            timeout,
            connect_timeout: timeout.min(Duration::from_secs(10)),
        })
    }

    /// Sends `call` on `conn` (opening it if needed) and reads the whole answer, within
    /// the request timeout. A connection that failed or timed out is dropped.
    pub async fn send(&self, conn: &mut Connection, call: &S3Call) -> Response {
        let Ok(req) = self.request(call) else {
            // Only a malformed path can fail here, and paths are built by gatebench.
            return Response::transport(TransportError::Reset);
        };
        // The token sent, kept only where a 401 can refresh it (not on the SigV4 path).
        let bearer = match &self.auth {
            Auth::Gateway { token: Some(_), .. } => req.headers().get(AUTHORIZATION).cloned(),
            _ => None,
        };
        let exchange = self.exchange(conn, req, call.body_len);
        let resp = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Response::transport(TransportError::Timeout),
        };
        if resp.transport.is_some() {
            conn.0 = None;
        }
        if let (Some(401), Auth::Gateway { token: Some(t), .. }, Some(used)) =
            (resp.status, &self.auth, bearer)
        {
            t.unauthorized(&used);
        }
        resp
    }

    fn request(&self, call: &S3Call) -> Result<Request<GeneratedBody>, String> {
        let mut path_and_query =
            String::with_capacity(self.path_prefix.len() + call.path_and_query.len());
        path_and_query.push_str(&self.path_prefix);
        path_and_query.push_str(&call.path_and_query);
        // Origin form (`/bucket/key?…`) on the request line, as HTTP/1.1 requires of a
        // client talking to the origin; the host is in `host`. hyper's connection sends
        // the URI as given.
        let uri = http::Uri::from_maybe_shared(bytes::Bytes::from(path_and_query))
            .map_err(|e| e.to_string())?;
        let mut builder = Request::builder()
            .method(call.method.clone())
            .uri(uri)
            .header(HOST, self.host.clone());
        if call.body_len > 0 || call.method == Method::PUT {
            builder = builder.header(CONTENT_LENGTH, call.body_len);
        }
        let mut req = builder
            .body(GeneratedBody::new(call.body_len))
            .map_err(|e| e.to_string())?;
        match &self.auth {
            Auth::SigV4(signer) => signer.sign(&mut req)?,
            Auth::Gateway {
                token,
                subscription,
            } => {
                if let Some(t) = token {
                    req.headers_mut().insert(AUTHORIZATION, t.header());
                }
                if let Some((name, value)) = subscription {
                    req.headers_mut().insert(name.clone(), value.clone());
                }
            }
        }
        Ok(req)
    }

    /// `conn`'s sender, ready for a request: the open one, or a new connection if there
    /// is none or the server closed it.
    async fn ready<'c>(
        &self,
        conn: &'c mut Connection,
    ) -> Result<&'c mut SendRequest<GeneratedBody>, TransportError> {
        let open = match &mut conn.0 {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        if !open {
            conn.0 = None;
            let connect = TcpStream::connect(self.authority.as_str());
            let stream = match tokio::time::timeout(self.connect_timeout, connect).await {
                Ok(Ok(s)) => s,
                _ => return Err(TransportError::Connect),
            };
            let _ = stream.set_nodelay(true);
            let (sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|_| TransportError::Connect)?;
            // Ends when the server closes the connection or its sender is dropped.
            tokio::spawn(connection);
            conn.0 = Some(sender);
        }
        conn.0.as_mut().ok_or(TransportError::Connect)
    }

    async fn exchange(
        &self,
        conn: &mut Connection,
        req: Request<GeneratedBody>,
        body_len: u64,
    ) -> Response {
        let sender = match self.ready(conn).await {
            Ok(s) => s,
            Err(kind) => return Response::transport(kind),
        };
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(_) => return Response::transport(TransportError::Reset),
        };
        let headers_at = Instant::now();
        let status = resp.status().as_u16();
        let cache = self.cache_class(resp.headers());
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let keep_prefix = !(200..400).contains(&status);
        let mut prefix = Vec::new();
        let mut bytes_down = 0u64;
        let mut body = resp.into_body();
        let mut broken = false;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                broken = true;
                break;
            };
            if let Some(data) = frame.data_ref() {
                bytes_down += data.remaining() as u64;
                if keep_prefix && prefix.len() < ERROR_BODY_PREFIX {
                    let take = (ERROR_BODY_PREFIX - prefix.len()).min(data.len());
                    prefix.extend_from_slice(&data[..take]);
                }
            }
        }
        let (class, transport) = if broken {
            (OutcomeClass::Transport, Some(TransportError::Reset))
        } else {
            (OutcomeClass::of_status(status, &prefix), None)
        };
        Response {
            class,
            cache,
            status: Some(status),
            transport,
            retry_after,
            headers_at: Some(headers_at),
            bytes_up: body_len,
            bytes_down,
        }
    }

    fn cache_class(&self, headers: &HeaderMap) -> CacheClass {
        let Some((name, rule)) = &self.cache_rule else {
            return CacheClass::None;
        };
        match headers.get(name).and_then(|v| v.to_str().ok()) {
            Some(v) if v.trim().eq_ignore_ascii_case(&rule.hit) => CacheClass::Hit,
            Some(v) if v.trim().eq_ignore_ascii_case(&rule.miss) => CacheClass::Miss,
            _ => CacheClass::Uncacheable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Secret;

    fn get(path_and_query: &str) -> S3Call {
        S3Call {
            method: Method::GET,
            path_and_query: path_and_query.into(),
            body_len: 0,
        }
    }

    /// hyper's connection writes the URI as given, so it must be origin form, under the
    /// gateway's API prefix, with the authority in `host`.
    #[test]
    fn requests_carry_origin_form_targets_and_a_host_header() {
        let direct = S3Client::direct(
            &S3Endpoint {
                endpoint: "http://127.0.0.1:7480".into(),
                region: "us-east-1".into(),
                access_key: "a".into(),
                secret_key: Secret::new("b"),
                tls: Default::default(),
            },
            None,
            Duration::from_secs(1),
        )
        .unwrap();
        let req = direct
            .request(&get("/bench?list-type=2&prefix=p%2F"))
            .unwrap();
        assert_eq!(req.uri().to_string(), "/bench?list-type=2&prefix=p%2F");
        assert_eq!(req.headers()[HOST], "127.0.0.1:7480");

        let gateway = S3Client::gateway(
            &GatewayTarget {
                base_url: "http://127.0.0.1:8080/storage/".into(),
                subscription_key: None,
                subscription_header: "Ocp-Apim-Subscription-Key".into(),
                oauth2: None,
                setup_via: "direct".into(),
                tls: Default::default(),
            },
            None,
            None,
            Duration::from_secs(1),
        )
        .unwrap();
        let req = gateway.request(&get("/bench/k")).unwrap();
        assert_eq!(req.uri().to_string(), "/storage/bench/k");
        assert_eq!(req.headers()[HOST], "127.0.0.1:8080");
    }
}
