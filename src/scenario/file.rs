//! The scenario file format as written by hand: serde types that mirror the TOML.
//!
//! Every field that can be wrong keeps its span (`Spanned`) so validation can point at
//! it. Unknown fields are rejected. Nothing here checks ranges or meaning; that is
//! `validate`'s job.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_spanned::Spanned;

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    pub run: Spanned<RunSection>,
    pub load: LoadSection,
    pub data: DataSection,
    /// Left out with `executor = "journeys"`, whose steps say what is sent.
    pub mix: Option<Spanned<MixSection>>,
    pub targets: Spanned<BTreeMap<String, Spanned<TargetSection>>>,
    /// Pass/fail rules over the results, e.g. `"gateway.get.p99 < 40ms"`.
    #[serde(default)]
    pub thresholds: Vec<Spanned<String>>,
    /// `[journeys.NAME]`: what each simulated user of `executor = "journeys"` does.
    pub journeys: Option<Spanned<BTreeMap<String, Spanned<JourneySection>>>>,
}

/// `[journeys.NAME]`: one journey.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JourneySection {
    pub weight: Option<Spanned<i64>>,
    /// `"100ms"` or `"50ms..200ms"`.
    pub think_time: Option<Spanned<String>>,
    pub steps: Spanned<Vec<Spanned<StepSection>>>,
}

/// One step of a journey: `{ op = "get", from = "listed", count = 3 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSection {
    pub op: Spanned<String>,
    /// GET/HEAD: `"seeded"` (default) or `"listed"`.
    pub from: Option<Spanned<String>>,
    /// GET/HEAD: requests the step sends.
    pub count: Option<Spanned<i64>>,
    /// PUT: object size.
    pub size: Option<Spanned<String>>,
    /// LIST: keys per page.
    pub max_keys: Option<Spanned<i64>>,
    /// LIST: prefix below the run's prefix.
    pub prefix: Option<Spanned<String>>,
    /// LIST: `/` to list one level.
    pub delimiter: Option<Spanned<String>>,
}

/// `[run]`: how long, which seed, how long a request may take.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    pub duration: Option<Spanned<String>>,
    pub ops: Option<Spanned<i64>>,
    pub warmup: Option<Spanned<String>>,
    pub seed: Option<Spanned<i64>>,
    pub request_timeout: Option<Spanned<String>>,
    /// Longest time setup (buckets, seeding) and clean-up may take, each.
    pub setup_timeout: Option<Spanned<String>>,
    /// A target with no successful request does not fail the run.
    pub expect_failures: Option<bool>,
    /// With several targets: `alternate` (default), `sequential` or `concurrent`.
    pub compare: Option<Spanned<String>>,
    /// `alternate`: length of each target's turn.
    pub window: Option<Spanned<String>>,
    /// `keep-alive` (default) or `per-request` (a new TCP+TLS connection each request).
    pub connection: Option<Spanned<String>>,
    /// `"1.1"` (default) or `"2"` (HTTP/2 over TLS, negotiated with ALPN).
    pub http: Option<Spanned<String>>,
    /// HTTP/2: how many workers share one connection.
    pub streams_per_connection: Option<Spanned<i64>>,
}

/// `[load]`: the load model (executor) and its fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSection {
    pub executor: Spanned<String>,
    /// closed-loop: number of workers.
    pub concurrency: Option<Spanned<i64>>,
    /// closed-loop: expected interval between a worker's requests, for correction.
    pub expected_interval: Option<Spanned<String>>,
    /// constant- and poisson-arrival-rate: requests per second.
    pub rate: Option<Spanned<f64>>,
    /// ramping-arrival-rate: rate during the warm-up and at the start of the first stage.
    pub start_rate: Option<Spanned<f64>>,
    /// ramping-arrival-rate: the stages, each ramping linearly to its target rate.
    pub stages: Option<Spanned<Vec<StageSection>>>,
    /// Open loop: most requests in flight at once.
    pub max_in_flight: Option<Spanned<i64>>,
    /// find-capacity: each step's rate is the last one's times this.
    pub factor: Option<Spanned<f64>>,
    /// find-capacity: each step's rate is the last one's plus this.
    pub step: Option<Spanned<f64>>,
    /// find-capacity: measured length of each step.
    pub step_duration: Option<Spanned<String>>,
    /// find-capacity: the highest rate offered.
    pub max_rate: Option<Spanned<f64>>,
    /// find-capacity: a step whose p99 exceeds this fails.
    pub slo_p99: Option<Spanned<String>>,
    /// find-capacity: largest share of errors a good step may have.
    pub max_error_ratio: Option<Spanned<f64>>,
    /// find-capacity: largest share of throttled requests a good step may have.
    pub max_throttle_ratio: Option<Spanned<f64>>,
    /// find-capacity: smallest accepted / offered rate of a good step.
    pub min_accepted_ratio: Option<Spanned<f64>>,
    /// find-capacity: bisection steps between the last good and first bad rate.
    pub bisect_steps: Option<Spanned<i64>>,
    /// journeys: simulated users.
    pub users: Option<Spanned<i64>>,
    /// journeys: users started per second.
    pub hatch_rate: Option<Spanned<f64>>,
    /// journeys: journeys each user runs.
    pub iterations: Option<Spanned<i64>>,
}

