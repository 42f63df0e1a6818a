//! `gatebench gateway --audit-log FILE`: one JSON line per request the stand-in
//! answered (refusals too), the local equivalent of Azure Monitor's
//! `ApiManagementGatewayLogs`.
//!
//! A line holds the time, the caller (`azp`, else `appid`, of the bearer token), the
//! subscription's name, method, path with query parameter names only, operation,
//! status, cache, backend and total time, and the request ids. Never a token, key,
//! secret or query value. Lines are written off the request path: a writer thread fed
//! by a bounded channel, flushed at least every second and at shutdown; a line that
//! finds the channel full is dropped and counted, and the count is told at shutdown.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Method, Request, Response};
use serde::Serialize;

use super::correlation::BackendTime;
use super::pipeline::SUBSCRIPTION_HEADER;
use crate::shared::request_ids::{AMZ_REQUEST_ID, CLIENT_REQUEST_ID, MS_REQUEST_ID};

/// Lines waiting for the writer; more are dropped (and counted).
const QUEUE: usize = 8192;

/// The writer flushes at least this often.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// What is known of a request when it arrives.
pub struct Arrival {
    at: SystemTime,
    started: Instant,
    method: Method,
    /// The request path with query parameter names only: `/storage/b?list-type&prefix`.
    path: String,
    /// The API operation (`getObject`, …) of a path under the API prefix.
    operation: Option<&'static str>,
    client_id: Option<String>,
    subscription: Option<String>,
    client_request_id: Option<HeaderValue>,
}

impl Arrival {
    /// What the audit line needs of `req` (under `api_prefix`; `subscriptions` maps keys
    /// to names, and only the name is kept).
    pub fn of<B>(
        req: &Request<B>,
        api_prefix: &str,
        subscriptions: &HashMap<String, String>,
    ) -> Self {
        let headers = req.headers();
        Arrival {
            at: SystemTime::now(),
            started: Instant::now(),
            method: req.method().clone(),
            path: path_with_query_names(req.uri()),
            operation: operation(req.method(), req.uri().path(), api_prefix),
            client_id: headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(caller),
            subscription: headers
                .get(SUBSCRIPTION_HEADER)
                .and_then(|k| k.to_str().ok())
                .and_then(|k| subscriptions.get(k).cloned()),
            client_request_id: headers.get(CLIENT_REQUEST_ID).cloned(),
        }
    }
}

/// A finished request, on its way to the writer.
struct Answered {
    arrival: Arrival,
    total: Duration,
    status: u16,
    cache: &'static str,
    backend: Option<Duration>,
    gateway_request_id: Option<HeaderValue>,
    backend_request_id: Option<HeaderValue>,
}

/// One line of the file.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    client_id: Option<&'a str>,
    subscription: Option<&'a str>,
    method: &'a str,
    path: &'a str,
    operation: Option<&'static str>,
    status: u16,
    /// `hit`, `miss` or `none`.
    cache: &'static str,
    backend_ms: Option<f64>,
    total_ms: f64,
    ids: LineIds<'a>,
}

#[derive(Serialize)]
struct LineIds<'a> {
    /// `x-ms-request-id`: the stand-in's `context.RequestId`.
    gateway: Option<&'a str>,
    /// `x-client-request-id` as the client sent it.
    client: Option<&'a str>,
    /// `x-amz-request-id` of the backend's answer.
    backend: Option<&'a str>,
}

impl Answered {
    /// Writes the line in one piece (`scratch` is reused), so a reader of the growing
    /// file never sees half a line.
    fn write_to(&self, out: &mut impl Write, scratch: &mut Vec<u8>) -> std::io::Result<()> {
        let a = &self.arrival;
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        let line = Line {
            time: humantime::format_rfc3339_millis(a.at).to_string(),
            client_id: a.client_id.as_deref(),
            subscription: a.subscription.as_deref(),
            method: a.method.as_str(),
            path: &a.path,
            operation: a.operation,
            status: self.status,
            cache: self.cache,
            backend_ms: self.backend.map(ms),
            total_ms: ms(self.total),
            ids: LineIds {
                gateway: text(&self.gateway_request_id),
                client: text(&a.client_request_id),
                backend: text(&self.backend_request_id),
            },
        };
        scratch.clear();
        serde_json::to_writer(&mut *scratch, &line)?;
        scratch.push(b'\n');
        out.write_all(scratch)
    }
}

/// A header value as text (`None`: absent or not visible ASCII).
fn text(v: &Option<HeaderValue>) -> Option<&str> {
    v.as_ref().and_then(|v| v.to_str().ok())
}

