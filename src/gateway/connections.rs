//! Kept-alive HTTP/1.1 connections to the backend, driven inside the task of the
//! request that uses them.
//!
//! Owns the pool (per origin, last used first, at most `MAX_IDLE` idle connections per
//! origin, an idle one dropped after `IDLE_TIMEOUT`) and one exchange on a connection:
//! hyper's connection-level API, whose connection future is polled by the request's
//! future until the response head arrives and then by the response body
//! ([`ResponseBody`]) until its end, when the connection goes back to the pool. No task
//! is spawned per connection, so a forwarded request does not cross tasks or threads on
//! its way to the backend and back (a pooled `hyper_util` client runs every connection
//! in a task of its own, and each request and response crosses to it and back).
//!
//! It knows nothing of signing or headers; `backend` builds the requests.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

use super::backend::ForwardedBody;

/// Idle connections kept per origin; more are closed when they come back.
pub const MAX_IDLE: usize = 256;
/// An idle connection older than this is closed instead of reused (servers close idle
/// connections too: nginx after 75 s, so reuse stays below that).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

type Io = MaybeHttpsStream<TokioIo<TcpStream>>;
type Driver = http1::Connection<Io, ForwardedBody>;

/// One connection: where requests go in, and the future that runs it.
struct Conn {
    sender: http1::SendRequest<ForwardedBody>,
    driver: Driver,
}

impl Conn {
    /// Runs the connection's pending work; `true` while it is open.
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        Pin::new(&mut self.driver).poll(cx).is_pending()
    }
}

/// A context whose wake-ups go nowhere.
fn quiet() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// An idle connection in the pool.
struct Idle {
    conn: Conn,
    since: Instant,
}

/// Why an exchange gave no response.
#[derive(Debug)]
pub enum ExchangeError {
    /// No connection could be made (refused, TLS, bad origin).
    Connect,
    /// The connection failed during the exchange.
    Http,
}

/// The pool of backend connections and how new ones are made.
pub struct Connections {
    connector: HttpsConnector<HttpConnector>,
    idle: Mutex<HashMap<Arc<str>, Vec<Idle>>>,
}

impl Connections {
    /// A pool making connections with `connector` (http and https, TLS settings included).
    pub fn new(connector: HttpsConnector<HttpConnector>) -> Arc<Self> {
        Arc::new(Connections {
            connector,
            idle: Mutex::default(),
        })
    }

