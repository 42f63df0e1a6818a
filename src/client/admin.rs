//! Setup and clean-up through `aws-sdk-s3`: buckets, the seeded read set, and removal of
//! this run's own objects. Never on the measured path; SDK retries are off so failures
//! show as they are.

use std::time::Duration;

use anyhow::Context;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::body::SdkBody;
use tokio::task::JoinSet;

use super::body::GeneratedBody;
use crate::shared::S3Endpoint;

/// Requests the admin client keeps in flight while seeding or deleting.
const ADMIN_CONCURRENCY: usize = 16;

/// Longest wait for a TCP connection to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The SDK's HTTP client for `endpoint`: plain, or rustls trusting its CA.
fn http_client(endpoint: &S3Endpoint) -> anyhow::Result<SharedHttpClient> {
    if !endpoint.endpoint.starts_with("https://") {
        return Ok(aws_smithy_http_client::Builder::new().build_http());
    }
    let tls = &endpoint.tls;
    anyhow::ensure!(
        tls.client_cert.is_none() && tls.server_name.is_none() && !tls.insecure_skip_verify,
        "setup and clean-up at {} go through the AWS SDK, whose TLS takes only tls.ca_file \
         (no client certificate, server_name or insecure_skip_verify)",
        endpoint.endpoint
    );
    let trust = match &tls.ca_file {
        Some(ca) => {
            let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
            TrustStore::empty().with_pem_certificate(pem)
        }
        None => TrustStore::default(),
    };
    let context = TlsContext::builder().with_trust_store(trust).build()?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https())
}

/// Whether `e` says the bucket does not exist (the SDK models `NoSuchBucket` for few
/// operations; RGW sends it for all).
fn no_such_bucket<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error()
        .is_some_and(|s| s.code() == Some("NoSuchBucket"))
}

/// An SDK client for one endpoint.
#[derive(Clone)]
pub struct Admin {
    s3: aws_sdk_s3::Client,
}

