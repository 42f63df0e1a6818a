//! The seeded stream of operations a run sends: same seed, same (op, key, size) sequence.
//!
//! The stream is independent of timing: workers take the next operation from it, so two
//! runs with one seed issue the same operations in the same order whatever the server
//! does. It owns key choice (seeded read set, keys written by this run) and nothing else.

use std::collections::VecDeque;

use rand::Rng;
use rand::SeedableRng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand_distr::Zipf;
use rand_pcg::Pcg64;

use super::s3_options::{ByteRange, RangeSpec};
use super::size::SizeSampler;
use super::{KeyPopularity, OpKind, Plan, Shard};

/// Which object an operation touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKey {
    /// Object `n` of the read set seeded before the run.
    Seeded(u64),
    /// The object written by the PUT (or multipart upload) that was operation `n`.
    Written(u64),
    /// No single object (LIST).
    None,
}

/// One operation to send.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlannedOp {
    /// Position in the run's sequence, from 0.
    pub index: u64,
    pub op: OpKind,
    /// Index into the plan's buckets.
    pub bucket: usize,
    pub key: ObjectKey,
    /// Body size for PUT and multipart uploads, 0 otherwise.
    pub size: u64,
    /// Index into the plan's mix (LIST options live there).
    pub mix_entry: usize,
    /// GET with a `range`: the bytes to read (`None`: the whole object).
    pub range: Option<ByteRange>,
}

/// Generates the run's operations in order.
#[derive(Debug, Clone)]
pub struct OpSequence {
    rng: Pcg64,
    mix_ops: Vec<OpKind>,
    any_op: WeightedIndex<u32>,
    /// The mix without DELETE, used when no written object is left to delete.
    no_delete: Option<WeightedIndex<u32>>,
    sizes: SizeSampler,
    /// Per mix entry, its own object sizes (multipart), drawn instead of `sizes`.
    entry_sizes: Vec<Option<SizeSampler>>,
    buckets: usize,
    objects: u64,
    popularity: Popularity,
    next_index: u64,
    /// Written objects not yet deleted, oldest first, with their bucket.
    written: VecDeque<(u64, usize)>,
    /// The share of the sequence handed out ([`Shard::WHOLE`]: all of it).
    shard: Shard,
    /// Per mix entry: the GET range option.
    ranges: Vec<Option<RangeSpec>>,
    /// The plan's seed (seeded objects' sizes derive from it).
    seed: u64,
    /// Offsets of `random:` ranges, a stream apart from `rng` so ranges change no
    /// other draw.
    offsets: Pcg64,
}

impl OpSequence {
    /// A sequence for `plan`, starting at operation 0.
    pub fn new(plan: &Plan) -> Result<Self, String> {
        let weights: Vec<u32> = plan.mix.iter().map(|m| m.weight).collect();
        let any_op =
            WeightedIndex::new(&weights).map_err(|_| "the mix needs a weight > 0".to_string())?;
        let no_delete_weights = plan
            .mix
            .iter()
            .map(|m| if m.op == OpKind::Delete { 0 } else { m.weight });
        Ok(OpSequence {
            rng: Pcg64::seed_from_u64(plan.seed),
            mix_ops: plan.mix.iter().map(|m| m.op).collect(),
            any_op,
            no_delete: WeightedIndex::new(no_delete_weights).ok(),
            sizes: plan.data.size.sampler()?,
            entry_sizes: plan
                .mix
                .iter()
                .map(|m| m.multipart.as_ref().map(|mp| mp.size.sampler()).transpose())
                .collect::<Result<_, _>>()?,
            buckets: plan.data.buckets.len().max(1),
            objects: plan.data.objects,
            popularity: Popularity::new(&plan.data.keys, plan.data.objects)?,
            next_index: 0,
            written: VecDeque::new(),
            shard: Shard::WHOLE,
            ranges: plan.mix.iter().map(|m| m.range).collect(),
            seed: plan.seed,
            offsets: Pcg64::seed_from_u64(plan.seed ^ RANGE_OFFSETS_STREAM),
        })
    }

