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
//! `connection = "per-request"` opens a new one for every request instead; HTTP/2 with
//! `streams_per_connection = N` lets N workers share one. A request that opened a
//! connection reports how long connect and TLS took.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Buf;
use http::header::{AUTHORIZATION, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use http_body_util::BodyExt;
use hyper::client::conn::http2;
use tokio::time::Sleep;

use std::collections::HashMap;

use super::body::GeneratedBody;
use super::checksum::{BodyDigests, X_AMZ_CHECKSUM_CRC32C, X_AMZ_SDK_CHECKSUM_ALGORITHM};
use super::connect::{DialError, Endpoint, OpenTimes, Sender, dial};
use super::request_head::{RequestHead, decimal};
use super::request_ids::{CLIENT_REQUEST_ID, ClientIds, answered};
use super::server_timing::{SERVER_TIMING, server_timing};
use super::token::TokenSource;
use crate::plan::clients::identity_of_worker;
use crate::plan::s3_options::{Addressing, ByteRange, Checksum};
use crate::plan::{CacheRule, ConnectionPolicy, ConnectionReuse, GatewayTarget};
use crate::record::slowest::RequestIds;
use crate::record::{CacheClass, OutcomeClass, ServerTiming, TransportError};
use crate::shared::request_ids::{AMZ_REQUEST_ID, MS_REQUEST_ID};
use crate::shared::sigv4::Signer;
use crate::shared::{S3Endpoint, Secret, TlsSpec};
use crate::tls::client::{ClientTls, tls_error};

/// How much of an error body is kept to classify it (e.g. `SlowDown`, quota).
const ERROR_BODY_PREFIX: usize = 512;

/// How much of a body [`S3Client::send_keeping`] and [`S3Client::send_control`] keep
/// (a LIST page of 1000 keys is about 300 KiB).
const KEPT_BODY_MAX: usize = 1 << 20;

/// What an exchange keeps of the answer besides its class and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    Nothing,
    /// Headers and the start of an error body.
    Details,
    /// Headers and the whole body (a journey's LIST, multipart create and complete).
    Body,
}

/// One S3 request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Call {
    pub method: Method,
    /// Path-style path and query, already percent-encoded: `/bucket/key?…`.
    pub path_and_query: String,
    /// Bytes of generated body (PUT), 0 for none.
    pub body_len: u64,
    /// The op's index in the run's sequence: names the request in `x-client-request-id`
    /// (`None`: no id is sent).
    pub index: Option<u64>,
    /// GET: the bytes to read (`Range: bytes=first-last`); a 206 answers it.
    pub range: Option<ByteRange>,
    /// PUT: the checksum of the body to send with it.
    pub checksum: Checksum,
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
    /// The request opened a new connection: how long connect and TLS took.
    pub opened: Option<OpenTimes>,
    /// What the `Server-Timing` header said (empty: no header).
    pub server_timing: ServerTiming,
    /// Headers and error body, only from [`S3Client::send_keeping_details`] (and
    /// [`S3Client::send_control`], which keeps any body).
    pub details: Option<Box<ResponseDetails>>,
    /// The ids the servers answered with (the id sent is added only for the requests
    /// the slowest-requests table keeps).
    pub ids: RequestIds,
}

/// What a probe shows of an answer beyond its class.
#[derive(Debug, Clone)]
pub struct ResponseDetails {
    pub headers: HeaderMap,
    /// The first bytes of a non-2xx/3xx body (e.g. APIM's `{"statusCode":401,…}`); from
    /// [`S3Client::send_keeping`] with `keep_body` and [`S3Client::send_control`], the
    /// whole body (up to 1 MiB).
    pub error_body: Vec<u8>,
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
            opened: None,
            server_timing: ServerTiming::default(),
            details: None,
            ids: RequestIds::default(),
        }
    }
}

/// `x-amz-content-sha256`: the body's SHA-256 as the SigV4 payload hash.
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// The host of a virtual-hosted-style request for path-style `path_and_query`, and
/// what follows the bucket: `/bucket/key?q` gives `bucket.<host>` and `/key?q`;
/// `/bucket?q` gives `?q` and `/bucket` nothing (the caller puts the `/` before them).
fn virtual_host<'p>(
    host: &HeaderValue,
    path_and_query: &'p str,
) -> Result<(HeaderValue, &'p str), String> {
    let rest = path_and_query
        .strip_prefix('/')
        .ok_or("a path-style path starts with '/'")?;
    let (bucket, after) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let mut virtual_host = Vec::with_capacity(bucket.len() + 1 + host.len());
    virtual_host.extend_from_slice(bucket.as_bytes());
    virtual_host.push(b'.');
    virtual_host.extend_from_slice(host.as_bytes());
    let host = HeaderValue::from_bytes(&virtual_host).map_err(|e| e.to_string())?;
    Ok((host, after))
}