/// One stage of a ramping arrival rate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSection {
    /// Rate reached at the end of the stage, requests per second.
    pub target: f64,
    pub duration: String,
}

/// `[data]`: buckets, key prefix, pre-seeded read set and object sizes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    pub buckets: Spanned<Vec<Spanned<String>>>,
    pub prefix: Option<Spanned<String>>,
    pub objects: Option<Spanned<i64>>,
    pub size: Spanned<SizeSpec>,
    /// Which seeded objects reads pick.
    pub keys: Option<Spanned<KeysSpec>>,
}

/// Key popularity: `"uniform"`, `{ zipf = 1.1 }` or
/// `{ hot_set = { requests = 0.8, keys = 0.05 } }`.
#[derive(Debug)]
pub enum KeysSpec {
    Named(String),
    Table(KeysTable),
}

/// The table forms of key popularity.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum KeysTable {
    /// Zipf with this exponent over the seeded objects.
    Zipf(f64),
    /// `requests` of the reads go to the first `keys` share of the objects.
    HotSet { requests: f64, keys: f64 },
}

impl<'de> Deserialize<'de> for KeysSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = KeysSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    r#""uniform", { zipf = 1.1 } or { hot_set = { requests = 0.8, keys = 0.05 } }"#,
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeysSpec, E> {
                Ok(KeysSpec::Named(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<KeysSpec, A::Error> {
                KeysTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(KeysSpec::Table)
            }
        }
        d.deserialize_any(KeysVisitor)
    }
}

/// An object size: `"4KiB"` or one of the distribution tables.
#[derive(Debug)]
pub enum SizeSpec {
    Fixed(String),
    Table(SizeTable),
}

/// The table forms of an object size.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum SizeTable {
    /// Uniform between `min` and `max`.
    Uniform { min: String, max: String },
    /// Log-normal with the given median and 99th percentile.
    Lognormal { median: String, p99: String },
    /// A weighted table of fixed sizes.
    Weighted(Vec<WeightedSize>),
}

/// One row of a weighted size table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedSize {
    pub size: String,
    pub weight: i64,
}

impl<'de> Deserialize<'de> for SizeSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl<'de> Visitor<'de> for SizeVisitor {
            type Value = SizeSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    r#"a size such as "4KiB", or a table { uniform | lognormal | weighted = ... }"#,
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SizeSpec, E> {
                Ok(SizeSpec::Fixed(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SizeSpec, A::Error> {
                SizeTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(SizeSpec::Table)
            }
        }
        d.deserialize_any(SizeVisitor)
    }
}

/// `[mix]`: a weight per operation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixSection {
    pub put: Option<Spanned<OpEntryForm>>,
    pub get: Option<Spanned<OpEntryForm>>,
    pub head: Option<Spanned<OpEntryForm>>,
    pub list: Option<Spanned<OpEntryForm>>,
    pub delete: Option<Spanned<OpEntryForm>>,
    pub multipart: Option<Spanned<MultipartEntry>>,
}

/// `multipart = { weight, size, part_size, parallel_parts }`: multipart uploads.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultipartEntry {
    pub weight: i64,
    /// Object size: the forms `data.size` takes.
    pub size: Spanned<SizeSpec>,
    /// Bytes per part but the last (default 8 MiB).
    pub part_size: Option<Spanned<String>>,
    /// Parts in flight at once (default 4).
    pub parallel_parts: Option<Spanned<i64>>,
}

/// An operation's entry in the mix: `get = 60` or `list = { weight = 5, max_keys = 100 }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpEntry {
    pub weight: i64,
    /// LIST only: `max-keys` per request.
    pub max_keys: Option<i64>,
    /// LIST only: a prefix below the run's own prefix.
    pub prefix: Option<String>,
    /// LIST only: `/` to group keys below the prefix (see `plan::MixEntry::delimiter`).
    pub delimiter: Option<String>,
    /// GET only: `"first:1MiB"` or `"random:64KiB"`.
    pub range: Option<String>,
    /// PUT only: `"none"`, `"crc32c"` or `"sha256"`.
    pub checksum: Option<String>,
}