    /// This sequence cut down to `shard`'s operations: the whole run's sequence is still
    /// drawn, and only the positions the shard owns are handed out, so shards together
    /// send it exactly once (a DELETE may remove an object another shard wrote).
    pub fn for_shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self
    }

    /// The next operation of this shard's share.
    pub fn next_op(&mut self) -> PlannedOp {
        loop {
            let op = self.draw();
            if self.shard.owns(op.index) {
                return op;
            }
        }
    }

    /// The next operation of the whole run. DELETE removes the oldest object this run
    /// wrote; when there is none, the draw is repeated over the mix without DELETE.
    fn draw(&mut self) -> PlannedOp {
        let index = self.next_index;
        self.next_index += 1;
        let mut entry = self.any_op.sample(&mut self.rng);
        if self.mix_ops[entry] == OpKind::Delete
            && self.written.is_empty()
            && let Some(no_delete) = &self.no_delete
        {
            entry = no_delete.sample(&mut self.rng);
        }
        let op = self.mix_ops[entry];
        let mut range = None;
        let (bucket, key, size) = match op {
            OpKind::Put | OpKind::Multipart => {
                let bucket = self.rng.random_range(0..self.buckets);
                self.written.push_back((index, bucket));
                let sizes = self.entry_sizes[entry].as_ref().unwrap_or(&self.sizes);
                (
                    bucket,
                    ObjectKey::Written(index),
                    sizes.sample(&mut self.rng),
                )
            }
            OpKind::Get | OpKind::Head => {
                let n = self.popularity.sample(&mut self.rng, self.objects);
                if let Some(spec) = self.ranges[entry] {
                    let object_size = seeded_size(self.seed, n, &self.sizes);
                    range = spec.bytes_of(object_size, &mut self.offsets);
                }
                (seeded_bucket(n, self.buckets), ObjectKey::Seeded(n), 0)
            }
            OpKind::List | OpKind::Journey => {
                (self.rng.random_range(0..self.buckets), ObjectKey::None, 0)
            }
            // Parts are an upload's own requests, never drawn from the mix.
            OpKind::Part => (0, ObjectKey::None, 0),
            OpKind::Delete => match self.written.pop_front() {
                Some((n, bucket)) => (bucket, ObjectKey::Written(n), 0),
                None => (0, ObjectKey::None, 0),
            },
        };
        PlannedOp {
            index,
            op,
            bucket,
            key,
            size,
            mix_entry: entry,
            range,
        }
    }
}

/// Mixed into the seed of the `random:` range offsets' stream.
const RANGE_OFFSETS_STREAM: u64 = 0x000F_F5E7_5EED;

/// Key popularity made ready for sampling.
#[derive(Debug, Clone)]
pub(crate) enum Popularity {
    Uniform,
    /// Ranks 1..=objects; rank k is object k-1.
    Zipf(Zipf<f64>),
    /// (share of requests, number of hot objects).
    HotSet(f64, u64),
}

impl Popularity {
    pub(crate) fn new(keys: &KeyPopularity, objects: u64) -> Result<Self, String> {
        Ok(match keys {
            KeyPopularity::Uniform => Popularity::Uniform,
            KeyPopularity::Zipf(s) => Popularity::Zipf(
                Zipf::new(objects.max(1) as f64, *s).map_err(|e| format!("zipf: {e}"))?,
            ),
            KeyPopularity::HotSet { requests, keys } => {
                let hot = ((objects as f64 * keys).ceil() as u64).clamp(1, objects.max(1));
                Popularity::HotSet(*requests, hot)
            }
        })
    }

    /// An object index in `0..objects`.
    pub(crate) fn sample(&self, rng: &mut Pcg64, objects: u64) -> u64 {
        let objects = objects.max(1);
        match self {
            Popularity::Uniform => rng.random_range(0..objects),
            Popularity::Zipf(z) => (z.sample(rng) as u64).clamp(1, objects) - 1,
            Popularity::HotSet(share, hot) => {
                if *hot >= objects || rng.random_bool(*share) {
                    rng.random_range(0..*hot)
                } else {
                    rng.random_range(*hot..objects)
                }
            }
        }
    }
}

/// The bucket that holds seeded object `n`: objects go round-robin over the buckets.
pub fn seeded_bucket(n: u64, buckets: usize) -> usize {
    (n % buckets.max(1) as u64) as usize
}