    /// Sends `req` (origin-form URI, `Host` set) to `origin` (`http(s)://host:port`) on a
    /// pooled connection, or a new one. A request a reused connection could not take
    /// (closed by the server meanwhile, nothing written) goes to the next connection.
    pub async fn send(
        self: &Arc<Self>,
        origin: &Arc<str>,
        mut req: Request<ForwardedBody>,
    ) -> Result<Response<ResponseBody>, ExchangeError> {
        loop {
            let (mut conn, reused) = match self.checkout(origin) {
                Some(conn) => (conn, true),
                None => (self.connect(origin).await?, false),
            };
            let mut response = pin!(conn.sender.try_send_request(req));
            let mut open = true;
            let answer = poll_fn(|cx| {
                if open {
                    open = conn.drive(cx);
                }
                // Only the connection, polled here, can answer: while it runs, the answer
                // is looked at without leaving a waker (a wake-up of this task by itself
                // costs a second poll and may unpark another worker thread).
                if open {
                    response.as_mut().poll(&mut quiet())
                } else {
                    response.as_mut().poll(cx)
                }
            })
            .await;
            match answer {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let body = ResponseBody {
                        body,
                        conn: open.then_some(conn),
                        pool: self.clone(),
                        origin: origin.clone(),
                        ended: false,
                    };
                    return Ok(Response::from_parts(parts, body));
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if reused => req = unsent,
                    _ => return Err(ExchangeError::Http),
                },
            }
        }
    }

    /// An idle connection to `origin` that is still open and ready for a request.
    fn checkout(&self, origin: &str) -> Option<Conn> {
        loop {
            let mut conn = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                let list = idle.get_mut(origin)?;
                // Last used first: the oldest are at the front; drop the expired ones.
                let expired = list.partition_point(|i| i.since.elapsed() >= IDLE_TIMEOUT);
                list.drain(..expired);
                list.pop()?.conn
            };
            // One poll reads a close the server sent meanwhile and readies the sender; no
            // waker is left (the exchange polls the connection next, with its own).
            let cx = &mut quiet();
            if conn.drive(cx) && matches!(conn.sender.poll_ready(cx), Poll::Ready(Ok(()))) {
                return Some(conn);
            }
        }
    }

    /// A new connection to `origin`.
    async fn connect(&self, origin: &str) -> Result<Conn, ExchangeError> {
        let uri: http::Uri = origin.parse().map_err(|_| ExchangeError::Connect)?;
        let io = self
            .connector
            .clone()
            .call(uri)
            .await
            .map_err(|_| ExchangeError::Connect)?;
        let (sender, driver) = http1::handshake(io)
            .await
            .map_err(|_| ExchangeError::Http)?;
        Ok(Conn { sender, driver })
    }

    /// Takes `conn` back after a complete exchange.
    fn checkin(&self, origin: &Arc<str>, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(origin.clone()).or_default();
        if list.len() < MAX_IDLE {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}

/// A backend response's body, driving its connection while it is read; at its end the
/// connection goes back to the pool. Dropped before its end, it closes the connection.
pub struct ResponseBody {
    body: Incoming,
    /// `None` once the connection closed (the body may still hold what it read).
    conn: Option<Conn>,
    pool: Arc<Connections>,
    origin: Arc<str>,
    ended: bool,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        // The body first: polled, it asks the connection for more; the connection then
        // reads it at once, and the body has it in the same poll (no wake-up between).
        let mut frame = Pin::new(&mut this.body).poll_frame(cx);
        if frame.is_pending()
            && let Some(conn) = &mut this.conn
        {
            if !conn.drive(cx) {
                this.conn = None;
            }
            frame = Pin::new(&mut this.body).poll_frame(cx);
        }
        if let Poll::Ready(None) = frame {
            this.ended = true;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        // A body read to its end (or empty, as HEAD's: servers may never poll it) leaves
        // the connection ready for the next request; any other would carry the rest.
        if self.is_end_stream()
            && let Some(conn) = self.conn.take()
        {
            self.pool.checkin(&self.origin, conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::{BodyExt, Empty};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::*;
    use crate::gateway::backend::https_connector;
    use crate::shared::test_heads::next_head;

    /// A backend on loopback answering every request with a 64 KiB body (HEAD: the
    /// length only), counting the connections it accepted; with `close_after_one`, it
    /// closes each connection after its first answer without saying so.
    async fn backend(close_after_one: bool) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut pending = Vec::new();
                    while let Some(line) = next_head(&mut stream, &mut pending).await {
                        let head = line.starts_with("HEAD ");
                        let mut answer =
                            b"HTTP/1.1 200 OK\r\ncontent-length: 65536\r\n\r\n".to_vec();
                        if !head {
                            answer.resize(answer.len() + 65536, b'x');
                        }
                        if stream.write_all(&answer).await.is_err() || close_after_one {
                            return;
                        }
                    }
                });
            }
        });
        (origin, accepted)
    }

    fn request(method: &str) -> Request<ForwardedBody> {
        Request::builder()
            .method(method)
            .uri("/b/k")
            .header("host", "backend")
            .body(Empty::new().map_err(|never| match never {}).boxed())
            .unwrap()
    }

    fn pool() -> Arc<Connections> {
        Connections::new(https_connector(&Default::default()).unwrap())
    }

    /// A body read to its end, and a HEAD's empty one, leave the connection for the next
    /// request; a body dropped before its end takes its connection with it.
    #[tokio::test]
    async fn connections_are_reused_after_whole_answers_only() {
        let (origin, accepted) = backend(false).await;
        let (pool, origin): (_, Arc<str>) = (pool(), origin.into());
        for method in ["GET", "HEAD", "GET"] {
            let resp = pool.send(&origin, request(method)).await.unwrap();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body.len(), if method == "HEAD" { 0 } else { 65536 });
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);

        let resp = pool.send(&origin, request("GET")).await.unwrap();
        let mut body = resp.into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert!(first.data_ref().is_some_and(|d| d.len() < 65536));
        drop(body);
        let resp = pool.send(&origin, request("GET")).await.unwrap();
        let whole = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(whole.len(), 65536);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// A kept connection the backend closed while idle is not used: the request goes out
    /// on a new one and is answered.
    #[tokio::test]
    async fn a_connection_the_backend_closed_is_replaced_without_an_error() {
        let (origin, accepted) = backend(true).await;
        let (pool, origin): (_, Arc<str>) = (pool(), origin.into());
        for round in 1..=3 {
            let resp = pool.send(&origin, request("GET")).await.unwrap();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body.len(), 65536);
            // Let the close arrive before the next request.
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(accepted.load(Ordering::SeqCst), round);
        }
    }
}
