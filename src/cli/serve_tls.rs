//! The `--tls-*` options `gatebench gateway` and `gatebench idp` both take, and the
//! rustls server configuration they ask for.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;

use crate::tls::generate::{LeafOptions, SelfSigned};
use crate::tls::server;

/// `--tls-*` options of `gatebench gateway` and `gatebench idp`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeTlsArgs {
    /// Serve HTTPS with this PEM certificate (chain); needs --tls-key.
    #[arg(
        long,
        value_name = "PEM",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a generated test CA and certificate (for localhost, 127.0.0.1,
    /// ::1) written to DIR as ca.pem, cert.pem, key.pem, client.pem, client-key.pem;
    /// reused if all are there. Clients trust DIR/ca.pem.
    #[arg(long, value_name = "DIR")]
    pub tls_self_signed: Option<PathBuf>,
    /// Another name for the --tls-self-signed certificate (e.g. a container's host
    /// name); repeat for more. Only when DIR is written, not when it is reused.
    #[arg(long = "tls-name", value_name = "NAME", requires = "tls_self_signed")]
    pub tls_names: Vec<String>,
    /// Require a client certificate signed by this PEM CA (mTLS); needs --tls-cert or
    /// --tls-self-signed.
    #[arg(long, value_name = "PEM")]
    pub tls_client_ca: Option<PathBuf>,
}

impl ServeTlsArgs {
    /// The server configuration these options ask for (`None`: plain HTTP). Writes the
    /// self-signed folder if needed and says on stderr where the CA is.
    pub fn server_config(&self) -> anyhow::Result<Option<Arc<ServerConfig>>> {
        let client_ca = self.tls_client_ca.as_deref();
        match (&self.tls_cert, &self.tls_key, &self.tls_self_signed) {
            (Some(cert), Some(key), _) => server::server_config(cert, key, client_ca).map(Some),
            (_, _, Some(dir)) => {
                let leaf = LeafOptions {
                    extra_names: self.tls_names.clone(),
                    ..Default::default()
                };
                let (files, new) = SelfSigned::reuse_or_write(dir, &leaf)?;
                eprintln!(
                    "TLS: {} test certificate in {}; clients trust {} (mTLS client \
                     certificate: {} + {})",
                    if new { "new" } else { "reusing the" },
                    dir.display(),
                    files.ca.display(),
                    files.client_cert.display(),
                    files.client_key.display(),
                );
                server::server_config(&files.cert, &files.key, client_ca).map(Some)
            }
            _ => {
                anyhow::ensure!(
                    client_ca.is_none(),
                    "--tls-client-ca needs TLS: add --tls-cert/--tls-key or --tls-self-signed DIR"
                );
                Ok(None)
            }
        }
    }
}