/// The size of seeded object `n`, fixed by the seed alone.
pub fn seeded_size(plan_seed: u64, n: u64, sizes: &SizeSampler) -> u64 {
    let mut rng =
        Pcg64::seed_from_u64(plan_seed ^ 0x005E_ED0B_1EC7_u64.wrapping_mul(n.wrapping_add(1)));
    sizes.sample(&mut rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    fn plan(seed: u64) -> Plan {
        plan_with_get(seed, "40")
    }

    /// The test plan with `get = {get}` in its mix.
    fn plan_with_get(seed: u64, get: &str) -> Plan {
        let text = format!(
            r#"
name = "seq"
[run]
ops = 100
seed = {seed}
[load]
executor = "closed-loop"
concurrency = 4
[data]
buckets = ["aaa", "bbb"]
objects = 50
size = {{ lognormal = {{ median = "4KiB", p99 = "1MiB" }} }}
[mix]
get = {get}
head = 20
put = 20
list = 10
delete = 10
[targets.local]
kind = "embedded"
"#
        );
        scenario::parse(std::path::Path::new("seq.toml"), &text, &|_| None).unwrap()
    }

    fn ops(seed: u64, n: usize) -> Vec<PlannedOp> {
        let mut s = OpSequence::new(&plan(seed)).unwrap();
        (0..n).map(|_| s.next_op()).collect()
    }

    #[test]
    fn same_seed_gives_same_sequence() {
        let a = ops(7, 5_000);
        assert_eq!(a, ops(7, 5_000));
        assert_ne!(a, ops(8, 5_000));
        for op in [
            OpKind::Put,
            OpKind::Get,
            OpKind::Head,
            OpKind::List,
            OpKind::Delete,
        ] {
            assert!(a.iter().any(|p| p.op == op), "{op} never drawn");
        }
    }

    #[test]
    fn shards_together_send_the_whole_sequence_once() {
        let whole = ops(11, 4_000);
        let mut union = Vec::new();
        for i in 0..4 {
            let mut s = OpSequence::new(&plan(11))
                .unwrap()
                .for_shard(Shard::new(i, 4).unwrap());
            let part: Vec<PlannedOp> = (0..1_000).map(|_| s.next_op()).collect();
            assert!(part.iter().all(|p| p.index % 4 == u64::from(i)));
            union.extend(part);
        }
        union.sort_by_key(|p| p.index);
        assert_eq!(union, whole);
    }

    #[test]
    fn key_popularity_shapes_reads() {
        let reads = |keys: &str| {
            let text = format!(
                "name = \"k\"\n[run]\nops = 1\n[load]\nexecutor = \"closed-loop\"\nconcurrency = 1\n\
                 [data]\nbuckets = [\"aaa\"]\nobjects = 1000\nsize = \"1KiB\"\nkeys = {keys}\n\
                 [mix]\nget = 1\n[targets.local]\nkind = \"embedded\"\n"
            );
            let plan = scenario::parse(std::path::Path::new("k.toml"), &text, &|_| None).unwrap();
            let mut s = OpSequence::new(&plan).unwrap();
            let mut counts = vec![0u32; 1000];
            for _ in 0..20_000 {
                let ObjectKey::Seeded(n) = s.next_op().key else {
                    panic!()
                };
                counts[n as usize] += 1;
            }
            counts
        };
        let hot = reads("{ hot_set = { requests = 0.8, keys = 0.05 } }");
        let share: u32 = hot[..50].iter().sum();
        assert!(
            (15_600..16_400).contains(&share),
            "80% of reads on 5% of keys: {share}"
        );
        let zipf = reads("{ zipf = 1.2 }");
        assert!(
            zipf[0] > 10 * zipf[99],
            "rank 1 far above rank 100: {} vs {}",
            zipf[0],
            zipf[99]
        );
        let uniform = reads("\"uniform\"");
        assert!(
            uniform.iter().all(|c| (2..=60).contains(c)),
            "uniform spread"
        );
    }

    fn ranged_ops(seed: u64, get: &str) -> Vec<PlannedOp> {
        let mut s = OpSequence::new(&plan_with_get(seed, get)).unwrap();
        (0..3_000).map(|_| s.next_op()).collect()
    }

    #[test]
    fn ranges_are_seeded_inside_their_object_and_change_no_other_draw() {
        let plain = ranged_ops(7, "40");
        assert!(plain.iter().all(|p| p.range.is_none()));
        let plan = plan_with_get(7, "{ weight = 40, range = \"random:64KiB\" }");
        let sizes = plan.data.size.sampler().unwrap();
        for get in [
            "{ weight = 40, range = \"random:64KiB\" }",
            "{ weight = 40, range = \"first:1MiB\" }",
        ] {
            let ranged = ranged_ops(7, get);
            assert_eq!(ranged, ranged_ops(7, get), "same seed, same ranges");
            let without_ranges: Vec<PlannedOp> = ranged
                .iter()
                .map(|p| PlannedOp {
                    range: None,
                    ..p.clone()
                })
                .collect();
            assert_eq!(without_ranges, plain, "ranges change no op, key or size");
            for p in &ranged {
                match (p.op, p.key, p.range) {
                    (OpKind::Get, ObjectKey::Seeded(n), Some(r)) => {
                        let size = seeded_size(7, n, &sizes);
                        assert!(r.last < size, "{r:?} inside {size} bytes");
                        assert_eq!(
                            r.len(),
                            size.min(if get.contains("first") {
                                1 << 20
                            } else {
                                64 << 10
                            })
                        );
                        if get.contains("first") {
                            assert_eq!(r.first, 0);
                        }
                    }
                    (OpKind::Get, _, None) => panic!("a GET without its range: {p:?}"),
                    (_, _, r) => assert_eq!(r, None, "{p:?}"),
                }
            }
        }
        let random = ranged_ops(7, "{ weight = 40, range = \"random:1KiB\" }");
        let other_seed = ranged_ops(8, "{ weight = 40, range = \"random:1KiB\" }");
        assert_ne!(random, other_seed);
        let offsets: std::collections::HashSet<u64> = random
            .iter()
            .filter_map(|p| p.range.map(|r| r.first))
            .collect();
        assert!(
            offsets.len() > 100,
            "random offsets vary: {}",
            offsets.len()
        );
    }

    #[test]
    fn multipart_uploads_write_objects_of_their_own_size_that_deletes_remove() {
        let text = "name = \"m\"\n[run]\nops = 1\n[load]\nexecutor = \"closed-loop\"\n\
                    concurrency = 1\n[data]\nbuckets = [\"aaa\", \"bbb\"]\nobjects = 0\n\
                    size = \"4KiB\"\n[mix]\nput = 1\ndelete = 1\n\
                    multipart = { weight = 2, size = { uniform = { min = \"6MiB\", max = \"64MiB\" } } }\n\
                    [targets.local]\nkind = \"embedded\"\n";
        let plan = scenario::parse(std::path::Path::new("m.toml"), text, &|_| None).unwrap();
        let draw = || {
            let mut s = OpSequence::new(&plan).unwrap();
            (0..3_000).map(|_| s.next_op()).collect::<Vec<_>>()
        };
        let ops = draw();
        assert_eq!(ops, draw(), "seeded");
        let mut multipart = std::collections::HashSet::new();
        let mut deleted_uploads = 0;
        for p in &ops {
            match (p.op, p.key) {
                (OpKind::Multipart, ObjectKey::Written(n)) => {
                    assert_eq!(n, p.index);
                    assert!((6 << 20..=64 << 20).contains(&p.size), "{}", p.size);
                    multipart.insert(n);
                }
                (OpKind::Put, _) => assert_eq!(p.size, 4096),
                (OpKind::Delete, ObjectKey::Written(n)) => {
                    deleted_uploads += usize::from(multipart.contains(&n))
                }
                (OpKind::Delete, k) => panic!("delete of {k:?}"),
                (op, _) => panic!("{op} is not in the mix"),
            }
        }
        let share = multipart.len() as f64 / ops.len() as f64;
        assert!((0.45..0.55).contains(&share), "weight 2 of 4: {share}");
        assert!(deleted_uploads > 100, "deletes remove uploaded objects too");
    }

    #[test]
    fn deletes_only_touch_objects_written_earlier() {
        let a = ops(3, 5_000);
        let mut live = std::collections::HashSet::new();
        for p in &a {
            match (p.op, p.key) {
                (OpKind::Put, ObjectKey::Written(n)) => assert!(live.insert(n)),
                (OpKind::Delete, ObjectKey::Written(n)) => {
                    assert!(live.remove(&n), "deleted {n} twice")
                }
                (OpKind::Delete, k) => panic!("delete of {k:?}"),
                _ => {}
            }
        }
    }
}
