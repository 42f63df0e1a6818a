//! Opening one connection to a target: TCP connect, then (for `https://`) the TLS
//! handshake, then HTTP/1.1 or HTTP/2 as ALPN decided, each step timed.
//!
//! Used by the measured client for every connection it opens and by `probe`, which
//! also shows what the handshake revealed (protocol, certificate). Knows nothing of
//! requests or recording.

use std::time::{Duration, Instant};

use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::body::GeneratedBody;
use super::h1::{H1Connection, Stream};
use crate::tls::client::{ClientTls, describe, tls_error};

/// Where and how to connect: `host:port`, and TLS for `https://` targets.
#[derive(Clone)]
pub struct Endpoint {
    pub authority: http::uri::Authority,
    pub tls: Option<ClientTls>,
}

/// A request sender on an open connection: HTTP/1.1 exchanges run in the sending task
/// itself; HTTP/2 ones through hyper's connection task.
pub enum Sender {
    H1(H1Connection),
    H2(http2::SendRequest<GeneratedBody>),
}

/// How long opening a connection took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenTimes {
    /// Name resolution and TCP connect.
    pub connect: Duration,
    /// The TLS handshake (`None`: plain http).
    pub tls: Option<Duration>,
}

/// A connection just opened, and what its handshake showed.
pub struct Opened {
    pub sender: Sender,
    pub times: OpenTimes,
    /// TLS version and ALPN protocol, e.g. ("TLSv1_3", "h2").
    pub tls_protocol: Option<(String, String)>,
    /// The server's certificate chain (leaf first), when TLS.
    pub peer_certificates: Vec<CertificateDer<'static>>,
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// No TCP connection within the timeout, refused, or unresolvable.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The TLS handshake failed; the text says why in a user's words.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// HTTP could not start on the connection.
    #[error("HTTP did not start: {0}")]
    Http(String),
}

/// Opens one connection to `endpoint` within `timeout` (connect and handshake together).
pub async fn dial(endpoint: &Endpoint, timeout: Duration) -> Result<Opened, DialError> {
    match tokio::time::timeout(timeout, dial_unbounded(endpoint)).await {
        Ok(r) => r,
        Err(_) => Err(DialError::Connect(format!(
            "no connection to {} within {timeout:?}",
            endpoint.authority
        ))),
    }
}

async fn dial_unbounded(endpoint: &Endpoint) -> Result<Opened, DialError> {
    let started = Instant::now();
    let stream = TcpStream::connect(endpoint.authority.as_str())
        .await
        .map_err(|e| DialError::Connect(format!("{}: {e}", endpoint.authority)))?;
    let _ = stream.set_nodelay(true);
    let connect = started.elapsed();
    let Some(tls) = &endpoint.tls else {
        let sender = Sender::H1(H1Connection::new(Stream::Tcp(stream)));
        return Ok(Opened {
            sender,
            times: OpenTimes { connect, tls: None },
            tls_protocol: None,
            peer_certificates: Vec::new(),
        });
    };
    let handshake_started = Instant::now();
    let stream = TlsConnector::from(tls.config.clone())
        .connect(tls.server_name.clone(), stream)
        .await
        .map_err(|e| match tls_error(&e) {
            Some(t) => DialError::Tls(describe(t)),
            None => DialError::Tls(e.to_string()),
        })?;
    let handshake = handshake_started.elapsed();
    let session = stream.get_ref().1;
    let h2 = session.alpn_protocol() == Some(b"h2");
    let tls_protocol = Some((
        session
            .protocol_version()
            .map_or_else(|| "unknown".into(), |v| format!("{v:?}")),
        session.alpn_protocol().map_or_else(
            || "none".into(),
            |p| String::from_utf8_lossy(p).into_owned(),
        ),
    ));
    let peer_certificates = session
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    let sender = match h2 {
        true => start_h2(stream).await?,
        false => Sender::H1(H1Connection::new(Stream::Tls(Box::new(stream)))),
    };
    Ok(Opened {
        sender,
        times: OpenTimes {
            connect,
            tls: Some(handshake),
        },
        tls_protocol,
        peer_certificates,
    })
}

/// Starts HTTP/2 on `io`; the connection task runs until the server closes it or every
/// sender is dropped.
async fn start_h2<T>(io: T) -> Result<Sender, DialError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(io))
        .await
        .map_err(|e| DialError::Http(e.to_string()))?;
    tokio::spawn(connection);
    Ok(Sender::H2(sender))
}