/// The kind of a failure while sending or receiving (hyper's HTTP/2 or `client::h1`): TLS
/// (e.g. a refused client certificate, which TLS 1.3 reports after the handshake) or a
/// broken connection.
fn broken(e: &(dyn std::error::Error + 'static)) -> TransportError {
    match tls_error(e) {
        Some(_) => TransportError::Tls,
        None => TransportError::Reset,
    }
}

/// An answer whose head has arrived, while its body is read.
struct Answer {
    headers_at: Instant,
    status: u16,
    cache: CacheClass,
    retry_after: Option<u32>,
    server_timing: ServerTiming,
    /// The headers, when the caller keeps them.
    headers: Option<HeaderMap>,
    ids: RequestIds,
    /// How much of the body to keep.
    keep_up_to: usize,
    prefix: Vec<u8>,
    bytes_up: u64,
    bytes_down: u64,
}

impl Answer {
    /// Counts (and keeps what is asked of) the next piece of the body.
    fn data(&mut self, data: &[u8]) {
        self.bytes_down += data.len() as u64;
        if self.prefix.len() < self.keep_up_to {
            let take = (self.keep_up_to - self.prefix.len()).min(data.len());
            self.prefix.extend_from_slice(&data[..take]);
        }
    }

    /// The response, once the body ended (or broke, as `broken_by` says).
    fn finish(self, broken_by: Option<TransportError>) -> Response {
        let (class, transport) = match broken_by {
            Some(kind) => (OutcomeClass::Transport, Some(kind)),
            None => (OutcomeClass::of_status(self.status, &self.prefix), None),
        };
        Response {
            class,
            cache: self.cache,
            status: Some(self.status),
            transport,
            retry_after: self.retry_after,
            headers_at: Some(self.headers_at),
            bytes_up: self.bytes_up,
            bytes_down: self.bytes_down,
            opened: None,
            server_timing: self.server_timing,
            details: self.headers.map(|headers| {
                Box::new(ResponseDetails {
                    headers,
                    error_body: self.prefix,
                })
            }),
            ids: self.ids,
        }
    }
}

/// How requests authenticate.
enum Auth {
    /// SigV4 for a direct S3 endpoint.
    SigV4(Signer),
    /// Bearer token and/or subscription key for a gateway, per identity (one, or one
    /// per client of `clients`).
    Gateway(Vec<GatewayIdentity>),
}

/// What [`S3Client::request`] built beside the request's head.
struct Built<'c> {
    /// The token whose header the request carries, which a 401 may refresh.
    token: Option<&'c Arc<TokenSource>>,
    /// That header, as sent.
    bearer: Option<HeaderValue>,
}

/// What one gateway identity sends: a bearer token and/or a subscription key header.
struct GatewayIdentity {
    token: Option<Arc<TokenSource>>,
    subscription: Option<(HeaderName, HeaderValue)>,
}

impl GatewayIdentity {
    fn new(
        header: &str,
        key: Option<&Secret>,
        token: Option<Arc<TokenSource>>,
    ) -> anyhow::Result<Self> {
        let subscription = match key {
            Some(key) => Some((
                HeaderName::from_bytes(header.as_bytes())?,
                HeaderValue::from_str(key.expose())?,
            )),
            None => None,
        };
        Ok(GatewayIdentity {
            token,
            subscription,
        })
    }
}

/// One worker's connection to the target: none until the first request, and none
/// again after a failure, a timeout, the server closing it, or (with `per-request`)
/// after every request. With HTTP/2 and `streams_per_connection` > 1, workers of the
/// same group share one connection.
pub struct Connection {
    group: usize,
    /// The gateway identity its requests carry (chosen once, by worker).
    identity: usize,
    sender: Option<Sender>,
    /// The request being sent, its buffers kept from one request to the next.
    head: RequestHead,
    /// The path buffer lent to each request's [`S3Call`] (`KeySpace::call_in`).
    path: String,
    /// The worker's request timer (see [`S3Client::within_timeout`]); made on first use,
    /// on the runtime the worker runs on.
    watchdog: Option<Pin<Box<Sleep>>>,
}

impl Connection {
    /// The gateway identity this worker's requests carry (0 for a single identity).
    pub fn identity(&self) -> usize {
        self.identity
    }

    /// The worker's path buffer, to write the next request's path into; give it back
    /// with [`Connection::return_path`].
    pub fn lend_path(&mut self) -> String {
        std::mem::take(&mut self.path)
    }

    /// Takes back the path buffer of the request just sent, its capacity kept.
    pub fn return_path(&mut self, path: String) {
        self.path = path;
    }
}

/// The HTTP/2 connection of a group of workers, opened by whichever needs it first.
type SharedSlot = Arc<tokio::sync::Mutex<Option<http2::SendRequest<GeneratedBody>>>>;

/// How requests to one target are made.
pub struct S3Client {
    /// Where to connect, and TLS for `https://`.
    endpoint: Endpoint,
    /// `http` or `https`, for HTTP/2's `:scheme`.
    scheme: http::uri::Scheme,
    policy: ConnectionPolicy,
    /// HTTP/2 connections shared by groups of workers, by group.
    shared: std::sync::Mutex<HashMap<usize, SharedSlot>>,
    /// What the last connection opened spoke: HTTP version, and TLS version if any.
    protocol: std::sync::Mutex<Option<Protocol>>,
    /// The gateway's API prefix before every path (empty for S3).
    path_prefix: String,
    host: HeaderValue,
    auth: Auth,
    cache_rule: Option<(HeaderName, CacheRule)>,
    timeout: Duration,
    connect_timeout: Duration,
    /// Names requests in `x-client-request-id` (`None`: no id is sent).
    ids: Option<ClientIds>,
    /// Whether the bucket goes in the path or in the host name.
    addressing: Addressing,
    /// Checksums of PUT bodies, by length.
    digests: BodyDigests,
    /// The headers [`S3Client::answer`] reads: all an HTTP/1.1 answer keeps unless
    /// the caller keeps its headers.
    answer_headers: Vec<HeaderName>,
}

