//! A target's TLS client configuration, and the words for why a handshake failed.
//!
//! Trust: the target's `ca_file` if given (like curl's `--cacert`, it replaces the
//! platform's roots), else the platform's roots, else Mozilla's (webpki-roots). mTLS:
//! `client_cert` + `client_key`. `server_name` replaces the URL's host for SNI and for
//! the name check. `insecure_skip_verify` accepts any certificate (still checking the
//! handshake signatures, so the connection is as fast as a real one).

use std::sync::Arc;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::shared::{HttpVersion, TlsSpec};

/// A ready client configuration and the name to connect as.
#[derive(Clone)]
pub struct ClientTls {
    pub config: Arc<ClientConfig>,
    /// The name sent as SNI and checked against the certificate.
    pub server_name: ServerName<'static>,
}

impl ClientTls {
    /// The configuration for `spec` on a connection to `host`, offering `http` by ALPN
    /// (`h2` then `http/1.1` for HTTP/2; `http/1.1` only otherwise).
    pub fn new(spec: &TlsSpec, host: &str, http: HttpVersion) -> anyhow::Result<Self> {
        let mut config = config(spec)?;
        config.alpn_protocols = match http {
            HttpVersion::Http2 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        };
        let name = spec.server_name.as_deref().unwrap_or(host);
        // `http::Uri` keeps IPv6 hosts in brackets; rustls wants the bare address.
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(name.to_string())
            .with_context(|| format!("{name:?} is not a DNS name or IP address"))?;
        Ok(ClientTls {
            config: Arc::new(config),
            server_name,
        })
    }
}

/// The rustls configuration for `spec` (no ALPN set).
pub fn config(spec: &TlsSpec) -> anyhow::Result<ClientConfig> {
    let provider = super::provider();
    let algorithms = provider.signature_verification_algorithms;
    let builder =
        ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
    let builder = if spec.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(algorithms)))
    } else {
        builder.with_root_certificates(roots(spec)?)
    };
    match (&spec.client_cert, &spec.client_key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(super::load_certs(cert)?, super::load_key(key)?)
            .with_context(|| {
                format!(
                    "client certificate {} does not match key {}",
                    cert.display(),
                    key.display()
                )
            }),
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// The CAs a target's certificate must chain to.
fn roots(spec: &TlsSpec) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    if let Some(ca) = &spec.ca_file {
        for cert in super::load_certs(ca)? {
            roots.add(cert).with_context(|| {
                format!(
                    "{} holds a certificate rustls cannot use as a CA",
                    ca.display()
                )
            })?;
        }
        return Ok(roots);
    }
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    Ok(roots)
}

/// The rustls error somewhere in `err`'s chain of sources, if the failure was TLS's.
pub fn tls_error<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        // io::Error's `source()` skips the error it wraps (hyper-rustls wraps rustls's
        // error in two of them): step into the wrapped error instead.
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// Why a handshake failed, in a user's words, with what to change.
pub fn describe(err: &rustls::Error) -> String {
    use rustls::AlertDescription as Alert;
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                let when = match c {
                    CertificateError::ExpiredContext { not_after, .. } => {
                        format!(" (not valid after {})", unix_time(*not_after))
                    }
                    _ => String::new(),
                };
                format!("the server's certificate has expired{when}")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (check the clocks)".into()
            }
            CertificateError::UnknownIssuer => "the server's certificate has an unknown issuer: \
                 it does not chain to a trusted CA (set tls.ca_file to the CA that signed it)"
                .into(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                let names = match c {
                    CertificateError::NotValidForNameContext {
                        expected,
                        presented,
                    } => format!(
                        ": asked for {expected:?}, it names {}",
                        presented.join(", ")
                    ),
                    _ => String::new(),
                };
                format!(
                    "name mismatch: the server's certificate is not valid for this host{names} \
                     (connect by a name it holds, or set tls.server_name)"
                )
            }
            other => format!("the server's certificate was refused: {other:?}"),
        },
        rustls::Error::AlertReceived(Alert::CertificateRequired) => {
            "the server requires a client certificate (set tls.client_cert and tls.client_key)"
                .into()
        }
        rustls::Error::AlertReceived(
            a @ (Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::AccessDenied),
        ) => format!(
            "the server refused our client certificate ({a:?}); check tls.client_cert is one it trusts"
        ),
        rustls::Error::AlertReceived(a) => format!("the server ended the handshake: {a:?}"),
        other => format!("TLS failed: {other}"),
    }
}

/// `t` as an RFC 3339 UTC time.
fn unix_time(t: UnixTime) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.as_secs()),
    )
    .to_string()
}

/// `insecure_skip_verify`: any certificate, any name. Handshake signatures are still
/// checked with the provider's algorithms, so the work per handshake is a real one's.
#[derive(Debug)]
struct AcceptAnyCertificate(rustls::crypto::WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
