//! Small in-process S3-shaped servers whose behaviour is exact, for fidelity tests.
//!
//! They answer every request (any method, any path, no auth check) with 200, a tiny
//! body and (unless told not to) an `x-amz-request-id` (`tx` and a serial number) after
//! a precise delay, and can stall completely for a window of time.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gatebench::shared::latency::sleep_until_precisely;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;

/// What the server does to each request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Answer this long after the request arrives.
    pub delay: Duration,
    /// Stall: `(after, length)`: from `after` past the first GET until `after + length`,
    /// no answer leaves the server; answers due then leave when the stall ends.
    pub stall: Option<(Duration, Duration)>,
    /// Answer every GET with 500 (other methods still 200).
    pub fail_gets: bool,
    /// A pool of this many workers: at most this many answers are in progress at once,
    /// each taking `delay` from when a worker takes it up (a known capacity of
    /// `workers / delay` requests per second).
    pub workers: Option<usize>,
    /// Requests whose path ends with one of these wait `slow_delay` more.
    pub slow_paths: &'static [&'static str],
    pub slow_delay: Duration,
    /// Answer without an `x-amz-request-id`.
    pub no_request_id: bool,
}

/// A running test server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub runtime: tokio::runtime::Runtime,
    /// Connections accepted so far.
    pub accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl TestServer {
    /// Starts a server with `behaviour` on a free loopback port.
    pub fn start(behaviour: Behaviour) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let first_get: Arc<Mutex<Option<Instant>>> = Arc::default();
        let served = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        let pool = behaviour
            .workers
            .map(|n| Arc::new(tokio::sync::Semaphore::new(n)));
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let _ = stream.set_nodelay(true);
                let (first_get, served) = (first_get.clone(), served.clone());
                let pool = pool.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (first_get, served) = (first_get.clone(), served.clone());
                        let pool = pool.clone();
                        async move {
                            let _worker = match &pool {
                                Some(p) => Some(p.clone().acquire_owned().await.unwrap()),
                                None => None,
                            };
                            let arrived = Instant::now();
                            if req.method() == hyper::Method::GET {
                                first_get.lock().unwrap().get_or_insert(arrived);
                            }
                            let mut ready = arrived + behaviour.delay;
                            let path = req.uri().path();
                            if behaviour.slow_paths.iter().any(|p| path.ends_with(p)) {
                                ready += behaviour.slow_delay;
                            }
                            if let (Some((after, len)), Some(t0)) =
                                (behaviour.stall, *first_get.lock().unwrap())
                            {
                                let (start, end) = (t0 + after, t0 + after + len);
                                if ready >= start && ready < end {
                                    ready = end;
                                }
                            }
                            sleep_until_precisely(ready).await;
                            let mut resp =
                                hyper::Response::new(Full::new(Bytes::from_static(b"ok")));
                            let n = served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if !behaviour.no_request_id {
                                resp.headers_mut().insert(
                                    "x-amz-request-id",
                                    hyper::header::HeaderValue::from_str(&format!("tx{n:012}"))
                                        .unwrap(),
                                );
                            }
                            if behaviour.fail_gets && req.method() == hyper::Method::GET {
                                *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                            }
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        TestServer {
            addr,
            runtime,
            accepted,
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A scenario against `endpoint` with the given `[load]` and `[run]` bodies; GETs only.
pub fn scenario(name: &str, endpoint: &str, run: &str, load: &str) -> String {
    scenario_with_targets(name, &["server"], endpoint, run, load)
}

/// [`scenario`] with one `s3` target per name, all against `endpoint`.
pub fn scenario_with_targets(
    name: &str,
    targets: &[&str],
    endpoint: &str,
    run: &str,
    load: &str,
) -> String {
    let mut text = format!(
        r#"name = "{name}"
[run]
{run}
[load]
{load}
[data]
buckets = ["fidelity"]
objects = 1
size = "2B"
[mix]
get = 1
"#
    );
    for t in targets {
        text.push_str(&format!(
            "[targets.{t}]\nkind = \"s3\"\nendpoint = \"{endpoint}\"\naccess_key = \"test\"\nsecret_key = \"test\"\n"
        ));
    }
    text
}

/// A server that accepts connections and never answers (nor closes them), on a free
/// loopback port; it lives as long as the test process.
pub fn silent_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    addr
}

/// A token endpoint that refuses every request with an RFC 6749 error whose
/// `error_description` echoes the whole request, body included (as some servers do);
/// returns its URL.
pub fn echoing_token_endpoint() -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                request.push_str(&line);
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            request.push_str(&String::from_utf8_lossy(&body));
            let answer = serde_json::json!({
                "error": "invalid_client",
                "error_description": format!("cannot accept request: {request}"),
            })
            .to_string();
            let _ = write!(
                reader.get_mut(),
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    format!("http://{addr}/token")
}

/// An https server that answers every request `200 ok` (HTTP/1.1 or HTTP/2, as ALPN
/// chose), serving `files`' leaf; with `mtls`, clients must present a certificate
/// from `files`' CA.
pub struct TlsTestServer {
    pub addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl TlsTestServer {
    /// Starts on a free loopback port.
    pub fn start(files: &gatebench::tls::generate::SelfSignedFiles, mtls: bool) -> Self {
        let config = gatebench::tls::server::server_config(
            &files.cert,
            &files.key,
            mtls.then_some(files.ca.as_path()),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let svc = service_fn(|_req: hyper::Request<hyper::body::Incoming>| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"ok",
                        ))))
                    });
                    let _ = Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        TlsTestServer {
            addr,
            _runtime: runtime,
        }
    }

    /// A scenario of `ops` GETs through a `gateway` target `gw` at this server (set up
    /// through an embedded target), with `tls` as the target's `tls = …` value and
    /// `run` added to `[run]`.
    pub fn scenario(&self, ops: u64, tls: &str, run: &str) -> String {
        format!(
            r#"name = "tls"
[run]
ops = {ops}
compare = "sequential"
{run}
[load]
executor = "closed-loop"
concurrency = 2
[data]
buckets = ["tlsbench"]
objects = 1
size = "2B"
[mix]
get = 1
[targets.store]
kind = "embedded"
[targets.gw]
kind = "gateway"
base_url = "https://{}/storage"
setup_via = "store"
tls = {tls}
"#,
            self.addr
        )
    }
}
