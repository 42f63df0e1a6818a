//! Per-request S3 options a scenario can ask for: which bytes a GET reads (`range`),
//! which checksum a PUT carries (`checksum`) and how an s3 target names buckets
//! (`addressing`).
//!
//! Plain data, and the one rule that turns a range option into the bytes of one object.
//! Parsing is `scenario`'s job, sending the headers `client`'s.

use std::fmt;

use rand::Rng;
use serde::Serialize;

/// Which bytes of an object a ranged GET reads (`range = "first:1MiB" | "random:64KiB"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RangeSpec {
    /// The first `n` bytes.
    First(u64),
    /// `n` bytes at a seeded offset.
    Random(u64),
}

impl RangeSpec {
    /// The bytes to read of an object of `size` bytes: `n` of them (all of a smaller
    /// object), from 0 or from an offset drawn from `offsets`. `None` for an empty
    /// object, which has no byte to name. Only `Random` draws from `offsets`.
    pub fn bytes_of<R: Rng>(self, size: u64, offsets: &mut R) -> Option<ByteRange> {
        let (RangeSpec::First(n) | RangeSpec::Random(n)) = self;
        let len = n.min(size);
        if len == 0 {
            return None;
        }
        let first = match self {
            RangeSpec::First(_) => 0,
            RangeSpec::Random(_) => offsets.random_range(0..=size - len),
        };
        Some(ByteRange {
            first,
            last: first + len - 1,
        })
    }
}

impl fmt::Display for RangeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeSpec::First(n) => write!(f, "first:{n}"),
            RangeSpec::Random(n) => write!(f, "random:{n}"),
        }
    }
}

/// Bytes `first..=last` of an object, as `Range: bytes=first-last` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ByteRange {
    pub first: u64,
    /// The last byte read (inclusive, as HTTP counts).
    pub last: u64,
}

impl ByteRange {
    /// How many bytes the range holds.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Never true: a range names at least one byte (for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The checksum a PUT carries (`checksum = "none" | "crc32c" | "sha256"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Checksum {
    /// No checksum: the SigV4 payload hash is `UNSIGNED-PAYLOAD`.
    #[default]
    None,
    /// `x-amz-checksum-crc32c` (what current AWS SDKs send by default).
    Crc32c,
    /// The body's SHA-256 as the SigV4 payload hash (`x-amz-content-sha256`).
    Sha256,
}

impl Checksum {
    /// True for `None` (serialisation skips the default).
    pub fn is_none(&self) -> bool {
        *self == Checksum::None
    }
}

/// How an s3 target names the bucket (`addressing = "path" | "virtual"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Addressing {
    /// `Host: endpoint`, path `/bucket/key`.
    #[default]
    Path,
    /// `Host: bucket.endpoint`, path `/key` (RGW needs `rgw_dns_name`).
    Virtual,
}

impl Addressing {
    /// True for `Path` (serialisation skips the default).
    pub fn is_path(&self) -> bool {
        *self == Addressing::Path
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    use super::*;

    #[test]
    fn ranges_stay_inside_the_object_and_clamp_to_it() {
        let mut rng = Pcg64::seed_from_u64(1);
        let first = RangeSpec::First(1024);
        assert_eq!(
            first.bytes_of(10_000, &mut rng),
            Some(ByteRange {
                first: 0,
                last: 1023
            })
        );
        assert_eq!(
            first.bytes_of(100, &mut rng),
            Some(ByteRange { first: 0, last: 99 })
        );
        assert_eq!(first.bytes_of(0, &mut rng), None);
        let random = RangeSpec::Random(64);
        let mut offsets = std::collections::HashSet::new();
        for _ in 0..1_000 {
            let r = random.bytes_of(1_000, &mut rng).unwrap();
            assert_eq!(r.len(), 64);
            assert!(r.last < 1_000);
            offsets.insert(r.first);
        }
        assert!(offsets.len() > 500, "offsets spread over the object");
        assert!(offsets.contains(&0) || offsets.iter().any(|o| *o < 20));
        let whole = random.bytes_of(10, &mut rng).unwrap();
        assert_eq!((whole.first, whole.last), (0, 9));
    }

    #[test]
    fn first_ranges_draw_nothing() {
        let (mut a, b) = (Pcg64::seed_from_u64(5), Pcg64::seed_from_u64(5));
        RangeSpec::First(8).bytes_of(100, &mut a);
        assert_eq!(a, b);
    }
}
