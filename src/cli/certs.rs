//! `gatebench certs`: writes a test CA and certificates for serving TLS locally.

use std::path::PathBuf;

use super::ExitStatus;
use crate::tls::generate::{LeafOptions, SelfSigned};

/// Help text after the options of `gatebench certs`.
pub const CERTS_HELP: &str = "\
Writes a test CA and, signed by it, a server certificate for localhost, 127.0.0.1 and ::1
(plus every --name) and a client certificate for mTLS: DIR/ca.pem, cert.pem, key.pem,
client.pem, client-key.pem. Files already there are reused unless --force. For local
runs and tests only. See docs/tls.md.

Examples:
  gatebench certs certs
  gatebench certs /tmp/rgw-tls --name rgw.local --force
  gatebench gateway ... --tls-cert certs/cert.pem --tls-key certs/key.pem";

/// `gatebench certs` options.
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Folder to write the PEM files into (created if missing).
    pub dir: PathBuf,
    /// Another DNS name or IP address for the server certificate; repeat for more.
    #[arg(long = "name", value_name = "NAME")]
    pub names: Vec<String>,
    /// Write new files even if the folder holds a complete set.
    #[arg(long)]
    pub force: bool,
}

/// Writes (or reuses) the set and prints where each file is.
pub fn write(args: CertsArgs) -> ExitStatus {
    let leaf = LeafOptions {
        extra_names: args.names,
        ..Default::default()
    };
    let written = if args.force {
        SelfSigned::write(&args.dir, &leaf).map(|f| (f, true))
    } else {
        SelfSigned::reuse_or_write(&args.dir, &leaf)
    };
    match written {
        Ok((files, new)) => {
            eprintln!(
                "{} {}",
                if new { "wrote" } else { "reusing" },
                args.dir.display()
            );
            println!("ca:          {}", files.ca.display());
            println!("cert:        {}", files.cert.display());
            println!("key:         {}", files.key.display());
            println!("client cert: {}", files.client_cert.display());
            println!("client key:  {}", files.client_key.display());
            ExitStatus::Success
        }
        Err(e) => ExitStatus::Failed.with_error(format!("{e:#}")),
    }
}