/// What a target's connections speak, as the summary states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// `http/1.1` or `h2`.
    pub http: &'static str,
    /// e.g. `TLSv1_3` (`None`: plain http).
    pub tls: Option<String>,
}

/// How a client sends: the same for every target of a run.
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions<'a> {
    pub cache_rule: Option<&'a CacheRule>,
    /// A request still unanswered after this is a transport error (`timeout`).
    pub timeout: Duration,
    pub policy: ConnectionPolicy,
}

impl S3Client {
    /// A SigV4 client for a direct S3 endpoint.
    pub fn direct(endpoint: &S3Endpoint, options: ClientOptions) -> anyhow::Result<Self> {
        Self::build(
            &endpoint.endpoint,
            &endpoint.tls,
            Auth::SigV4(Signer::new(endpoint)),
            options,
        )
    }

    /// A client for a gateway: same requests under `base_url`, with bearer tokens from
    /// `tokens`, one per identity (one per client of `clients`, else one).
    pub fn gateway(
        gateway: &GatewayTarget,
        tokens: Vec<Option<Arc<TokenSource>>>,
        options: ClientOptions,
    ) -> anyhow::Result<Self> {
        let header = &gateway.subscription_header;
        let identities = if gateway.clients.is_empty() {
            let token = tokens.into_iter().next().flatten();
            vec![GatewayIdentity::new(
                header,
                gateway.subscription_key.as_ref(),
                token,
            )?]
        } else {
            anyhow::ensure!(
                tokens.len() == gateway.clients.len(),
                "{} token sources for {} clients",
                tokens.len(),
                gateway.clients.len()
            );
            gateway
                .clients
                .iter()
                .zip(tokens)
                .map(|(c, token)| GatewayIdentity::new(header, c.subscription_key.as_ref(), token))
                .collect::<anyhow::Result<_>>()?
        };
        Self::build(
            &gateway.base_url,
            &gateway.tls,
            Auth::Gateway(identities),
            options,
        )
    }

