//! rustls server configurations for the local gateway and idp (optionally mTLS), and
//! how both start a connection (plain, or a TLS handshake first) and serve HTTP on it.
//!
//! A failed or stalled handshake ends that connection only, never the server.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// How long a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server configuration for the PEM `cert` (chain) and `key`, offering `h2` and
/// `http/1.1` by ALPN. With `client_ca`, every client must present a certificate that
/// chains to it (mTLS).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> anyhow::Result<Arc<ServerConfig>> {
    let provider = super::provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in super::load_certs(ca)? {
                roots.add(c).with_context(|| {
                    format!(
                        "{} holds a certificate rustls cannot use as a CA",
                        ca.display()
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .with_context(|| format!("client CA {}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(super::load_certs(cert)?, super::load_key(key)?)
        .with_context(|| {
            format!(
                "certificate {} does not match key {}",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A connection ready for HTTP, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// How a server's accepted connections start: as they are, or with a TLS handshake.
#[derive(Clone)]
pub enum Handshake {
    Plain,
    Tls(tokio_rustls::TlsAcceptor),
}

impl Handshake {
    /// TLS with `config`, or plain without one.
    pub fn new(config: Option<Arc<ServerConfig>>) -> Self {
        match config {
            Some(c) => Handshake::Tls(c.into()),
            None => Handshake::Plain,
        }
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Handshake::Plain => "http",
            Handshake::Tls(_) => "https",
        }
    }

    /// `tcp` ready for HTTP, or `None` when its handshake failed or took longer than
    /// `HANDSHAKE_TIMEOUT` (the connection is closed; the server goes on).
    pub async fn accept(&self, tcp: TcpStream) -> Option<Box<dyn Io>> {
        let _ = tcp.set_nodelay(true);
        match self {
            Handshake::Plain => Some(Box::new(tcp)),
            Handshake::Tls(acceptor) => {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => Some(Box::new(tls)),
                    Ok(Err(_)) | Err(_) => None,
                }
            }
        }
    }

    /// The HTTP server for these connections: HTTP/1.1 and HTTP/2 over TLS (the
    /// client's first bytes decide, as ALPN chose), HTTP/1.1 only on plain ones.
    pub fn http(&self) -> auto::Builder<TokioExecutor> {
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1().timer(TokioTimer::new());
        http.http2().timer(TokioTimer::new());
        match self {
            Handshake::Plain => http.http1_only(),
            Handshake::Tls(_) => http,
        }
    }
}

/// A client for the TLS tests of the gateway and idp (the load generator's own client
/// is `target::client`).
#[cfg(test)]
pub mod test_client {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    use crate::shared::TlsSpec;

    /// An https client configured by `tls`, speaking HTTP/2 only if `h2`, else HTTP/1.1.
    pub fn https(tls: &TlsSpec, h2: bool) -> Client<HttpsConnector<HttpConnector>, Full<Bytes>> {
        let builder = HttpsConnectorBuilder::new()
            .with_tls_config(crate::tls::client::config(tls).unwrap())
            .https_only();
        let connector = if h2 {
            builder.enable_http2().build()
        } else {
            builder.enable_http1().build()
        };
        Client::builder(TokioExecutor::new())
            .http2_only(h2)
            .build(connector)
    }

    /// Why a request failed, as the TLS client describes it (`None`: not a TLS failure).
    pub fn tls_reason(err: &hyper_util::client::legacy::Error) -> Option<String> {
        crate::tls::client::tls_error(err).map(crate::tls::client::describe)
    }
}
