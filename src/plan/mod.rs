//! The validated, typed form of a scenario: what to run, against what, for how long.
//!
//! A `Plan` is plain data produced by `scenario::load`. The engine and the targets read
//! it; nothing here performs I/O. `sequence` turns it into the seeded stream of
//! operations and `size` samples object sizes.

pub mod sequence;
pub mod size;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use size::SizeDist;

/// Everything needed to run one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub name: String,
    pub description: String,
    /// The scenario file this plan came from.
    pub source: PathBuf,
    pub limits: RunLimits,
    pub seed: u64,
    pub load: LoadModel,
    pub data: DataSet,
    pub mix: Vec<MixEntry>,
    pub targets: Vec<TargetSpec>,
}

/// When a run stops and how long a request may take.
#[derive(Debug, Clone, Serialize)]
pub struct RunLimits {
    /// Measured time after the warm-up (`None`: stop on `ops` only).
    #[serde(with = "humantime_opt")]
    pub duration: Option<Duration>,
    /// Measured operations after the warm-up (`None`: stop on `duration` only).
    pub ops: Option<u64>,
    /// Time at the start whose results are kept apart and left out of the summary.
    #[serde(with = "humantime_dur")]
    pub warmup: Duration,
    /// A request still unanswered after this is a transport error (`timeout`).
    #[serde(with = "humantime_dur")]
    pub request_timeout: Duration,
}

/// How load is offered.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "executor", rename_all = "kebab-case")]
pub enum LoadModel {
    /// A fixed number of workers, each sending its next request when the last one ends.
    ClosedLoop { concurrency: usize },
}

impl LoadModel {
    /// How many requests may be in flight at once (sizes the connection pool).
    pub fn max_in_flight(&self) -> usize {
        match self {
            LoadModel::ClosedLoop { concurrency } => *concurrency,
        }
    }
}

/// The objects a run works on.
#[derive(Debug, Clone, Serialize)]
pub struct DataSet {
    pub buckets: Vec<String>,
    /// Prefix under which every run makes its own sub-prefix.
    pub prefix: String,
    /// Objects seeded before the run for GET and HEAD.
    pub objects: u64,
    pub size: SizeDist,
}

/// The S3 operations gatebench measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    Put,
    Get,
    Head,
    List,
    Delete,
}

impl OpKind {
    /// The lowercase name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Get => "get",
            OpKind::Head => "head",
            OpKind::List => "list",
            OpKind::Delete => "delete",
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One weighted entry of the operation mix.
#[derive(Debug, Clone, Serialize)]
pub struct MixEntry {
    pub op: OpKind,
    pub weight: u32,
    /// LIST: keys per page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_keys: Option<u32>,
    /// LIST: prefix below the run's prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// A named place to send requests.
#[derive(Debug, Clone, Serialize)]
pub struct TargetSpec {
    pub name: String,
    #[serde(flatten)]
    pub kind: TargetKind,
}

/// The kinds of target.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TargetKind {
    /// An in-process S3 server in a temporary folder: measures the harness, not storage.
    Embedded,
    /// An S3 endpoint (RGW) reached directly, SigV4-signed.
    S3(S3Endpoint),
}

/// Address and credentials of an S3 endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct S3Endpoint {
    /// `http://host:port`, no path.
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: Secret,
}

/// A value that must never be printed, logged or written to results.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it (signing).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

mod humantime_dur {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

mod humantime_opt {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::humantime_dur::serialize(d, s),
            None => s.serialize_none(),
        }
    }
}
