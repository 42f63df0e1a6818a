//! The validated, typed form of a scenario: what to run, against what, for how long.
//!
//! A `Plan` is plain data produced by `scenario::load`. The engine and the targets read
//! it; nothing here performs I/O. `sequence` turns it into the seeded stream of
//! operations and `size` samples object sizes.

pub mod capacity;
pub mod clients;
pub mod journey;
pub mod multipart;
pub mod s3_options;
pub mod sequence;
pub mod shard;
pub mod size;
pub mod threshold;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::shared::{HttpVersion, S3Endpoint, Secret, TlsSpec};

pub use clients::GatewayClient;
pub use shard::Shard;
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
    /// How several targets share the run (`compare` in the scenario file).
    #[serde(rename = "compare")]
    pub turns: TurnMode,
    pub load: LoadModel,
    /// How workers hold connections and which HTTP version they speak.
    pub connections: ConnectionPolicy,
    pub data: DataSet,
    pub mix: Vec<MixEntry>,
    pub targets: Vec<TargetSpec>,
    /// Pass/fail rules evaluated on the summary after the run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<threshold::Threshold>,
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
    /// A request still unanswered after this is a transport error (`timeout`); setup
    /// and clean-up requests are bounded by it too (but never by less than 10 s).
    #[serde(with = "humantime_dur")]
    pub request_timeout: Duration,
    /// Longest time setup (buckets, seeding, first tokens) may take, and clean-up too.
    #[serde(with = "humantime_dur")]
    pub setup_timeout: Duration,
    /// A target with no successful request does not fail the run (the scenario expects
    /// failures, e.g. a test of refusals).
    pub expect_failures: bool,
}

/// How the engine's workers use connections: the same for every target, so a
/// comparison compares paths, not clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConnectionPolicy {
    pub reuse: ConnectionReuse,
    /// The HTTP version asked for; over TLS the server's ALPN answer decides.
    pub http: HttpVersion,
    /// HTTP/2: how many workers share one connection (their requests are its streams).
    pub streams_per_connection: u32,
}

impl Default for ConnectionPolicy {
    fn default() -> Self {
        ConnectionPolicy {
            reuse: ConnectionReuse::KeepAlive,
            http: HttpVersion::Http1,
            streams_per_connection: 1,
        }
    }
}

/// Whether a connection carries more than one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionReuse {
    /// Each worker keeps its connection open (like wrk); reopened only after a failure.
    KeepAlive,
    /// A new TCP (and TLS) connection for every request: what exposes handshake cost.
    PerRequest,
}

/// How several targets share a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum TurnMode {
    /// Short turns, A, B, A, B…, so both paths see the same machine conditions; each
    /// target's operation sequence carries on across its turns.
    Alternate {
        #[serde(with = "humantime_dur")]
        window: Duration,
    },
    /// All of A, then all of B.
    Sequential,
    /// All targets at once, the load split evenly between them.
    Concurrent,
}

/// How load is offered (the executor).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "executor", rename_all = "kebab-case")]
pub enum LoadModel {
    /// Closed loop: a fixed number of workers, each sending its next request when the
    /// last one ends. With `expected_interval`, a corrected histogram is kept as well.
    ClosedLoop {
        concurrency: usize,
        #[serde(with = "humantime_opt", skip_serializing_if = "Option::is_none")]
        expected_interval: Option<Duration>,
    },
    /// Open-loop steps of rising rate, one target at a time, until each one's knee.
    FindCapacity(capacity::CapacitySearch),
    /// Closed loop of simulated users, each repeating a journey of steps (run by goose).
    Journeys(journey::JourneyLoad),
    /// Open loop: requests are due at planned times, whatever the server does.
    #[serde(untagged)]
    OpenLoop(OpenLoop),
}

/// An open-loop load: when requests are due, and how many may be in flight.
#[derive(Debug, Clone, Serialize)]
pub struct OpenLoop {
    #[serde(flatten)]
    pub arrivals: Arrivals,
    /// Requests due while this many are in flight start late, and are counted as late.
    pub max_in_flight: usize,
}