/// An `OpEntry` accepted in either of its two written forms.
#[derive(Debug)]
pub struct OpEntryForm(pub OpEntry);

impl<'de> Deserialize<'de> for OpEntryForm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = OpEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a weight (integer) or a table { weight = N, ... }")
            }
            fn visit_i64<E: de::Error>(self, weight: i64) -> Result<OpEntry, E> {
                Ok(OpEntry {
                    weight,
                    ..OpEntry::default()
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OpEntry, E> {
                let weight = i64::try_from(v).map_err(|_| E::custom("weight is too large"))?;
                self.visit_i64(weight)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OpEntry, A::Error> {
                OpEntry::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_any(EntryVisitor).map(OpEntryForm)
    }
}

/// `[targets.NAME]`: where requests go.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    pub kind: Spanned<String>,
    pub endpoint: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub access_key: Option<Spanned<String>>,
    pub secret_key: Option<Spanned<String>>,
    /// gateway: `http://host:port/api-prefix`.
    pub base_url: Option<Spanned<String>>,
    pub subscription_key: Option<Spanned<String>>,
    pub subscription_header: Option<Spanned<String>>,
    pub oauth2: Option<Spanned<OAuth2Section>>,
    /// gateway: the direct target through which objects are seeded and cleaned up.
    pub setup_via: Option<Spanned<String>>,
    /// How a response says it came from a cache.
    pub cache_hit: Option<Spanned<CacheHitSection>>,
    /// embedded-gateway: the APIM policy file the in-process stand-in enforces.
    pub policy: Option<Spanned<String>>,
    /// embedded-gateway: delay added to every request (`2ms`, `lognormal:median=…,p99=…`).
    pub added_latency: Option<Spanned<String>>,
    /// gateway kinds: the rate limit the gateway is configured with, for the report.
    pub rate_limit: Option<Spanned<RateLimitSection>>,
    /// s3 and gateway: `tls = { ca_file = … }`; embedded-gateway: `tls = true`.
    pub tls: Option<Spanned<TlsField>>,
    /// s3: `"path"` (default) or `"virtual"` (bucket in the host name).
    pub addressing: Option<Spanned<String>>,
    /// gateway kinds: several identities, workers spread over them round-robin.
    pub clients: Option<Spanned<Vec<Spanned<super::clients::ClientSection>>>>,
    /// gateway: the `clients` array read from a TOML file (relative to the scenario).
    pub clients_from: Option<Spanned<String>>,
}

/// `tls = true` (embedded-gateway) or `tls = { … }` (s3, gateway).
#[derive(Debug)]
pub enum TlsField {
    Enabled(bool),
    Settings(TlsSection),
}

impl<'de> Deserialize<'de> for TlsField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TlsVisitor;
        impl<'de> Visitor<'de> for TlsVisitor {
            type Value = TlsField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true/false or a table { ca_file = \"…\", … }")
            }
            fn visit_bool<E: de::Error>(self, on: bool) -> Result<TlsField, E> {
                Ok(TlsField::Enabled(on))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TlsField, A::Error> {
                TlsSection::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(TlsField::Settings)
            }
        }
        d.deserialize_any(TlsVisitor)
    }
}

/// `tls = { ca_file, client_cert, client_key, server_name, insecure_skip_verify }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub ca_file: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// `rate_limit = { calls = 1000, renewal_period = "10s" }`: what the gateway's policy
/// allows. gatebench does not enforce it; the report draws it next to what was accepted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    pub calls: u64,
    pub renewal_period: Spanned<String>,
}

/// `oauth2 = { … }` of a gateway target: client-credentials grant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Section {
    pub token_url: String,
    /// Required, except with `clients` (each client has its own).
    pub client_id: Option<String>,
    /// The secret itself (usually `${ENV_VAR}`).
    pub client_secret: Option<String>,
    /// A file holding the secret, read again whenever it changes.
    pub client_secret_file: Option<String>,
    /// A certificate credential: a signed `client_assertion` instead of a secret.
    pub client_certificate: Option<ClientCertificateSection>,
    pub scope: Option<String>,
}

/// `client_certificate = { cert_file = "app.pem", key_file = "app.key" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificateSection {
    pub cert_file: String,
    pub key_file: String,
}

/// `cache_hit = { header = "X-Cache", equals = "HIT", miss = "MISS" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheHitSection {
    pub header: String,
    pub equals: String,
    pub miss: Option<String>,
}
