//! Test CAs and leaf certificates (rcgen): for `gatebench certs DIR`, `--tls-self-signed
//! DIR` and the tests.
//!
//! One CA signs a server leaf (`cert.pem` + `key.pem`) and a client certificate for
//! mTLS (`client.pem` + `client-key.pem`); clients trust `ca.pem`. The CA's key is not
//! written, so nothing can mint more certificates from the folder. For local runs and
//! tests only: never a production certificate.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};

/// The names every leaf holds unless `LeafOptions::without_loopback`.
pub const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// What the server leaf looks like.
#[derive(Debug, Clone, Default)]
pub struct LeafOptions {
    /// DNS names or IP addresses beyond `LOOPBACK_NAMES` (e.g. a container's host name).
    pub extra_names: Vec<String>,
    /// Leave the loopback names out (a certificate that does not name the host).
    pub without_loopback: bool,
    /// Valid only in 2000 (an expired certificate).
    pub expired: bool,
}

/// The PEM files of a generated set.
#[derive(Debug, Clone)]
pub struct SelfSignedFiles {
    /// The CA certificate clients trust.
    pub ca: PathBuf,
    /// The server leaf certificate (the leaf only, no chain).
    pub cert: PathBuf,
    /// The server leaf's private key (PKCS#8).
    pub key: PathBuf,
    /// A client certificate from the same CA, for mTLS.
    pub client_cert: PathBuf,
    /// The client certificate's private key.
    pub client_key: PathBuf,
}

impl SelfSignedFiles {
    /// The file names inside `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        SelfSignedFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        }
    }

    fn all(&self) -> [&PathBuf; 5] {
        [
            &self.ca,
            &self.cert,
            &self.key,
            &self.client_cert,
            &self.client_key,
        ]
    }
}

/// A CA with a server leaf and a client certificate, as PEM files.
pub struct SelfSigned;

impl SelfSigned {
    /// Generates a new set into `dir` (created if missing), replacing any files there.
    pub fn write(dir: &Path, leaf: &LeafOptions) -> anyhow::Result<SelfSignedFiles> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create folder {}", dir.display()))?;
        let files = SelfSignedFiles::in_dir(dir);
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "gatebench local test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca = Issuer::new(ca_params, ca_key);

        let mut names = if leaf.without_loopback {
            Vec::new()
        } else {
            LOOPBACK_NAMES.map(String::from).to_vec()
        };
        names.extend(leaf.extra_names.iter().cloned());
        let mut server = CertificateParams::new(names).context("certificate names")?;
        server
            .distinguished_name
            .push(DnType::CommonName, "gatebench local server");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if leaf.expired {
            server.not_before = date_time_ymd(2000, 1, 1);
            server.not_after = date_time_ymd(2000, 12, 31);
        }
        let server_key = KeyPair::generate()?;
        let server_cert = server.signed_by(&server_key, &ca)?;

        let mut client = CertificateParams::default();
        client
            .distinguished_name
            .push(DnType::CommonName, "gatebench local client");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate()?;
        let client_cert = client.signed_by(&client_key, &ca)?;

        for (path, pem) in [
            (&files.ca, ca_cert.pem()),
            (&files.cert, server_cert.pem()),
            (&files.key, server_key.serialize_pem()),
            (&files.client_cert, client_cert.pem()),
            (&files.client_key, client_key.serialize_pem()),
        ] {
            std::fs::write(path, pem)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(files)
    }

    /// The set already in `dir` if all its files are there, else a new one with `leaf`
    /// written there; and whether it was new.
    pub fn reuse_or_write(
        dir: &Path,
        leaf: &LeafOptions,
    ) -> anyhow::Result<(SelfSignedFiles, bool)> {
        let files = SelfSignedFiles::in_dir(dir);
        if files.all().iter().all(|f| f.is_file()) {
            return Ok((files, false));
        }
        Ok((Self::write(dir, leaf)?, true))
    }
}

#[cfg(test)]
mod tests {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

    use super::*;

    fn leaf_names(files: &SelfSignedFiles) -> Vec<String> {
        let der = crate::tls::load_certs(&files.cert).unwrap().remove(0);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        san.value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => d.to_string(),
                GeneralName::IPAddress(b) if b.len() == 4 => {
                    std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).unwrap()).to_string()
                }
                GeneralName::IPAddress(b) => {
                    std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).unwrap()).to_string()
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn leaf_names_loopback_and_extras_and_the_folder_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let options = LeafOptions {
            extra_names: vec!["gateway".into()],
            ..Default::default()
        };
        let files = SelfSigned::write(dir.path(), &options).unwrap();
        assert_eq!(
            leaf_names(&files),
            ["localhost", "127.0.0.1", "::1", "gateway"]
        );
        assert_eq!(crate::tls::load_certs(&files.cert).unwrap().len(), 1);
        crate::tls::load_key(&files.client_key).unwrap();

        let before = std::fs::read(&files.cert).unwrap();
        let (again, new) = SelfSigned::reuse_or_write(dir.path(), &options).unwrap();
        assert!(!new);
        assert_eq!(std::fs::read(&again.cert).unwrap(), before);
        std::fs::remove_file(&files.client_key).unwrap();
        let (_, new) = SelfSigned::reuse_or_write(dir.path(), &options).unwrap();
        assert!(new, "an incomplete folder is written anew");
        assert_ne!(std::fs::read(&files.cert).unwrap(), before);
    }

    #[test]
    fn a_leaf_without_loopback_names_and_an_expired_one() {
        let dir = tempfile::tempdir().unwrap();
        let files = SelfSigned::write(
            dir.path(),
            &LeafOptions {
                extra_names: vec!["elsewhere.example".into()],
                without_loopback: true,
                expired: true,
            },
        )
        .unwrap();
        assert_eq!(leaf_names(&files), ["elsewhere.example"]);
        let der = crate::tls::load_certs(&files.cert).unwrap().remove(0);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(cert.validity().not_after.to_datetime().year(), 2000);
    }
}