/// The audit log of a running gateway.
pub struct AuditLog {
    tx: SyncSender<Option<Answered>>,
    dropped: AtomicU64,
    writer: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

impl AuditLog {
    /// Creates (truncates) `path` and starts its writer thread.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let file = BufWriter::new(File::create(path)?);
        let (tx, rx) = sync_channel(QUEUE);
        let writer = std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_lines(file, rx))?;
        Ok(AuditLog {
            tx,
            dropped: AtomicU64::new(0),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Queues the line of a request that arrived as `arrival` and is answered `resp`.
    pub fn write<B>(&self, arrival: Arrival, resp: &Response<B>) {
        let headers = resp.headers();
        let cache = match headers.get("x-cache").map(HeaderValue::as_bytes) {
            Some(b"HIT") => "hit",
            Some(b"MISS") => "miss",
            _ => "none",
        };
        let answered = Answered {
            total: arrival.started.elapsed(),
            arrival,
            status: resp.status().as_u16(),
            cache,
            backend: resp.extensions().get::<BackendTime>().map(|b| b.0),
            gateway_request_id: headers.get(MS_REQUEST_ID).cloned(),
            backend_request_id: headers.get(AMZ_REQUEST_ID).cloned(),
        };
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Some(answered)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes what is queued, flushes and stops the writer; says on stderr how many
    /// lines were dropped and whether writing failed.
    pub fn close(&self) {
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(writer) = writer else { return };
        let _ = self.tx.send(None);
        if let Ok(Err(e)) = writer.join() {
            eprintln!("gatebench gateway: the audit log is incomplete: {e}");
        }
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            eprintln!(
                "gatebench gateway: {dropped} audit log lines dropped (the writer fell behind)"
            );
        }
    }
}

/// The writer thread: lines until `None` or every sender is gone, flushed at least
/// every [`FLUSH_EVERY`].
fn write_lines(mut out: BufWriter<File>, rx: Receiver<Option<Answered>>) -> std::io::Result<()> {
    let mut flushed = Instant::now();
    let mut scratch = Vec::with_capacity(512);
    loop {
        let wait = FLUSH_EVERY.saturating_sub(flushed.elapsed());
        match rx.recv_timeout(wait) {
            Ok(Some(line)) => line.write_to(&mut out, &mut scratch)?,
            Ok(None) | Err(RecvTimeoutError::Disconnected) => return out.flush(),
            Err(RecvTimeoutError::Timeout) => {}
        }
        if flushed.elapsed() >= FLUSH_EVERY {
            out.flush()?;
            flushed = Instant::now();
        }
    }
}

/// `uri`'s path, and its query's parameter names (never their values).
fn path_with_query_names(uri: &http::Uri) -> String {
    let mut out = uri.path().to_string();
    if let Some(query) = uri.query() {
        for (i, pair) in query.split('&').enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(pair.split_once('=').map_or(pair, |(name, _)| name));
        }
    }
    out
}

/// The OpenAPI operation id (deploy/apim/storage-api.openapi.yaml) of `method path`.
fn operation(method: &Method, path: &str, api_prefix: &str) -> Option<&'static str> {
    let below = path.strip_prefix(api_prefix)?.strip_prefix('/')?;
    let object = below
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    Some(match (object, method.as_str()) {
        (false, "GET") => "listObjects",
        (false, "PUT") => "createBucket",
        (false, "HEAD") => "headBucket",
        (false, "DELETE") => "deleteBucket",
        (true, "GET") => "getObject",
        (true, "HEAD") => "headObject",
        (true, "PUT") => "putObject",
        (true, "DELETE") => "deleteObject",
        (true, "POST") => "multipartUpload",
        _ => return None,
    })
}

/// The caller a bearer token names (`azp`, else `appid`), read without checking the
/// signature: the line says who the token claims to be, also for a refused token.
fn caller(authorization: &str) -> Option<String> {
    let token = authorization.strip_prefix("Bearer ")?;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims
        .get("azp")
        .or_else(|| claims.get("appid"))?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_query_names_only_and_name_their_operation() {
        let uri: http::Uri = "/storage/b?list-type=2&prefix=secret%2F&max-keys=5"
            .parse()
            .unwrap();
        assert_eq!(
            path_with_query_names(&uri),
            "/storage/b?list-type&prefix&max-keys"
        );
        assert_eq!(
            operation(&Method::GET, "/storage/b", "/storage"),
            Some("listObjects")
        );
        assert_eq!(
            operation(&Method::GET, "/storage/b/k/x", "/storage"),
            Some("getObject")
        );
        assert_eq!(
            operation(&Method::PUT, "/storage/b/", "/storage"),
            Some("createBucket")
        );
        assert_eq!(operation(&Method::GET, "/other/b", "/storage"), None);
    }

    #[test]
    fn the_caller_is_read_from_azp_or_appid() {
        let token = |claims: &str| {
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!("Bearer e30.{}.sig", b64.encode(claims))
        };
        assert_eq!(
            caller(&token(r#"{"azp":"bench","appid":"x"}"#)).as_deref(),
            Some("bench")
        );
        assert_eq!(caller(&token(r#"{"appid":"v1"}"#)).as_deref(), Some("v1"));
        assert_eq!(caller(&token(r#"{"sub":"u"}"#)), None);
        assert_eq!(caller("Basic abc"), None);
    }
}
