//! User journeys (`executor = "journeys"`): named sequences of steps that simulated users
//! repeat, and the seeded key choice of each journey.
//!
//! Plain data and pure functions: which keys a journey of user `u`, iteration `i` sends
//! is fixed by the plan's seed alone (except the keys a LIST step returns, which come
//! from the server and are then picked from by the same seeded draw). Running the
//! journeys (goose) is the engine's job.

use std::collections::VecDeque;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde::Serialize;

use super::sequence::{ObjectKey, PlannedOp, Popularity, seeded_bucket};
use super::size::SizeSampler;
use super::{OpKind, Plan};

/// The load of a journeys run: `users` simulated users started at `hatch_rate` per
/// second, each running its journey `iterations` times.
#[derive(Debug, Clone, Serialize)]
pub struct JourneyLoad {
    pub users: usize,
    /// Users started per second.
    pub hatch_rate: f64,
    /// Journeys per user: the run sends `users × iterations` journeys per target.
    pub iterations: u64,
    pub journeys: Vec<Journey>,
}

/// One named journey.
#[derive(Debug, Clone, Serialize)]
pub struct Journey {
    pub name: String,
    /// Users are given journeys in proportion to their weights.
    pub weight: u32,
    /// Pause after each step (a range: drawn uniformly between its ends).
    pub think_time: ThinkTime,
    pub steps: Vec<JourneyStep>,
}

/// A pause between `min` and `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ThinkTime {
    #[serde(with = "super::humantime_dur")]
    pub min: Duration,
    #[serde(with = "super::humantime_dur")]
    pub max: Duration,
}

/// One step of a journey: an operation and how it chooses its keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JourneyStep {
    pub op: OpKind,
    pub keys: StepKeys,
    /// Requests the step sends (GET and HEAD may send several).
    pub count: u32,
    /// PUT: a fixed object size (`None`: drawn from `data.size`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Index into the plan's mix, where a LIST step's options live.
    pub mix_entry: usize,
}

/// Which objects a step touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKeys {
    /// GET/HEAD: seeded objects, by `data.keys` popularity.
    Seeded,
    /// GET/HEAD: keys the journey's last LIST returned.
    Listed,
    /// PUT: a new object; DELETE: the oldest object this journey put and has not
    /// deleted.
    Written,
    /// LIST: a bucket.
    Bucket,
}

impl JourneyLoad {
    /// Journeys each target is sent: `users × iterations`.
    pub fn journeys_per_target(&self) -> u64 {
        self.users as u64 * self.iterations
    }
}

/// Most steps a journey may have (also spaces the op indexes of journeys apart).
pub const MAX_STEPS: usize = 100;

/// Most requests one step may send.
pub const MAX_STEP_COUNT: u32 = 1000;

/// The seeded key choice of one journey (user `user`, iteration `iteration`).
#[derive(Debug)]
pub struct JourneyDraw {
    rng: Pcg64,
    /// The op index of this journey's first request.
    base: u64,
    /// Requests drawn so far.
    drawn: u64,
    /// Objects this journey put and has not deleted, oldest first, with their bucket.
    written: VecDeque<(u64, usize)>,
}

/// What key choice needs of a plan, made ready once per run.
#[derive(Debug, Clone)]
pub struct KeyChoice {
    seed: u64,
    buckets: usize,
    objects: u64,
    popularity: Popularity,
    sizes: SizeSampler,
    iterations: u64,
}

impl KeyChoice {
    /// Key choice for `plan`'s journeys, run `iterations` times per user.
    pub fn new(plan: &Plan, iterations: u64) -> Result<Self, String> {
        Ok(KeyChoice {
            seed: plan.seed,
            buckets: plan.data.buckets.len().max(1),
            objects: plan.data.objects,
            popularity: Popularity::new(&plan.data.keys, plan.data.objects)?,
            sizes: plan.data.size.sampler()?,
            iterations,
        })
    }

