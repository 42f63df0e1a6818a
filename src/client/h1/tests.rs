//! The HTTP/1.1 codec against hyper: the same exchanges through hyper's client and
//! through [`H1Connection`] must give the same status, headers and body bytes; bodies
//! split at every size must read back whole; closed connections must not be reused.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// What the hyper test server answers for each path.
async fn answer(req: Request<Incoming>) -> Result<Response<BodyOf>, Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    // Count (and check) what a PUT sent.
    let sent = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let expected: Vec<u8> = GeneratedBody::new(sent.len() as u64)
        .chunks()
        .flatten()
        .copied()
        .collect();
    let body = |b: Vec<u8>| -> BodyOf { Full::new(Bytes::from(b)).map_err(|e| match e {}).boxed() };
    let resp = match path.as_str() {
        "/put" => Response::builder()
            .header("x-received", sent.len())
            .header(
                "x-intact",
                (sent.as_ref() == expected.as_slice()).to_string(),
            )
            .body(body(Vec::new())),
        "/len" => Response::builder()
            .header("x-amz-request-id", "tx-1")
            .header("server-timing", "backend;dur=1.5")
            .header("server-timing", "cache;desc=miss")
            .body(body(vec![7u8; 5000])),
        "/chunked" => {
            // Frames of growing sizes: hyper sends them as chunks.
            let frames: Vec<Result<Frame<Bytes>, Infallible>> = [1usize, 10, 1000, 40_000, 3]
                .into_iter()
                .map(|n| Ok(Frame::data(Bytes::from(vec![b'c'; n]))))
                .collect();
            Ok(Response::new(
                StreamBody::new(futures_util::stream::iter(frames)).boxed(),
            ))
        }
        "/empty" => Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(body(Vec::new())),
        "/close" => Response::builder()
            .header("connection", "close")
            .body(body(b"bye".to_vec())),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header("x-method", method.as_str())
            .body(body(b"<Error><Code>NoSuchKey</Code></Error>".to_vec())),
    };
    Ok(resp.unwrap())
}

type BodyOf = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A hyper HTTP/1.1 server on loopback answering with [`answer`].
async fn hyper_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer)),
            );
        }
    });
    addr
}

/// A request as the codec sends it (head and body); hyper gets the same as an
/// `http::Request`.
struct TestRequest {
    head: RequestHead,
    body: GeneratedBody,
}

impl TestRequest {
    async fn send_on(&self, conn: &mut H1Connection) -> Result<(), H1Error> {
        conn.send(&self.head, &self.body).await
    }
}

fn request(method: Method, path: &str, body_len: u64, addr: std::net::SocketAddr) -> TestRequest {
    let mut head = RequestHead::default();
    head.start(method, &[path]).unwrap();
    head.header("host", &[addr.to_string().as_bytes()]);
    if body_len > 0 {
        head.header("content-length", &[body_len.to_string().as_bytes()]);
    }
    TestRequest {
        head,
        body: GeneratedBody::new(body_len),
    }
}

async fn connect(addr: std::net::SocketAddr) -> H1Connection {
    H1Connection::new(Stream::Tcp(TcpStream::connect(addr).await.unwrap()))
}

/// Status, headers (without `date`) and body of one exchange through the codec.
async fn through_codec(conn: &mut H1Connection, req: &TestRequest) -> (u16, HeaderMap, Vec<u8>) {
    req.send_on(conn).await.unwrap();
    let head = conn
        .read_head(req.head.method() == Method::HEAD, None)
        .await
        .unwrap();
    let mut headers = conn.headers().clone();
    let mut body = Vec::new();
    conn.read_body(&head, |d| body.extend_from_slice(d))
        .await
        .unwrap();
    headers.remove(http::header::DATE);
    (head.status, headers, body)
}

