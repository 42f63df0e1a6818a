//! Multipart uploads as the plan states them: object size, part size, parts in flight,
//! and how an object of a given size is cut into parts (S3's arithmetic: every part
//! `part_size` bytes but the last, which holds the rest).
//!
//! Plain data and arithmetic only; the requests are the client's and the engine's.

use serde::Serialize;

use super::SizeDist;

/// The smallest part S3 accepts, except for the last part of an upload (5 MiB).
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

/// The largest part S3 accepts (5 GiB).
pub const MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// The most parts one upload may have.
pub const MAX_PARTS: u64 = 10_000;

/// The most parts one upload keeps in flight at once (each on its own connection).
pub const MAX_PARALLEL_PARTS: u32 = 64;

/// `[mix] multipart = { weight, size, part_size, parallel_parts }` once validated.
#[derive(Debug, Clone, Serialize)]
pub struct MultipartSpec {
    /// Size of each uploaded object.
    pub size: SizeDist,
    /// Bytes per part, the last part excepted.
    pub part_size: u64,
    /// Parts in flight at once.
    pub parallel_parts: u32,
}

/// One part of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// S3's part number, from 1.
    pub number: u32,
    /// Its length in bytes.
    pub len: u64,
}

/// How many parts an object of `size` bytes has with parts of `part_size` (at least one:
/// an empty object is one empty part).
pub fn part_count(size: u64, part_size: u64) -> u64 {
    size.div_ceil(part_size.max(1)).max(1)
}

/// Part `number` (from 1) of an object of `size` bytes cut into `part_size` parts;
/// `None` past the last part.
pub fn part(size: u64, part_size: u64, number: u32) -> Option<Part> {
    let part_size = part_size.max(1);
    let index = u64::from(number.checked_sub(1)?);
    if index >= part_count(size, part_size) {
        return None;
    }
    let start = index * part_size;
    Some(Part {
        number,
        len: (size - start).min(part_size),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn parts(size: u64, part_size: u64) -> Vec<u64> {
        (1..)
            .map_while(|n| part(size, part_size, n))
            .map(|p| p.len)
            .collect()
    }

    #[test]
    fn the_smallest_parts_never_need_more_than_s3_allows() {
        let largest = crate::plan::size::MAX_OBJECT_BYTES;
        assert!(part_count(largest, MIN_PART_BYTES) <= MAX_PARTS);
    }

    #[test]
    fn an_exact_multiple_has_equal_parts() {
        assert_eq!(part_count(64 * MIB, 8 * MIB), 8);
        assert_eq!(parts(64 * MIB, 8 * MIB), vec![8 * MIB; 8]);
    }

    #[test]
    fn the_last_part_holds_the_rest() {
        assert_eq!(part_count(20 * MIB + 1, 8 * MIB), 3);
        assert_eq!(
            parts(20 * MIB + 1, 8 * MIB),
            vec![8 * MIB, 8 * MIB, 4 * MIB + 1]
        );
        assert_eq!(parts(5 * MIB - 3, 8 * MIB), vec![5 * MIB - 3]);
        for (size, part_size) in [(1, 5 * MIB), (99 * MIB + 7, 5 * MIB), (64 * MIB, 6 * MIB)] {
            let lens = parts(size, part_size);
            assert_eq!(lens.iter().sum::<u64>(), size, "{size}/{part_size}");
            assert_eq!(lens.len() as u64, part_count(size, part_size));
            assert!(lens[..lens.len() - 1].iter().all(|&l| l == part_size));
        }
    }

    #[test]
    fn an_empty_object_is_one_empty_part_and_numbers_start_at_one() {
        assert_eq!(parts(0, 8 * MIB), vec![0]);
        assert_eq!(part(8 * MIB, 8 * MIB, 0), None);
        assert_eq!(part(8 * MIB, 8 * MIB, 2), None);
        assert_eq!(
            part(8 * MIB, 8 * MIB, 1),
            Some(Part {
                number: 1,
                len: 8 * MIB
            })
        );
    }
}
