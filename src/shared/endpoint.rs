//! Where an S3 endpoint is and how to reach it: address, credentials, TLS settings and
//! HTTP version. Shared by the client side and the servers (the gateway's backend).

use std::path::PathBuf;

use serde::Serialize;

use super::secret::Secret;

/// Address and credentials of an S3 endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct S3Endpoint {
    /// `http://host:port`, no path.
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: Secret,
    /// How `https://` connections to the endpoint are checked.
    #[serde(skip_serializing_if = "TlsSpec::is_default")]
    pub tls: TlsSpec,
}

/// A target's `tls = { … }`: which certificates to trust, and who the client is.
/// Without any of it, an `https://` target is checked against the platform's roots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsSpec {
    /// PEM file of the CA(s) to trust instead of the platform's roots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for mutual TLS, with `client_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// The name to ask for (SNI) and check the certificate against, instead of the URL's host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Accept any certificate. Only for tests; warned about loudly.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
}

impl S3Endpoint {
    /// The static AWS credentials of the endpoint (for signing and for the SDK).
    pub fn credentials(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            self.access_key.clone(),
            self.secret_key.expose().to_string(),
            None,
            None,
            "gatebench",
        )
    }
}

impl TlsSpec {
    /// No TLS settings at all (platform roots, no client certificate).
    pub fn is_default(&self) -> bool {
        *self == TlsSpec::default()
    }
}

/// The HTTP version the client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HttpVersion {
    #[serde(rename = "1.1")]
    Http1,
    /// HTTP/2 over TLS, negotiated with ALPN (plain-http targets stay on 1.1).
    #[serde(rename = "2")]
    Http2,
}