/// The same through hyper's client.
async fn through_hyper(addr: std::net::SocketAddr, req: TestRequest) -> (u16, HeaderMap, Vec<u8>) {
    let req = req.head.to_request(req.body, None).unwrap();
    let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let mut headers = resp.headers().clone();
    headers.remove(http::header::DATE);
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

#[tokio::test]
async fn answers_read_as_hyper_reads_them_on_one_kept_alive_connection() {
    let addr = hyper_server().await;
    let mut conn = connect(addr).await;
    let cases = [
        (Method::GET, "/len", 0),
        (Method::HEAD, "/len", 0),
        (Method::GET, "/chunked", 0),
        (Method::GET, "/empty", 0),
        (Method::GET, "/missing", 0),
        (Method::PUT, "/put", 100),
        (Method::PUT, "/put", 200_000),
        (Method::DELETE, "/missing", 0),
    ];
    for (method, path, len) in cases {
        assert!(conn.is_open(), "{method} {path}: the connection is reused");
        let ours = through_codec(&mut conn, &request(method.clone(), path, len, addr)).await;
        let theirs = through_hyper(addr, request(method.clone(), path, len, addr)).await;
        assert_eq!(ours, theirs, "{method} {path}");
    }
    let (_, headers, _) =
        through_codec(&mut conn, &request(Method::PUT, "/put", 200_000, addr)).await;
    assert_eq!(headers["x-received"], "200000");
    assert_eq!(headers["x-intact"], "true");
    let (_, headers, body) =
        through_codec(&mut conn, &request(Method::GET, "/chunked", 0, addr)).await;
    assert_eq!(body.len(), 41_014);
    assert!(headers.contains_key(http::header::TRANSFER_ENCODING));
    assert_eq!(
        through_codec(&mut conn, &request(Method::GET, "/len", 0, addr))
            .await
            .1
            .get_all("server-timing")
            .iter()
            .count(),
        2,
        "repeated headers are all kept"
    );
}

#[tokio::test]
async fn only_the_named_headers_are_kept_and_the_body_still_framed() {
    let addr = hyper_server().await;
    let mut conn = connect(addr).await;
    let only = [HeaderName::from_static("x-amz-request-id")];
    for _ in 0..2 {
        request(Method::GET, "/len", 0, addr)
            .send_on(&mut conn)
            .await
            .unwrap();
        let head = conn.read_head(false, Some(&only)).await.unwrap();
        assert_eq!(
            conn.headers().len(),
            1,
            "this answer's only, none of the last"
        );
        assert_eq!(conn.headers()["x-amz-request-id"], "tx-1");
        let mut n = 0;
        conn.read_body(&head, |d| n += d.len()).await.unwrap();
        assert_eq!(n, 5000);
    }
}

#[tokio::test]
async fn a_connection_the_server_closes_is_not_reused() {
    let addr = hyper_server().await;
    let mut conn = connect(addr).await;
    let (status, _, body) =
        through_codec(&mut conn, &request(Method::GET, "/close", 0, addr)).await;
    assert_eq!((status, body.as_slice()), (200, b"bye".as_slice()));
    assert!(!conn.is_open(), "the server said Connection: close");

    // A server that closes an idle connection without saying so.
    let addr = raw_server(
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec(),
        usize::MAX,
        Then::CloseAfter(Duration::from_millis(50)),
    )
    .await;
    let mut conn = connect(addr).await;
    let (status, _, _) = through_codec(&mut conn, &request(Method::GET, "/", 0, addr)).await;
    assert_eq!(status, 200);
    assert!(conn.is_open(), "still open right after the answer");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!conn.is_open(), "the server closed it while idle");
}

/// What a raw server does once its answer is written.
enum Then {
    /// Waits for the client to send again (the connection stays open).
    Wait,
    Close,
    CloseAfter(Duration),
}

/// A raw server answering one request with `response`, in pieces of `piece` bytes, each
/// its own write, then doing `then`.
async fn raw_server(response: Vec<u8>, piece: usize, then: Then) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        for part in response.chunks(piece) {
            // The client may have given up on a malformed answer.
            if s.write_all(part).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
        match then {
            Then::Wait => {
                let _ = s.read(&mut buf).await;
            }
            Then::Close => {}
            Then::CloseAfter(delay) => tokio::time::sleep(delay).await,
        }
    });
    addr
}