impl Admin {
    /// A client for `endpoint` (path-style, no retries, checksums only when required);
    /// a request still unanswered after `timeout` fails. Over `https://` it trusts the
    /// endpoint's `tls.ca_file`, else the platform's roots; the SDK's TLS takes no client
    /// certificate, other server name or skipped verification, so those are refused.
    pub fn new(endpoint: &S3Endpoint, timeout: Duration) -> anyhow::Result<Self> {
        let creds = endpoint.credentials();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(endpoint.region.clone()))
            .endpoint_url(endpoint.endpoint.clone())
            .credentials_provider(creds)
            .force_path_style(true)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(timeout.min(CONNECT_TIMEOUT))
                    .operation_attempt_timeout(timeout)
                    .operation_timeout(timeout)
                    .build(),
            )
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .http_client(http_client(endpoint)?)
            .build();
        Ok(Admin {
            s3: aws_sdk_s3::Client::from_conf(config),
        })
    }

    /// Creates each bucket that does not exist yet.
    pub async fn ensure_buckets(&self, buckets: &[String]) -> anyhow::Result<()> {
        for b in buckets {
            if self.s3.head_bucket().bucket(b).send().await.is_ok() {
                continue;
            }
            if let Err(e) = self.s3.create_bucket().bucket(b).send().await {
                let owned = e
                    .as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you());
                if !owned {
                    return Err(anyhow::anyhow!("{}", DisplayErrorContext(&e)))
                        .with_context(|| format!("cannot create bucket {b}"));
                }
            }
        }
        Ok(())
    }

    /// Writes each `(bucket, key, size)` object with a generated body.
    pub async fn put_objects(&self, objects: Vec<(String, String, u64)>) -> anyhow::Result<()> {
        self.bounded(objects, |s3, (bucket, key, size)| async move {
            let body = ByteStream::new(SdkBody::from_body_1_x(GeneratedBody::new(size)));
            s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .content_length(size as i64)
                .body(body)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    anyhow::anyhow!("cannot seed {bucket}/{key}: {}", DisplayErrorContext(&e))
                })
        })
        .await
    }

    /// Writes `body` to `bucket/key`.
    pub async fn put_bytes(&self, bucket: &str, key: &str, body: Vec<u8>) -> anyhow::Result<()> {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                anyhow::anyhow!("cannot write {bucket}/{key}: {}", DisplayErrorContext(&e))
            })
    }

    /// The body of `bucket/key`; `None` if there is no such object or bucket (yet).
    pub async fn get_bytes(&self, bucket: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(out) => {
                let body = out
                    .body
                    .collect()
                    .await
                    .with_context(|| format!("cannot read {bucket}/{key}"))?;
                Ok(Some(body.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) if no_such_bucket(&e) => Ok(None),
            Err(e) => Err(anyhow::anyhow!(
                "cannot read {bucket}/{key}: {}",
                DisplayErrorContext(&e)
            )),
        }
    }

    /// Keys under `prefix` in `bucket` (none if the bucket does not exist).
    pub async fn list_keys(&self, bucket: &str, prefix: &str) -> anyhow::Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            if page.as_ref().is_err_and(no_such_bucket) {
                break;
            }
            let page = page.map_err(|e| {
                anyhow::anyhow!("cannot list {bucket}/{prefix}: {}", DisplayErrorContext(&e))
            })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        Ok(keys)
    }

    /// Deletes every object under `prefix` in each bucket; returns how many.
    pub async fn delete_prefix(&self, buckets: &[String], prefix: &str) -> anyhow::Result<u64> {
        let mut all = Vec::new();
        for b in buckets {
            for key in self.list_keys(b, prefix).await? {
                all.push((b.clone(), key));
            }
        }
        let n = all.len() as u64;
        self.bounded(all, |s3, (bucket, key)| async move {
            s3.delete_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    anyhow::anyhow!("cannot delete {bucket}/{key}: {}", DisplayErrorContext(&e))
                })
        })
        .await?;
        Ok(n)
    }

    /// Aborts every incomplete multipart upload under `prefix` in each bucket; returns
    /// how many. A storage that cannot list uploads (`NotImplemented`) has none to abort.
    pub async fn abort_uploads(&self, buckets: &[String], prefix: &str) -> anyhow::Result<u64> {
        let mut all = Vec::new();
        for b in buckets {
            all.extend(self.list_uploads(b, prefix).await?);
        }
        let n = all.len() as u64;
        self.bounded(all, |s3, (bucket, key, id)| async move {
            s3.abort_multipart_upload()
                .bucket(&bucket)
                .key(&key)
                .upload_id(&id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot abort the upload of {bucket}/{key}: {}",
                        DisplayErrorContext(&e)
                    )
                })
        })
        .await?;
        Ok(n)
    }

    /// `(bucket, key, upload id)` of the incomplete multipart uploads under `prefix`.
    pub async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> anyhow::Result<Vec<(String, String, String)>> {
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .s3
                .list_multipart_uploads()
                .bucket(bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) if no_such_bucket(&e) => break,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.code() == Some("NotImplemented")) =>
                {
                    break;
                }
                Err(e) => {
                    return Err(anyhow::anyhow!(
                        "cannot list the uploads of {bucket}/{prefix}: {}",
                        DisplayErrorContext(&e)
                    ));
                }
            };
            out.extend(page.uploads().iter().filter_map(|u| {
                Some((
                    bucket.to_string(),
                    u.key()?.to_string(),
                    u.upload_id()?.to_string(),
                ))
            }));
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            id_marker = page.next_upload_id_marker().map(str::to_string);
            if key_marker.is_none() && id_marker.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Runs `f` over `items` with at most `ADMIN_CONCURRENCY` in flight; first error wins.
    async fn bounded<T, F, Fut>(&self, items: Vec<T>, f: F) -> anyhow::Result<()>
    where
        F: Fn(aws_sdk_s3::Client, T) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let mut set = JoinSet::new();
        for item in items {
            if set.len() >= ADMIN_CONCURRENCY
                && let Some(r) = set.join_next().await
            {
                r??;
            }
            set.spawn(f(self.s3.clone(), item));
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
        Ok(())
    }
}
