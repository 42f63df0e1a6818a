//! One share of a distributed run: shard `index` of `count`. Every shard computes the one
//! seeded sequence and schedule of the whole run and keeps the positions it owns (every
//! `count`-th, from `index`), so the union of the shards is exactly the single-process
//! run and no two shards write the same key.

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (`0/1`: the whole run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    /// From 0.
    pub index: u32,
    /// At least 1.
    pub count: u32,
}

impl Shard {
    /// The whole run, unsharded.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`; an error unless `index < count`.
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 {
            return Err("the number of shards must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "shard index {index} is out of range: shards of {count} are numbered 0 to {}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// True unless this is the whole run.
    pub fn is_sharded(self) -> bool {
        self.count > 1
    }

    /// Whether position `n` of the run's sequence or schedule belongs to this shard.
    pub fn owns(self, n: u64) -> bool {
        n % u64::from(self.count) == u64::from(self.index)
    }

    /// How many of the positions `0..total` this shard owns: `total` split as evenly
    /// as it goes, the lower indexes taking one more.
    pub fn share(self, total: u64) -> u64 {
        let (count, index) = (u64::from(self.count), u64::from(self.index));
        total / count + u64::from(index < total % count)
    }

    /// How many of the positions `from..to` this shard owns.
    pub fn share_of_range(self, from: u64, to: u64) -> u64 {
        self.share(to) - self.share(from.min(to))
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N`, e.g. `0/4`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a shard: write INDEX/COUNT, e.g. 0/4"))?;
        let number = |v: &str, what: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{s}`: the shard {what} `{v}` is not a whole number"))
        };
        Shard::new(number(i, "index")?, number(n, "count")?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_positions_are_owned_once() {
        for count in 1..=7u32 {
            for total in [0u64, 1, 5, 6, 7, 100, 101] {
                let shards: Vec<Shard> =
                    (0..count).map(|i| Shard::new(i, count).unwrap()).collect();
                assert_eq!(shards.iter().map(|s| s.share(total)).sum::<u64>(), total);
                for n in 0..total {
                    assert_eq!(shards.iter().filter(|s| s.owns(n)).count(), 1);
                }
                for s in &shards {
                    let owned = (0..total).filter(|&n| s.owns(n)).count() as u64;
                    assert_eq!(s.share(total), owned, "{s} of {total}");
                    let mid = total / 3;
                    let in_range = (mid..total).filter(|&n| s.owns(n)).count() as u64;
                    assert_eq!(s.share_of_range(mid, total), in_range);
                }
            }
        }
    }

    #[test]
    fn parses_index_of_count_and_refuses_the_rest() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!("0/1".parse::<Shard>(), Ok(Shard::WHOLE));
        for bad in ["4/4", "1/0", "x/4", "1", "-1/4", "1/4/2"] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(
                e.contains(bad) || e.contains("out of range") || e.contains("at least"),
                "{bad}: {e}"
            );
        }
    }
}