    fn build(url: &str, tls: &TlsSpec, auth: Auth, options: ClientOptions) -> anyhow::Result<Self> {
        let uri: http::Uri = url.parse()?;
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow::anyhow!("{url} has no host"))?
            .clone();
        let scheme = uri.scheme().cloned().unwrap_or(http::uri::Scheme::HTTP);
        let mut tls = match scheme.as_str() {
            "https" => Some(ClientTls::new(tls, authority.host(), options.policy.http)?),
            _ => None,
        };
        // Per-request connections measure the handshake: a full one every time, not a
        // resumed session (wrk with `Connection: close` does the same).
        if let Some(t) = &mut tls
            && options.policy.reuse == ConnectionReuse::PerRequest
        {
            let mut config = (*t.config).clone();
            config.resumption = rustls::client::Resumption::disabled();
            t.config = Arc::new(config);
        }
        // An https URL without a port means 443; TcpStream::connect needs it written.
        let authority = match (authority.port_u16(), &tls) {
            (None, Some(_)) => format!("{authority}:443").parse()?,
            (None, None) => format!("{authority}:80").parse()?,
            _ => authority,
        };
        let cache_rule = match options.cache_rule {
            Some(r) => Some((HeaderName::from_bytes(r.header.as_bytes())?, r.clone())),
            None => None,
        };
        let mut answer_headers = vec![RETRY_AFTER, SERVER_TIMING, AMZ_REQUEST_ID, MS_REQUEST_ID];
        answer_headers.extend(cache_rule.as_ref().map(|(name, _)| name.clone()));
        Ok(S3Client {
            host: HeaderValue::from_str(uri.authority().map_or("", |a| a.as_str()))?,
            endpoint: Endpoint { authority, tls },
            scheme,
            policy: options.policy,
            shared: Default::default(),
            protocol: Default::default(),
            path_prefix: uri.path().trim_end_matches('/').to_string(),
            auth,
            cache_rule,
            timeout: options.timeout,
            connect_timeout: options.timeout.min(Duration::from_secs(10)),
            ids: None,
            addressing: Addressing::Path,
            digests: BodyDigests::default(),
            answer_headers,
        })
    }

    /// This client naming buckets as `addressing` says: `virtual` sends
    /// `/bucket/key` as `Host: bucket.<host>` and path `/key` (connecting to the same
    /// address).
    pub fn with_addressing(mut self, addressing: Addressing) -> Self {
        self.addressing = addressing;
        self
    }

    /// This client sending `x-client-request-id` on every call with an index.
    pub fn with_request_ids(mut self, ids: ClientIds) -> Self {
        self.ids = Some(ids);
        self
    }

    /// The `x-client-request-id` `call` carries, if any (the answer does not keep it:
    /// only the slowest requests' ids are kept).
    pub fn request_id(&self, call: &S3Call) -> Option<HeaderValue> {
        Some(self.ids.as_ref()?.of(call.index?))
    }

    /// Worker `worker`'s connection (not opened yet), carrying the identity the worker
    /// sends as (round-robin over the gateway's identities).
    pub fn connection(&self, worker: usize) -> Connection {
        Connection {
            group: worker / self.policy.streams_per_connection.max(1) as usize,
            identity: identity_of_worker(worker, self.identities()),
            sender: None,
            head: RequestHead::default(),
            path: String::new(),
            watchdog: None,
        }
    }

    /// How many identities requests are spread over (1 unless a gateway has `clients`).
    pub fn identities(&self) -> usize {
        match &self.auth {
            Auth::Gateway(ids) => ids.len(),
            Auth::SigV4(_) => 1,
        }
    }

    /// What the connections opened so far spoke (`None`: none opened yet).
    pub fn protocol(&self) -> Option<Protocol> {
        self.protocol
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Opens one connection (TCP, then TLS for https) and closes it again: a target's
    /// certificate problems show before any load is sent.
    pub async fn check_connection(&self) -> anyhow::Result<()> {
        self.open_once().await?;
        Ok(())
    }

    /// Opens one connection and returns it with what its handshake showed.
    pub async fn open_once(&self) -> Result<super::connect::Opened, DialError> {
        dial(&self.endpoint, self.connect_timeout).await
    }

    /// Sends `call` on `conn` (opening it if needed) and reads the whole answer, within
    /// the request timeout. A connection that failed or timed out is dropped, and so is
    /// every connection after its request with `connection = "per-request"`.
    pub async fn send(&self, conn: &mut Connection, call: &S3Call) -> Response {
        self.send_and_keep(conn, call, Kept::Nothing, None).await
    }

    /// [`send`](Self::send), keeping the answer's headers and whole body in `details`
    /// when `keep_body` (a journey's LIST reads the keys it returned from it).
    pub async fn send_keeping(
        &self,
        conn: &mut Connection,
        call: &S3Call,
        keep_body: bool,
    ) -> Response {
        let kept = if keep_body { Kept::Body } else { Kept::Nothing };
        self.send_and_keep(conn, call, kept, None).await
    }

    /// [`send`](Self::send), keeping the answer's headers and error body in `details`
    /// (for `probe`; the load path keeps neither).
    pub async fn send_keeping_details(&self, conn: &mut Connection, call: &S3Call) -> Response {
        self.send_and_keep(conn, call, Kept::Details, None).await
    }

    /// [`send`](Self::send) for a control request (e.g. multipart create, complete): the
    /// body is `body` (`call.body_len` must be its length) or none, and `details` keeps
    /// the answer's headers and its body, whatever its status.
    pub async fn send_control(
        &self,
        conn: &mut Connection,
        call: &S3Call,
        body: Option<bytes::Bytes>,
    ) -> Response {
        self.send_and_keep(conn, call, Kept::Body, body).await
    }

    async fn send_and_keep(
        &self,
        conn: &mut Connection,
        call: &S3Call,
        keep: Kept,
        body: Option<bytes::Bytes>,
    ) -> Response {
        let mut head = std::mem::take(&mut conn.head);
        let Ok(built) = self.request(call, conn.identity, &mut head) else {
            // Only a malformed path can fail here, and paths are built by gatebench.
            conn.head = head;
            return Response::transport(TransportError::Reset);
        };
        // Signed as UNSIGNED-PAYLOAD, so the body may be set after signing.
        let body = match body {
            Some(body) => GeneratedBody::given(body),
            None => GeneratedBody::new(call.body_len),
        };
        let mut opened = None;
        let mut watchdog = conn.watchdog.take();
        let mut resp = {
            let exchange = std::pin::pin!(self.exchange(conn, &head, body, &mut opened, keep));
            self.within_timeout(exchange, &mut watchdog).await
        };
        conn.head = head;
        conn.watchdog = watchdog;
        // A whole object answering a range request: the server (or a cache in front of
        // it) ignored `Range`; not what the scenario asked for.
        if call.range.is_some() && resp.status == Some(200) {
            resp.class = OutcomeClass::ServerError;
        }
        resp.opened = opened;
        if resp.transport.is_some() || self.policy.reuse == ConnectionReuse::PerRequest {
            conn.sender = None;
        }
        if let (Some(401), Some(t), Some(used)) = (resp.status, built.token, built.bearer) {
            t.unauthorized(&used);
        }
        resp
    }

    /// `exchange`'s answer, or a `Timeout` once `self.timeout` has passed since it began
    /// (also when the answer is only read after that, its worker's thread having been
    /// busy: an `ok` never takes longer than the timeout).
    /// A worker has one timer for all its requests rather than one per request (whose
    /// arming and disarming cost as much as signing): armed at the first request's
    /// deadline, it wakes when a request is due to time out or, early, at an earlier
    /// request's deadline, and is then re-armed at the current one. So it fires at most
    /// once per timeout period per worker without an actual timeout.
    async fn within_timeout(
        &self,
        mut exchange: Pin<&mut impl Future<Output = Response>>,
        watchdog: &mut Option<Pin<Box<Sleep>>>,
    ) -> Response {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let timer = watchdog.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            tokio::select! {
                biased;
                resp = exchange.as_mut() => {
                    if tokio::time::Instant::now() > deadline {
                        return Response::transport(TransportError::Timeout);
                    }
                    return resp;
                }
                () = timer.as_mut() => {
                    if tokio::time::Instant::now() >= deadline {
                        return Response::transport(TransportError::Timeout);
                    }
                    timer.as_mut().reset(deadline);
                }
            }
        }
    }

    /// Builds the request of `call` into `head`, carrying gateway identity `identity`'s
    /// headers.
    fn request(
        &self,
        call: &S3Call,
        identity: usize,
        head: &mut RequestHead,
    ) -> Result<Built<'_>, String> {
        let virtual_host_value;
        let (host, path) = match self.addressing {
            Addressing::Path => (&self.host, call.path_and_query.as_str()),
            Addressing::Virtual => {
                let (host, path) = virtual_host(&self.host, &call.path_and_query)?;
                virtual_host_value = host;
                (&virtual_host_value, path)
            }
        };
        // Origin form (`/bucket/key?…`) on the request line, as HTTP/1.1 requires of a
        // client talking to the origin; the host is in `host`. (HTTP/2 gets the absolute
        // form in `exchange`.)
        let slash = if path.starts_with('/') { "" } else { "/" };
        head.start(call.method.clone(), &[&self.path_prefix, slash, path])?;
        head.header("host", &[host.as_bytes()]);
        if call.body_len > 0 || call.method == Method::PUT || call.method == Method::POST {
            head.header("content-length", &[decimal(call.body_len, &mut [0; 20])]);
        }
        if let Some(r) = call.range {
            let (mut first, mut last) = ([0; 20], [0; 20]);
            let (first, last) = (decimal(r.first, &mut first), decimal(r.last, &mut last));
            head.header("range", &[b"bytes=", first, b"-", last]);
        }
        let digest = self.digests.of(call.checksum, call.body_len);
        let payload_hash = match (call.checksum, digest) {
            (Checksum::Crc32c, Some(crc)) => {
                head.header(X_AMZ_CHECKSUM_CRC32C, &[crc.as_bytes()]);
                head.header(X_AMZ_SDK_CHECKSUM_ALGORITHM, &[b"CRC32C"]);
                None
            }
            (Checksum::Sha256, Some(sha)) => Some(sha),
            _ => None,
        };
        let mut built = Built {
            token: None,
            bearer: None,
        };
        match &self.auth {
            Auth::SigV4(signer) => {
                let (target, mut lines) = head.target_and_headers();
                signer.sign_head(
                    call.method.as_str(),
                    target,
                    host.as_bytes(),
                    payload_hash.as_ref().map(HeaderValue::as_bytes),
                    |name, parts| lines.add(name, parts),
                )?;
            }
            Auth::Gateway(ids) => {
                let id = ids.get(identity).ok_or("no such gateway identity")?;
                if let Some(t) = &id.token {
                    let bearer = t.header();
                    head.header(AUTHORIZATION.as_str(), &[bearer.as_bytes()]);
                    built.token = Some(t);
                    built.bearer = Some(bearer);
                }
                if let Some((name, value)) = &id.subscription {
                    head.header(name.as_str(), &[value.as_bytes()]);
                }
                // The gateway signs it as the payload hash when it forwards the body.
                if let Some(sha) = payload_hash {
                    head.header(X_AMZ_CONTENT_SHA256, &[sha.as_bytes()]);
                }
            }
        }
        // After signing: the id is not signed.
        if let (Some(ids), Some(index)) = (&self.ids, call.index) {
            head.header(CLIENT_REQUEST_ID.as_str(), &ids.parts(index, &mut [0; 20]));
        }
        Ok(built)
    }

    /// `conn`'s sender, ready for a request: the open one, the group's shared HTTP/2
    /// connection, or a new connection (whose opening times go to `opened`).
    async fn ready<'c>(
        &self,
        conn: &'c mut Connection,
        opened: &mut Option<OpenTimes>,
    ) -> Result<&'c mut Sender, TransportError> {
        let open = match &mut conn.sender {
            Some(Sender::H1(c)) => c.is_open(),
            Some(Sender::H2(s)) => s.ready().await.is_ok(),
            None => false,
        };
        if open {
            return conn.sender.as_mut().ok_or(TransportError::Connect);
        }
        conn.sender = None;
        let shares = self.policy.reuse == ConnectionReuse::KeepAlive
            && self.policy.streams_per_connection > 1;
        if !shares {
            let sender = self.dial(opened).await?;
            return Ok(conn.sender.insert(sender));
        }
        let slot = self
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(conn.group)
            .or_default()
            .clone();
        let mut shared = slot.lock().await;
        if let Some(s) = shared.as_mut()
            && s.ready().await.is_ok()
        {
            return Ok(conn.sender.insert(Sender::H2(s.clone())));
        }
        let sender = self.dial(opened).await?;
        // Only HTTP/2 connections can be shared; HTTP/1.1 stays one per worker.
        *shared = match &sender {
            Sender::H2(s) => Some(s.clone()),
            Sender::H1(_) => None,
        };
        Ok(conn.sender.insert(sender))
    }

    /// A new connection; its opening times go to `opened`.
    async fn dial(&self, opened: &mut Option<OpenTimes>) -> Result<Sender, TransportError> {
        let new = dial(&self.endpoint, self.connect_timeout)
            .await
            .map_err(|e| match e {
                DialError::Tls(_) => TransportError::Tls,
                _ => TransportError::Connect,
            })?;
        *opened = Some(new.times);
        let protocol = Protocol {
            http: match new.sender {
                Sender::H1(_) => "http/1.1",
                Sender::H2(_) => "h2",
            },
            tls: new.tls_protocol.map(|(version, _)| version),
        };
        let mut known = self.protocol.lock().unwrap_or_else(|e| e.into_inner());
        if known.as_ref() != Some(&protocol) {
            *known = Some(protocol);
        }
        Ok(new.sender)
    }

    async fn exchange(
        &self,
        conn: &mut Connection,
        head: &RequestHead,
        body: GeneratedBody,
        opened: &mut Option<OpenTimes>,
        keep: Kept,
    ) -> Response {
        let body_len = body.length();
        // The usual case, a kept-alive HTTP/1.1 connection, without the future of
        // `ready` (opening connections, HTTP/2): boxed, it is not moved per request.
        let open_h1 = match &mut conn.sender {
            Some(Sender::H1(c)) => c.is_open(),
            _ => false,
        };
        let sender = match open_h1 {
            true => conn.sender.as_mut().ok_or(TransportError::Connect),
            false => Box::pin(self.ready(conn, opened)).await,
        };
        let sender = match sender {
            Ok(s) => s,
            Err(kind) => return Response::transport(kind),
        };
        match sender {
            Sender::H1(c) => {
                let answer_head = match c.send(head, &body).await {
                    Ok(()) => {
                        let only = (keep == Kept::Nothing).then_some(&self.answer_headers[..]);
                        c.read_head(head.method() == Method::HEAD, only).await
                    }
                    Err(e) => Err(e),
                };
                let answer_head = match answer_head {
                    Ok(h) => h,
                    Err(e) => return Response::transport(broken(&e)),
                };
                let mut answer = self.answer(answer_head.status, c.headers(), keep, body_len);
                let read = c.read_body(&answer_head, |data| answer.data(data)).await;
                answer.finish(read.err().map(|e| broken(&e)))
            }
            Sender::H2(s) => Box::pin(self.exchange_h2(s.clone(), head, body, keep)).await,
        }
    }

    /// One exchange on an HTTP/2 connection.
    async fn exchange_h2(
        &self,
        mut sender: http2::SendRequest<GeneratedBody>,
        head: &RequestHead,
        body: GeneratedBody,
        keep: Kept,
    ) -> Response {
        let body_len = body.length();
        // HTTP/2 takes scheme and authority from the URI (`:scheme`, `:authority`); the
        // signed `host` travels as `:authority`.
        let Ok(req) = head.to_request(body, Some(&self.scheme)) else {
            return Response::transport(TransportError::Reset);
        };
        let mut resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => return Response::transport(broken(&e)),
        };
        let status = resp.status().as_u16();
        let mut answer = self.answer(status, resp.headers_mut(), keep, body_len);
        let mut body = resp.into_body();
        let mut broken_by = None;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Some(data) = f.data_ref() {
                        answer.data(data.chunk());
                    }
                }
                Err(e) => {
                    broken_by = Some(broken(&e));
                    break;
                }
            }
        }
        answer.finish(broken_by)
    }

    /// The answer being read, from its status and headers (which arrived just now):
    /// reads only `answer_headers` unless it keeps them all, and takes the request ids
    /// out of `headers` (after keeping them).
    fn answer(&self, status: u16, headers: &mut HeaderMap, keep: Kept, body_len: u64) -> Answer {
        let headers_at = Instant::now();
        let kept = (keep != Kept::Nothing).then(|| headers.clone());
        Answer {
            headers_at,
            status,
            cache: self.cache_class(headers),
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok()),
            server_timing: server_timing(headers),
            headers: kept,
            ids: answered(headers),
            keep_up_to: match keep {
                Kept::Body => KEPT_BODY_MAX,
                _ if !(200..400).contains(&status) => ERROR_BODY_PREFIX,
                _ => 0,
            },
            prefix: Vec::new(),
            bytes_up: body_len,
            bytes_down: 0,
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
    use crate::plan::GatewayClient;
    use http::header::{HOST, RANGE};

    impl S3Client {
        /// The request of `call` as an `http::Request` (origin form).
        fn http_request(
            &self,
            call: &S3Call,
            identity: usize,
        ) -> Result<http::Request<GeneratedBody>, String> {
            let mut head = RequestHead::default();
            self.request(call, identity, &mut head)?;
            head.to_request(GeneratedBody::new(call.body_len), None)
        }
    }

    fn options() -> ClientOptions<'static> {
        ClientOptions {
            cache_rule: None,
            timeout: Duration::from_secs(1),
            policy: ConnectionPolicy::default(),
        }
    }

    fn get(path_and_query: &str) -> S3Call {
        S3Call {
            method: Method::GET,
            path_and_query: path_and_query.into(),
            body_len: 0,
            index: None,
            range: None,
            checksum: Checksum::None,
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
                tls: TlsSpec::default(),
            },
            options(),
        )
        .unwrap();
        let req = direct
            .http_request(&get("/bench?list-type=2&prefix=p%2F"), 0)
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
                tls: TlsSpec::default(),
                clients: Vec::new(),
            },
            vec![None],
            options(),
        )
        .unwrap();
        let req = gateway.http_request(&get("/bench/k"), 0).unwrap();
        assert_eq!(req.uri().to_string(), "/storage/bench/k");
        assert_eq!(req.headers()[HOST], "127.0.0.1:8080");

        // A client naming its requests sends the id of calls with an index only.
        let named = direct.with_request_ids(ClientIds::new("run", 2).unwrap());
        let call = S3Call {
            index: Some(9),
            ..get("/bench/k")
        };
        let req = named.http_request(&call, 0).unwrap();
        assert_eq!(req.headers()[CLIENT_REQUEST_ID], "run-2-9");
        let req = named.http_request(&get("/bench/k"), 0).unwrap();
        assert!(req.headers().get(CLIENT_REQUEST_ID).is_none());
    }

    fn direct_client() -> S3Client {
        direct_client_with(options())
    }

    fn direct_client_with(options: ClientOptions) -> S3Client {
        S3Client::direct(
            &S3Endpoint {
                endpoint: "http://localhost:7480".into(),
                region: "us-east-1".into(),
                access_key: "a".into(),
                secret_key: Secret::new("b"),
                tls: TlsSpec::default(),
            },
            options,
        )
        .unwrap()
    }

    #[test]
    fn virtual_addressing_moves_the_bucket_into_the_signed_host() {
        let client = direct_client().with_addressing(Addressing::Virtual);
        for (path_style, path) in [
            ("/bkt/run/s/00000001", "/run/s/00000001"),
            ("/bkt?list-type=2&prefix=p%2F", "/?list-type=2&prefix=p%2F"),
            ("/bkt", "/"),
        ] {
            let req = client.http_request(&get(path_style), 0).unwrap();
            assert_eq!(req.uri().to_string(), path, "{path_style}");
            assert_eq!(req.headers()[HOST], "bkt.localhost:7480");
            let auth = req.headers()[AUTHORIZATION].to_str().unwrap();
            assert!(auth.contains("SignedHeaders=host;"), "{auth}");
        }
        let path_style = direct_client().http_request(&get("/bkt/k"), 0).unwrap();
        assert_eq!(path_style.uri().to_string(), "/bkt/k");
        assert_eq!(path_style.headers()[HOST], "localhost:7480");
    }

    #[test]
    fn ranges_and_checksums_become_their_headers() {
        let client = direct_client();
        let ranged = S3Call {
            range: Some(ByteRange {
                first: 10,
                last: 19,
            }),
            ..get("/bkt/k")
        };
        let req = client.http_request(&ranged, 0).unwrap();
        assert_eq!(req.headers()[RANGE], "bytes=10-19");
        assert!(
            client
                .http_request(&get("/bkt/k"), 0)
                .unwrap()
                .headers()
                .get(RANGE)
                .is_none()
        );

        let put = |checksum| S3Call {
            method: Method::PUT,
            body_len: 1000,
            checksum,
            ..get("/bkt/k")
        };
        let digests = BodyDigests::default();
        let req = client.http_request(&put(Checksum::Crc32c), 0).unwrap();
        assert_eq!(
            Some(&req.headers()[X_AMZ_CHECKSUM_CRC32C]),
            digests.of(Checksum::Crc32c, 1000).as_ref()
        );
        assert_eq!(req.headers()[X_AMZ_SDK_CHECKSUM_ALGORITHM], "CRC32C");
        assert_eq!(req.headers()[X_AMZ_CONTENT_SHA256], "UNSIGNED-PAYLOAD");
        let req = client.http_request(&put(Checksum::Sha256), 0).unwrap();
        assert_eq!(
            Some(&req.headers()[X_AMZ_CONTENT_SHA256]),
            digests.of(Checksum::Sha256, 1000).as_ref()
        );
        assert!(req.headers().get(X_AMZ_CHECKSUM_CRC32C).is_none());
        let req = client.http_request(&put(Checksum::None), 0).unwrap();
        assert_eq!(req.headers()[X_AMZ_CONTENT_SHA256], "UNSIGNED-PAYLOAD");
        assert!(req.headers().get(X_AMZ_CHECKSUM_CRC32C).is_none());
    }

    /// An HTTP/1.1 answer keeps only `answer_headers` on the load path: what the
    /// response says must be the same as from all of its headers.
    #[test]
    fn the_headers_an_answer_reads_are_all_in_answer_headers() {
        let rule = CacheRule {
            header: "X-Cache".into(),
            hit: "HIT".into(),
            miss: "MISS".into(),
        };
        let client = direct_client_with(ClientOptions {
            cache_rule: Some(&rule),
            ..options()
        });
        let mut all = HeaderMap::new();
        for (name, value) in [
            ("retry-after", "7"),
            ("server-timing", "backend;dur=1.5"),
            ("server-timing", "cache;desc=hit"),
            ("x-amz-request-id", "tx1"),
            ("x-ms-request-id", "gw1"),
            ("x-cache", "HIT"),
            ("content-type", "application/xml"),
            ("etag", "\"e\""),
        ] {
            all.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let mut only = HeaderMap::new();
        for (name, value) in &all {
            if client.answer_headers.contains(name) {
                only.append(name.clone(), value.clone());
            }
        }
        assert!(only.len() < all.len());
        let from_all = client.answer(503, &mut all, Kept::Nothing, 0).finish(None);
        let from_only = client.answer(503, &mut only, Kept::Nothing, 0).finish(None);
        assert_eq!(
            (
                from_all.class,
                from_all.cache,
                from_all.retry_after,
                from_all.server_timing,
                &from_all.ids
            ),
            (
                from_only.class,
                from_only.cache,
                from_only.retry_after,
                from_only.server_timing,
                &from_only.ids
            )
        );
        assert_eq!(
            (from_all.cache, from_all.retry_after),
            (CacheClass::Hit, Some(7))
        );
    }

    /// The ids are moved out of the answer's headers, after a copy of them is kept: a
    /// probe's kept headers still show them, and the response's ids have them too.
    #[test]
    fn kept_headers_still_carry_the_request_ids() {
        let client = direct_client_with(options());
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-request-id", HeaderValue::from_static("tx1"));
        headers.insert("x-ms-request-id", HeaderValue::from_static("gw1"));
        let resp = client
            .answer(200, &mut headers, Kept::Details, 0)
            .finish(None);
        let kept = &resp.details.expect("details kept").headers;
        assert_eq!(
            (
                kept["x-amz-request-id"].clone(),
                kept["x-ms-request-id"].clone()
            ),
            (
                HeaderValue::from_static("tx1"),
                HeaderValue::from_static("gw1")
            )
        );
        assert_eq!(
            (resp.ids.amz, resp.ids.gateway),
            (
                Some(HeaderValue::from_static("tx1")),
                Some(HeaderValue::from_static("gw1"))
            )
        );
        assert!(headers.is_empty(), "taken out of the answer's own headers");
    }

    /// Each worker's connection carries its identity's subscription key, chosen
    /// round-robin by worker; the target's own key is not sent.
    #[test]
    fn workers_send_as_their_identity_round_robin() {
        let clients = ["a", "b", "c"]
            .map(|name| GatewayClient {
                label: format!("tenant-{name}"),
                subscription_key: Some(Secret::new(format!("key-{name}"))),
                oauth2: None,
            })
            .to_vec();
        let gateway = S3Client::gateway(
            &GatewayTarget {
                base_url: "http://127.0.0.1:8080/storage".into(),
                subscription_key: None,
                subscription_header: "Ocp-Apim-Subscription-Key".into(),
                oauth2: None,
                setup_via: "direct".into(),
                tls: TlsSpec::default(),
                clients,
            },
            vec![None, None, None],
            options(),
        )
        .unwrap();
        assert_eq!(gateway.identities(), 3);
        let keys: Vec<String> = (0..7)
            .map(|worker| {
                let conn = gateway.connection(worker);
                let req = gateway
                    .http_request(&get("/bench/k"), conn.identity())
                    .unwrap();
                req.headers()["Ocp-Apim-Subscription-Key"]
                    .to_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            keys,
            [
                "key-a", "key-b", "key-c", "key-a", "key-b", "key-c", "key-a"
            ]
        );
        assert!(gateway.http_request(&get("/bench/k"), 3).is_err());
    }

    /// A server on loopback answering `/slow` after 200 ms, never answering `/hang`, and
    /// anything else at once (empty 200s on one kept-alive connection).
    async fn timing_server() -> std::net::SocketAddr {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut pending = Vec::new();
                    while let Some(line) =
                        crate::shared::test_heads::next_head(&mut stream, &mut pending).await
                    {
                        if line.starts_with("GET /hang ") {
                            std::future::pending::<()>().await;
                        }
                        if line.starts_with("GET /slow ") {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    /// A client whose requests time out after `timeout`, against `addr`.
    fn timing_client(addr: std::net::SocketAddr, timeout: Duration) -> S3Client {
        S3Client::direct(
            &S3Endpoint {
                endpoint: format!("http://{addr}"),
                region: "us-east-1".into(),
                access_key: "a".into(),
                secret_key: Secret::new("b"),
                tls: TlsSpec::default(),
            },
            ClientOptions {
                timeout,
                ..options()
            },
        )
        .unwrap()
    }

    /// An answer that the worker only reads after the timeout has passed (its thread was
    /// busy, as on a loaded machine) is a timeout, not an `ok` slower than the timeout:
    /// every `ok` latency is within `request_timeout`, as the scenario defines it.
    #[tokio::test(flavor = "current_thread")]
    async fn an_answer_read_after_the_deadline_is_a_timeout() {
        // The server on a thread of its own, so that it answers while this one is blocked.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                tx.send(timing_server().await).unwrap();
                std::future::pending::<()>().await
            })
        });
        let client = timing_client(rx.recv().unwrap(), Duration::from_millis(100));
        let mut conn = client.connection(0);
        let first = client.send(&mut conn, &get("/fast")).await;
        assert_eq!(first.status, Some(200));
        // Runs once the request below waits for its answer: blocks this thread past the
        // deadline, while the answer arrives.
        tokio::spawn(async { std::thread::sleep(Duration::from_millis(250)) });
        let began = Instant::now();
        let late = client.send(&mut conn, &get("/fast")).await;
        assert!(began.elapsed() >= Duration::from_millis(250));
        assert_eq!(
            (late.status, late.transport),
            (None, Some(TransportError::Timeout))
        );
    }

    /// The worker's one request timer, armed by an earlier request, wakes early during a
    /// later one: that request is not timed out before its own deadline, and a request
    /// that never gets an answer is, once the timeout has passed since it began.
    #[tokio::test]
    async fn a_request_times_out_after_its_own_timeout_and_never_before() {
        let addr = timing_server().await;
        let client = timing_client(addr, Duration::from_millis(300));
        let mut conn = client.connection(0);
        let first = client.send(&mut conn, &get("/fast")).await;
        assert_eq!(first.status, Some(200));
        // The timer is armed at the first request's deadline, which falls inside the
        // slow request below.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let slow = client.send(&mut conn, &get("/slow")).await;
        assert_eq!((slow.status, slow.transport), (Some(200), None));
        let began = Instant::now();
        let hung = client.send(&mut conn, &get("/hang")).await;
        let waited = began.elapsed();
        assert_eq!(hung.transport, Some(TransportError::Timeout));
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
            "timed out after {waited:?}"
        );
        // The next request opens a new connection and is answered.
        let after = client.send(&mut conn, &get("/fast")).await;
        assert_eq!((after.status, after.transport), (Some(200), None));
    }
}
