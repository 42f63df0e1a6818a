//! The embedded S3 server (`s3s` + `s3s-fs`) for first runs with nothing installed.
//!
//! It serves a temporary folder on a free loopback port with SigV4 checked against
//! random keys. Its numbers measure the harness and the local disk, never storage.

use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use rand::distr::{Alphanumeric, SampleString};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::shared::{S3Endpoint, Secret};

/// A running embedded server; it stops and its folder is removed when dropped.
pub struct EmbeddedS3 {
    /// Where to reach it and with which keys.
    pub endpoint: S3Endpoint,
    accept_loop: JoinHandle<()>,
    _root: tempfile::TempDir,
}

impl EmbeddedS3 {
    /// Starts a server on `127.0.0.1:<free port>`.
    pub async fn start() -> anyhow::Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("gatebench-embedded-")
            .tempdir()?;
        let fs = s3s_fs::FileSystem::new(root.path())
            .map_err(|e| anyhow::anyhow!("embedded S3 server: {e:?}"))?;
        let access_key = Alphanumeric.sample_string(&mut rand::rng(), 20);
        let secret_key = Alphanumeric.sample_string(&mut rand::rng(), 40);
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(
                access_key.clone(),
                secret_key.clone(),
            ));
            b.build()
        };
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let accept_loop = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(EmbeddedS3 {
            endpoint: S3Endpoint {
                endpoint: format!("http://{addr}"),
                region: "us-east-1".into(),
                access_key,
                secret_key: Secret::new(secret_key),
                tls: Default::default(),
            },
            accept_loop,
            _root: root,
        })
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}
