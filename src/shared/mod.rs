//! What the client side and the servers share: where an S3 endpoint is and its
//! credentials ([`S3Endpoint`], [`Secret`], [`TlsSpec`]), SigV4 signing, the embedded S3
//! server, the added-latency model, the request-id headers, client-assertion vocabulary and units. A leaf: it imports nothing of the crate but [`crate::redact`].

pub mod assertion;
pub mod embedded_s3;
pub mod endpoint;
pub mod latency;
pub mod request_ids;
pub mod secret;
pub mod sigv4;
#[cfg(test)]
pub mod test_heads;
pub mod units;

pub use endpoint::{HttpVersion, S3Endpoint, TlsSpec};
pub use secret::Secret;