#[tokio::test]
async fn split_answers_read_whole_interim_answers_are_skipped() {
    const CHUNKED: &[u8] = b"HTTP/1.1 100 Continue\r\nX-Amz-Request-Id: early\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Amz-Request-Id: tx9\r\n\r\n\
        5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: t\r\n\r\n";
    for piece in [1, 2, 3, 7, 64, 4096] {
        let addr = raw_server(CHUNKED.to_vec(), piece, Then::Wait).await;
        let mut conn = connect(addr).await;
        let (status, headers, body) =
            through_codec(&mut conn, &request(Method::GET, "/", 0, addr)).await;
        assert_eq!(status, 200, "pieces of {piece}");
        let ids: Vec<_> = headers.get_all("x-amz-request-id").iter().collect();
        assert_eq!(
            ids,
            ["tx9"],
            "the interim answer's headers are not the answer's"
        );
        assert_eq!(
            body, b"helloabcdefghijklmnopqrstuvwxyz",
            "pieces of {piece}"
        );
        assert!(
            conn.is_open(),
            "a chunked answer read to its end leaves the connection usable"
        );
    }
}

#[tokio::test]
async fn truncated_and_malformed_answers_are_errors() {
    for (response, closed) in [
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort".as_slice(),
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel".as_slice(),
            true,
        ),
        (b"HTTP/1.1 200 OK\r\ncontent-le".as_slice(), true),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n".as_slice(),
            false,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".as_slice(),
            false,
        ),
        (b"SMTP ready\r\n\r\n".as_slice(), false),
    ] {
        let addr = raw_server(response.to_vec(), usize::MAX, Then::Close).await;
        let mut conn = connect(addr).await;
        request(Method::GET, "/", 0, addr)
            .send_on(&mut conn)
            .await
            .unwrap();
        let result = match conn.read_head(false, None).await {
            Ok(head) => conn.read_body(&head, |_| {}).await,
            Err(e) => Err(e),
        };
        let text = String::from_utf8_lossy(response);
        match result {
            Err(H1Error::Closed) => assert!(closed, "{text}"),
            Err(H1Error::Malformed(_)) => assert!(!closed, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
        assert!(!conn.is_open(), "{text}");
    }
}

#[tokio::test]
async fn an_answer_without_length_runs_to_the_end_of_the_stream() {
    let addr = raw_server(b"HTTP/1.0 200 OK\r\n\r\nall of it".to_vec(), 4, Then::Close).await;
    let mut conn = connect(addr).await;
    let (status, _, body) = through_codec(&mut conn, &request(Method::GET, "/", 0, addr)).await;
    assert_eq!((status, body.as_slice()), (200, b"all of it".as_slice()));
    assert!(
        !conn.is_open(),
        "an answer framed by the close ends the connection"
    );
}

/// Whatever a server sends, the codec ends with an answer or an error: no panic, no
/// endless read (each case's server closes after its bytes).
#[test]
fn any_bytes_from_a_server_end_in_an_answer_or_an_error() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let heads = [
        b"".as_slice(),
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 40\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
    ];
    let strategy = (
        proptest::sample::select(heads.to_vec()),
        proptest::collection::vec(
            prop_oneof![
                any::<u8>(),
                proptest::sample::select(b"\r\n0123456789abcdefABCDEF;:, ".to_vec())
            ],
            0..300,
        ),
    );
    let mut runner = TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(head, tail)| {
            let response: Vec<u8> = [head, tail.as_slice()].concat();
            let outcome = runtime.block_on(async move {
                let addr = raw_server(response, usize::MAX, Then::Close).await;
                let mut conn = connect(addr).await;
                let exchange = async {
                    request(Method::GET, "/", 0, addr)
                        .send_on(&mut conn)
                        .await?;
                    let head = conn.read_head(false, None).await?;
                    conn.read_body(&head, |_| {}).await
                };
                tokio::time::timeout(Duration::from_secs(5), exchange).await
            });
            prop_assert!(outcome.is_ok(), "the read did not end");
            Ok(())
        })
        .unwrap();
}