/// When open-loop requests are due.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "executor", rename_all = "kebab-case")]
pub enum Arrivals {
    /// Evenly spaced at `rate` per second.
    ConstantArrivalRate { rate: f64 },
    /// `start_rate` during the warm-up, then each stage ramps linearly to its target.
    RampingArrivalRate { start_rate: f64, stages: Vec<Stage> },
    /// Poisson arrivals (exponential gaps) at a mean of `rate` per second.
    PoissonArrivalRate { rate: f64 },
}

/// A labelled stretch of a run, in seconds from the start of the target's load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSpan {
    /// `warmup`, `steady`, or `stage-N` for ramps.
    pub name: String,
    pub start_s: f64,
    /// `None`: until the op count is reached.
    pub end_s: Option<f64>,
    /// Planned rate at the start and end, requests per second (open loop only).
    pub rate_from: Option<f64>,
    pub rate_to: Option<f64>,
}

/// One stage of a ramping arrival rate.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    /// Rate at the end of the stage, requests per second.
    pub target: f64,
    #[serde(with = "humantime_dur")]
    pub duration: Duration,
}

impl LoadModel {
    /// How many requests may be in flight at once (sizes the connection pool).
    pub fn max_in_flight(&self) -> usize {
        match self {
            LoadModel::ClosedLoop { concurrency, .. } => *concurrency,
            LoadModel::OpenLoop(o) => o.max_in_flight,
            LoadModel::FindCapacity(c) => c.max_in_flight,
            LoadModel::Journeys(j) => j.users,
        }
    }

    /// The labelled stretches of a run: warm-up, then steady (or one per ramp stage).
    pub fn phases(&self, limits: &RunLimits) -> Vec<PhaseSpan> {
        let w = limits.warmup.as_secs_f64();
        let (warm_rate, stages): (Option<f64>, Option<&[Stage]>) = match self {
            LoadModel::ClosedLoop { .. } | LoadModel::FindCapacity(_) | LoadModel::Journeys(_) => {
                (None, None)
            }
            LoadModel::OpenLoop(o) => match &o.arrivals {
                Arrivals::ConstantArrivalRate { rate } | Arrivals::PoissonArrivalRate { rate } => {
                    (Some(*rate), None)
                }
                Arrivals::RampingArrivalRate { start_rate, stages } => {
                    (Some(*start_rate), Some(stages))
                }
            },
        };
        let mut out = Vec::new();
        if w > 0.0 {
            out.push(PhaseSpan {
                name: "warmup".into(),
                start_s: 0.0,
                end_s: Some(w),
                rate_from: warm_rate,
                rate_to: warm_rate,
            });
        }
        match stages {
            None => out.push(PhaseSpan {
                name: "steady".into(),
                start_s: w,
                end_s: limits.duration.map(|d| w + d.as_secs_f64()),
                rate_from: warm_rate,
                rate_to: warm_rate,
            }),
            Some(stages) => {
                let (mut t, mut from) = (w, warm_rate.unwrap_or(0.0));
                for (i, s) in stages.iter().enumerate() {
                    let end = t + s.duration.as_secs_f64();
                    out.push(PhaseSpan {
                        name: format!("stage-{}", i + 1),
                        start_s: t,
                        end_s: Some(end),
                        rate_from: Some(from),
                        rate_to: Some(s.target),
                    });
                    (t, from) = (end, s.target);
                }
            }
        }
        out
    }

