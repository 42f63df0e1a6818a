//! Checksums of generated PUT bodies, as the request headers carry them.
//!
//! A generated body depends on its length alone (`body::frames`), so its digest is
//! computed once per (length, algorithm) and kept: a run with fixed object sizes hashes
//! each size once. A run with a size distribution hashes each new length in the
//! request path, as an SDK computing checksums does; the cache is bounded.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::digest;
use base64::Engine as _;
use http::HeaderValue;

use super::body::frames;
use crate::plan::s3_options::Checksum;

/// Lengths whose digests are kept; beyond this the cache starts over.
const MAX_CACHED_LENGTHS: usize = 4096;

/// `x-amz-checksum-crc32c`: the body's CRC32C, base64 of its 4 big-endian bytes.
pub const X_AMZ_CHECKSUM_CRC32C: &str = "x-amz-checksum-crc32c";
/// `x-amz-sdk-checksum-algorithm`: which checksum an SDK sent.
pub const X_AMZ_SDK_CHECKSUM_ALGORITHM: &str = "x-amz-sdk-checksum-algorithm";

/// The header value of a body's checksum, by (length, algorithm), computed once.
#[derive(Default)]
pub struct BodyDigests {
    known: Mutex<HashMap<(u64, Checksum), HeaderValue>>,
}

impl BodyDigests {
    /// The header value for a generated body of `len` bytes: base64 CRC32C, or the hex
    /// SHA-256 (the SigV4 payload hash). `None` for `Checksum::None`.
    pub fn of(&self, checksum: Checksum, len: u64) -> Option<HeaderValue> {
        if checksum == Checksum::None {
            return None;
        }
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = known.get(&(len, checksum)) {
            return Some(v.clone());
        }
        let value = header_value(checksum, frames(len))?;
        if known.len() >= MAX_CACHED_LENGTHS {
            known.clear();
        }
        known.insert((len, checksum), value.clone());
        Some(value)
    }
}

/// The header value of `checksum` over the bytes `chunks` yields.
pub fn header_value<'a>(
    checksum: Checksum,
    chunks: impl Iterator<Item = &'a [u8]>,
) -> Option<HeaderValue> {
    let text = match checksum {
        Checksum::None => return None,
        Checksum::Crc32c => {
            let crc = chunks.fold(0, crc32c::crc32c_append);
            base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
        }
        Checksum::Sha256 => {
            let mut sha = digest::Context::new(&digest::SHA256);
            chunks.for_each(|c| sha.update(c));
            hex::encode(sha.finish())
        }
    };
    // Base64 and hex are ASCII.
    HeaderValue::try_from(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_values() {
        let one = |c, bytes: &'static [u8]| header_value(c, std::iter::once(bytes)).unwrap();
        // CRC32C("123456789") = 0xE3069283 (RFC 3720's check value).
        assert_eq!(one(Checksum::Crc32c, b"123456789"), "4waSgw==");
        assert_eq!(
            one(Checksum::Sha256, b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(header_value(Checksum::None, std::iter::once(&b"x"[..])).is_none());
    }

    /// The cached digest of a length is the digest of the body's bytes taken whole, and
    /// differs between lengths.
    #[test]
    fn cached_digests_are_those_of_the_bytes_sent() {
        let digests = BodyDigests::default();
        for checksum in [Checksum::Crc32c, Checksum::Sha256] {
            for len in [1u64, 65_536, 65_537, 300_000] {
                let whole: Vec<u8> = frames(len).flatten().copied().collect();
                let expected = header_value(checksum, std::iter::once(whole.as_slice()));
                assert_eq!(digests.of(checksum, len), expected, "{checksum:?} {len}");
                assert_eq!(digests.of(checksum, len), expected, "cached");
            }
            assert_ne!(digests.of(checksum, 10), digests.of(checksum, 11));
        }
        assert_eq!(digests.of(Checksum::None, 10), None);
    }
}