    /// The draw of user `user`'s journey number `iteration` (from 0).
    pub fn journey(&self, user: u64, iteration: u64) -> JourneyDraw {
        let journey = user * self.iterations + iteration;
        let seed = self.seed
            ^ 0x6A09_E667_F3BC_C909_u64.wrapping_mul(journey.wrapping_add(1))
            ^ 0x4A0E_4E11;
        JourneyDraw {
            rng: Pcg64::seed_from_u64(seed),
            base: journey * (MAX_STEPS as u64 * u64::from(MAX_STEP_COUNT)),
            drawn: 0,
            written: VecDeque::new(),
        }
    }
}

impl JourneyDraw {
    /// The next request of `step` (for `StepKeys::Listed`, a GET/HEAD whose key the
    /// caller takes from [`listed`](Self::listed) instead), keys chosen by `k`.
    pub fn op(&mut self, k: &KeyChoice, step: &JourneyStep) -> PlannedOp {
        let index = self.base + self.drawn;
        self.drawn += 1;
        let (bucket, key, size) = match (step.op, step.keys) {
            (OpKind::Put, _) => {
                let bucket = self.rng.random_range(0..k.buckets);
                self.written.push_back((index, bucket));
                let size = step.size.unwrap_or_else(|| k.sizes.sample(&mut self.rng));
                (bucket, ObjectKey::Written(index), size)
            }
            (OpKind::Delete, _) => match self.written.pop_front() {
                Some((n, bucket)) => (bucket, ObjectKey::Written(n), 0),
                None => (0, ObjectKey::None, 0),
            },
            (_, StepKeys::Seeded) => {
                let n = k.popularity.sample(&mut self.rng, k.objects);
                (seeded_bucket(n, k.buckets), ObjectKey::Seeded(n), 0)
            }
            _ => (self.rng.random_range(0..k.buckets), ObjectKey::None, 0),
        };
        PlannedOp {
            index,
            op: step.op,
            bucket,
            key,
            size,
            mix_entry: step.mix_entry,
            range: None,
        }
    }

    /// Which of `listed` keys a `from = "listed"` request takes (`None`: none listed).
    pub fn listed(&mut self, listed: usize) -> Option<usize> {
        (listed > 0).then(|| self.rng.random_range(0..listed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::LoadModel;

    fn load() -> (Plan, JourneyLoad) {
        let text = r#"
name = "j"
[run]
seed = 5
[load]
executor = "journeys"
users = 3
iterations = 4
[data]
buckets = ["aaa", "bbb"]
objects = 100
size = "1KiB"
[journeys.browse]
steps = [
  { op = "list", max_keys = 10 },
  { op = "get", from = "listed", count = 3 },
  { op = "get" },
  { op = "put", size = "2KiB" },
  { op = "delete" },
]
[targets.local]
kind = "embedded"
"#;
        let plan = crate::scenario::parse(std::path::Path::new("j.toml"), text, &|_| None).unwrap();
        let LoadModel::Journeys(j) = plan.load.clone() else {
            panic!("not journeys")
        };
        (plan, j)
    }

    fn draw_all(plan: &Plan, j: &JourneyLoad, user: u64, iteration: u64) -> Vec<PlannedOp> {
        let choice = KeyChoice::new(plan, j.iterations).unwrap();
        let mut d = choice.journey(user, iteration);
        j.journeys[0]
            .steps
            .iter()
            .map(|s| d.op(&choice, s))
            .collect()
    }

    #[test]
    fn the_same_user_and_iteration_draw_the_same_keys() {
        let (plan, j) = load();
        assert_eq!(j.journeys_per_target(), 12);
        let a = draw_all(&plan, &j, 1, 2);
        assert_eq!(a, draw_all(&plan, &j, 1, 2));
        assert_ne!(a, draw_all(&plan, &j, 2, 1));
        assert_eq!(a[3].size, 2048);
        assert!(matches!(a[2].key, ObjectKey::Seeded(n) if n < 100));
    }

    #[test]
    fn a_delete_removes_what_its_journey_put_and_indexes_never_collide() {
        let (plan, j) = load();
        let mut seen = std::collections::HashSet::new();
        for user in 0..3 {
            for it in 0..4 {
                let ops = draw_all(&plan, &j, user, it);
                assert_eq!(ops[4].key, ops[3].key);
                assert_eq!(ops[4].bucket, ops[3].bucket);
                assert!(ops.iter().all(|o| seen.insert(o.index)));
            }
        }
    }
}