    /// The executor's name as written in scenario files.
    pub fn executor(&self) -> &'static str {
        match self {
            LoadModel::ClosedLoop { .. } => "closed-loop",
            LoadModel::FindCapacity(_) => "find-capacity",
            LoadModel::Journeys(_) => "journeys",
            LoadModel::OpenLoop(o) => match o.arrivals {
                Arrivals::ConstantArrivalRate { .. } => "constant-arrival-rate",
                Arrivals::RampingArrivalRate { .. } => "ramping-arrival-rate",
                Arrivals::PoissonArrivalRate { .. } => "poisson-arrival-rate",
            },
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
    /// Which seeded objects GET and HEAD pick.
    pub keys: KeyPopularity,
}

/// Checks that keys built by appending to `prefix` stay under it: a relative path of
/// letters, digits, `-`, `_` and `.`, separated by single `/`, with no `.` or `..`
/// segment. Scenario prefixes, LIST prefixes and run prefixes all pass through it.
pub fn check_key_prefix(prefix: &str) -> Result<(), String> {
    if prefix.starts_with('/') {
        return Err("must not start with '/' (keys are relative to the bucket)".into());
    }
    if let Some(c) = prefix
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_./".contains(*c)))
    {
        return Err(format!(
            "{c:?} is not allowed; use letters, digits, '-', '_', '.' and '/'"
        ));
    }
    // The last segment is empty when the prefix ends with '/' (or is empty): fine.
    if prefix.split('/').rev().skip(1).any(str::is_empty) {
        return Err("has an empty segment ('//')".into());
    }
    if prefix.split('/').any(|s| matches!(s, "." | "..")) {
        return Err("has a '.' or '..' segment, which would lead out of the run's prefix".into());
    }
    Ok(())
}

/// How reads choose among the seeded objects (to make cache effects on purpose).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPopularity {
    /// Every object equally often.
    Uniform,
    /// Object of rank k with probability ∝ 1/k^exponent.
    Zipf(f64),
    /// `requests` (0..1) of reads go to the first `keys` (0..1) share of objects.
    HotSet { requests: f64, keys: f64 },
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
    /// A multipart upload as a whole: create, parts, complete (a new written object).
    Multipart,
    /// One part of a multipart upload (its own series; never drawn from the mix).
    Part,
    /// A whole user journey (`executor = "journeys"`): not a request of its own.
    Journey,
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
            OpKind::Multipart => "multipart",
            OpKind::Part => "part",
            OpKind::Journey => "journey",
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
    /// LIST: `/` groups keys below a further `/` into common prefixes, so only the
    /// prefix's own level is listed (a server may then skip what lies deeper).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// GET: read a byte range instead of the whole object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<s3_options::RangeSpec>,
    /// PUT: the checksum the request carries.
    #[serde(skip_serializing_if = "s3_options::Checksum::is_none")]
    pub checksum: s3_options::Checksum,
    /// MULTIPART: object size, part size and parts in flight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipart: Option<multipart::MultipartSpec>,
}

/// A named place to send requests.
#[derive(Debug, Clone, Serialize)]
pub struct TargetSpec {
    pub name: String,
    #[serde(flatten)]
    pub kind: TargetKind,
    /// How a response says it came from a cache (`None`: not classified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_rule: Option<CacheRule>,
    /// Gateway targets: the rate limit the gateway is configured with (reported, not
    /// enforced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitHint>,
    /// s3 targets: path-style or virtual-hosted-style bucket names.
    #[serde(skip_serializing_if = "s3_options::Addressing::is_path")]
    pub addressing: s3_options::Addressing,
}

/// A gateway's configured rate limit: `calls` per `renewal_period_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitHint {
    pub calls: u64,
    pub renewal_period_s: u64,
}

impl RateLimitHint {
    /// The limit as a rate, calls per second (`None` for a zero period).
    pub fn per_second(&self) -> Option<f64> {
        (self.renewal_period_s > 0).then(|| self.calls as f64 / self.renewal_period_s as f64)
    }
}

/// A response whose `header` equals `hit` is a cache hit, `miss` a miss; other
/// responses (no header, other values) are uncacheable. Values compare ignoring case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheRule {
    pub header: String,
    pub hit: String,
    pub miss: String,
}

impl CacheRule {
    /// The APIM convention gatebench's gateway and shipped policy use: `X-Cache: HIT|MISS`.
    pub fn x_cache() -> Self {
        CacheRule {
            header: "X-Cache".into(),
            hit: "HIT".into(),
            miss: "MISS".into(),
        }
    }
}

/// What results record a target as (`kind` in summary.json): both gateway kinds are
/// `gateway`. Serialised as today's strings: `embedded`, `s3`, `gateway`, `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The in-process S3 server.
    Embedded,
    /// S3 storage reached directly.
    S3,
    /// A gateway in front of storage (configured or embedded).
    Gateway,
    /// A target that never opened (its error says why).
    Unknown,
}

impl Kind {
    /// Storage reached directly (`s3` or `embedded`): a baseline for gateways.
    pub fn is_direct(self) -> bool {
        matches!(self, Kind::S3 | Kind::Embedded)
    }

