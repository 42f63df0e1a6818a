//! The largest values a scenario may ask for, and why.
//!
//! Each bound caps something a run holds in memory, spawns or loops over in proportion
//! to a number of the file, so that whatever validates can run on one machine. They are
//! generous for real use and documented in docs/scenario.md; validation quotes them.

use std::time::Duration;

/// Seeded objects: the run holds the list of seeded objects (bucket, key, size) in
/// memory, about 150 bytes each, and cleans them up by listing.
pub const MAX_OBJECTS: u64 = 5_000_000;

/// Why [`MAX_OBJECTS`].
pub const WHY_OBJECTS: &str =
    "the run keeps the list of seeded objects in memory (about 150 bytes each)";

/// Closed-loop workers, and open-loop requests in flight.
pub const MAX_IN_FLIGHT: u64 = 20_000;

/// Why [`MAX_IN_FLIGHT`].
pub const WHY_IN_FLIGHT: &str =
    "each is a task with its own connection (a file descriptor and its buffers)";

/// Measured operations.
pub const MAX_OPS: u64 = 1_000_000_000;

/// Why [`MAX_OPS`].
pub const WHY_OPS: &str =
    "the run remembers each object its PUTs wrote until deleted (16 bytes each)";

/// A weight, and the sum of the weights of one table (the mix, a weighted size).
pub const MAX_WEIGHT: u64 = 1_000_000;

/// Requests per second of an open loop.
pub const MAX_RATE: f64 = 1e6;

/// Warm-up plus measured time (or the ramp's stages), and each of them.
pub const MAX_RUN_LENGTH: Duration = Duration::from_secs(7 * 24 * 3600);

/// `request_timeout` and `setup_timeout`.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Shortest closed-loop `expected_interval`: each slow request adds one corrected
/// sample per interval it outlasted.
pub const MIN_EXPECTED_INTERVAL: Duration = Duration::from_millis(1);

/// Stages of a ramping arrival rate (the schedule walks them every millisecond).
pub const MAX_STAGES: usize = 100;

/// Buckets of `[data]`.
pub const MAX_BUCKETS: usize = 100;

/// Characters of the scenario name (it names the results folder and the run's prefix).
pub const MAX_NAME_CHARS: usize = 64;

/// Bytes of `data.prefix` and of a LIST prefix (S3 keys have at most 1024).
pub const MAX_PREFIX_BYTES: usize = 512;