    /// The name summary.json writes.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Embedded => "embedded",
            Kind::S3 => "s3",
            Kind::Gateway => "gateway",
            Kind::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kinds of target.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TargetKind {
    /// An in-process S3 server in a temporary folder: measures the harness, not storage.
    Embedded,
    /// An S3 endpoint (RGW) reached directly, SigV4-signed.
    S3(S3Endpoint),
    /// The same S3 requests through an API gateway (APIM or gatebench's stand-in), with
    /// a bearer token and a subscription key instead of SigV4.
    Gateway(GatewayTarget),
    /// gatebench's APIM stand-in and a development token issuer, started in-process in
    /// front of the `setup_via` target: the gateway path with nothing installed.
    EmbeddedGateway(EmbeddedGateway),
}

impl TargetKind {
    /// What results record this target as.
    pub fn kind(&self) -> Kind {
        match self {
            TargetKind::Embedded => Kind::Embedded,
            TargetKind::S3(_) => Kind::S3,
            TargetKind::Gateway(_) | TargetKind::EmbeddedGateway(_) => Kind::Gateway,
        }
    }
}

/// An in-process gateway (and idp) in front of a direct target.
#[derive(Debug, Clone, Serialize)]
pub struct EmbeddedGateway {
    /// The APIM policy file it enforces.
    pub policy: PathBuf,
    /// The direct target it fronts (and through which setup goes).
    pub setup_via: String,
    /// Delay added to every request, as `gatebench gateway --added-latency` takes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_latency: Option<String>,
    /// Serve over TLS with a CA and certificate generated for this run.
    pub tls: bool,
    /// Names of the clients it makes (a subscription key and an idp client each);
    /// empty: one client.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
}

/// How to reach storage through a gateway.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayTarget {
    /// `http://host:port/api-prefix`: requests go to `<base_url>/<bucket>/<key>`.
    pub base_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_key: Option<Secret>,
    /// Header carrying the subscription key.
    pub subscription_header: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
    /// The S3 (or embedded) target through which objects are seeded and cleaned up.
    pub setup_via: String,
    /// How `https://` connections to the gateway (and its token endpoint) are checked.
    #[serde(skip_serializing_if = "TlsSpec::is_default")]
    pub tls: TlsSpec,
    /// Several identities, workers spread over them (empty: the one identity of
    /// `subscription_key` and `oauth2`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<GatewayClient>,
}

/// OAuth2 client-credentials grant (Azure AD v2 works the same way).
#[derive(Debug, Clone, Serialize)]
pub struct OAuth2Config {
    pub token_url: String,
    pub client_id: String,
    /// How the client proves who it is.
    pub credential: ClientCredential,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The client credential of an OAuth2 client-credentials grant.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientCredential {
    /// A client secret given in the scenario (usually from `${ENV}`).
    Secret(Secret),
    /// A file holding the client secret, read again whenever it changes (rotation).
    SecretFile(PathBuf),
    /// A certificate: each request carries a `client_assertion` JWT signed with `key_file`
    /// (Entra ID's certificate credential), `cert_file` giving its thumbprint.
    Certificate {
        cert_file: PathBuf,
        key_file: PathBuf,
    },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_written_and_read_as_summary_json_has_always_had_them() {
        for (kind, name) in [
            (Kind::Embedded, "embedded"),
            (Kind::S3, "s3"),
            (Kind::Gateway, "gateway"),
            (Kind::Unknown, "unknown"),
        ] {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
            assert_eq!(kind.to_string(), name);
            let read: Kind = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(read, kind);
        }
        assert!(serde_json::from_str::<Kind>("\"embedded-gateway\"").is_err());
    }

    #[test]
    fn both_gateway_kinds_are_recorded_as_gateway() {
        let embedded_gateway = TargetKind::EmbeddedGateway(EmbeddedGateway {
            policy: "policy.xml".into(),
            setup_via: "direct".into(),
            added_latency: None,
            tls: false,
            clients: Vec::new(),
        });
        assert_eq!(embedded_gateway.kind(), Kind::Gateway);
        assert_eq!(TargetKind::Embedded.kind(), Kind::Embedded);
        assert!(Kind::Embedded.is_direct() && Kind::S3.is_direct());
        assert!(!Kind::Gateway.is_direct() && !Kind::Unknown.is_direct());
    }
}
