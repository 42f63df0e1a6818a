//! `summary.json`: the versioned, documented summary of a run (schema in README.md).
//!
//! Built from merged steady-phase histograms only; the warm-up is left out.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::client::Protocol;
use crate::client::token::TokenStats;
use crate::engine::{EngineReport, ScheduleReport};
use crate::plan::{Kind, OpKind, PhaseSpan, Plan, RateLimitHint, TargetKind, TurnMode};
use crate::record::Totals;
use crate::record::{CacheClass, OutcomeClass, Phase, SeriesData};
use crate::results::by_client::{self, ClientSummary};
use crate::results::server_timing::ServerTimingSummary;
use crate::results::shards::{MergedShard, ShardRecord};
use crate::results::slowest::{self, SlowRequest};

/// The embedded target's caveat, shown wherever its numbers are.
pub const EMBEDDED_NOTE: &str =
    "embedded in-process S3 server: these numbers measure gatebench and this machine, not storage";

/// The caveat of a target whose certificate is not checked (`tls.insecure_skip_verify`).
pub const INSECURE_NOTE: &str = "WARNING: tls.insecure_skip_verify: the server's certificate was NOT \
     checked, so these numbers may come from a server other than the one meant";

/// The schema identifier written into every summary.
pub const SCHEMA: &str = "gatebench.summary/1";

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Ran to its duration or op count.
    Complete,
    /// Stopped early by Ctrl-C or SIGTERM; everything recorded until then is kept.
    Interrupted,
    /// Setup or a target failed; `error` says why.
    Failed,
    /// The process was killed (SIGKILL, OOM, eviction) before it wrote a summary;
    /// `gatebench report` rebuilt this one from the interval logs (see `recovery`).
    Incomplete,
}

/// The whole summary file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub schema: String,
    pub status: RunStatus,
    pub error: Option<String>,
    pub scenario: String,
    pub run_id: String,
    pub started_at: String,
    pub ended_at: String,
    /// How several targets shared the run.
    #[serde(default, rename = "compare")]
    pub turns: TurnSummary,
    pub targets: Vec<TargetSummary>,
    /// Each gateway target against the direct target it is set up through.
    #[serde(default, rename = "comparisons")]
    pub overheads: Vec<GatewayOverhead>,
    /// The scenario's thresholds, evaluated on this summary (absent without thresholds,
    /// and for an incomplete run: they are not evaluated on part of a run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdResult>,
    /// Incomplete runs only: what the rebuilt summary covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    /// A shard of a distributed run (`--shard I/N`): who it was and how its clock stood.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardRecord>,
    /// A merged distributed run (`gatebench merge`): one row per shard.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<MergedShard>,
    /// A capacity search (`executor = "find-capacity"`): its steps and knees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<super::capacity::CapacitySummary>,
}

/// What survived of a killed run: the seconds its interval logs hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// First and last second (since the run started) of the steady phase the interval
    /// log holds (`None`: it holds none).
    pub first_second: Option<u64>,
    pub last_second: Option<u64>,
    /// When `gatebench report` rebuilt the summary.
    pub rebuilt_at: String,
}

impl Recovery {
    /// `seconds 3-41 since the start`, or that nothing of the steady phase survived.
    pub fn covered(&self) -> String {
        match (self.first_second, self.last_second) {
            (Some(a), Some(b)) => format!("seconds {a}-{b} since the start of the run"),
            _ => "no second of the steady phase".to_string(),
        }
    }
}

/// How several targets shared a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TurnSummary {
    /// `alternate`, `sequential` or `concurrent` (a single target runs `sequential`).
    pub mode: String,
    /// `alternate`: length of each turn, seconds.
    pub window_s: Option<f64>,
}

impl TurnSummary {
    fn of(plan: &Plan) -> Self {
        let (mode, window_s) = match (&plan.turns, plan.targets.len()) {
            (_, 0 | 1) | (TurnMode::Sequential, _) => ("sequential", None),
            (TurnMode::Concurrent, _) => ("concurrent", None),
            (TurnMode::Alternate { window }, _) => ("alternate", Some(window.as_secs_f64())),
        };
        TurnSummary {
            mode: mode.into(),
            window_s,
        }
    }
}

/// What a gateway adds over the direct path to the same storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GatewayOverhead {
    /// The direct target.
    pub baseline: String,
    /// The gateway target.
    pub candidate: String,
    pub ops: Vec<OpOverheadDelta>,
}

/// Per-operation difference candidate − baseline of `ok` latency, µs (negative: faster).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpOverheadDelta {
    pub op: OpKind,
    pub p50_us: i64,
    pub p90_us: i64,
    pub p99_us: i64,
    pub p99_9_us: i64,
    /// candidate ok ops/s ÷ baseline ok ops/s.
    pub throughput_ratio: Option<f64>,
}

/// One target's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetSummary {
    pub name: String,
    pub kind: Kind,
    pub endpoint: String,
    /// A caveat readers must see (the embedded target measures the harness only).
    pub note: Option<String>,
    /// What stopped this target early, if anything.
    pub error: Option<String>,
    /// Seconds from the end of the warm-up to the last response.
    pub measured_seconds: f64,
    /// Requests abandoned in flight by an interruption.
    pub cancelled: u64,
    pub load: LoadSummary,
    /// Gateway targets with OAuth2: token fetches, timed apart from requests.
    #[serde(default)]
    pub auth: Option<AuthSummary>,
    /// Throttling and quota refusals seen (absent if none).
    #[serde(default)]
    pub throttle: Option<ThrottleSummary>,
    /// How connections were used and what they spoke.
    #[serde(default)]
    pub connections: ConnectionSummary,
    pub ops: Vec<OpSummary>,
    /// The slowest steady-phase requests (at most 10 per op), slowest first, with their
    /// request ids (absent if none were kept, e.g. in a run rebuilt after a kill).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slowest_requests: Vec<SlowRequest>,
    /// Per identity, when the target sends as several (`clients`); absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_client: Vec<ClientSummary>,
}

/// A target's connections: the scenario's policy, what was negotiated, how many opened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionSummary {
    /// `keep-alive` or `per-request`.
    pub reuse: String,
    /// The HTTP version the scenario asked for: `1.1` or `2`.
    pub http_requested: String,
    /// What the connections spoke: `http/1.1` or `h2` (`None`: none opened).
    pub http: Option<String>,
    /// The TLS version, e.g. `TLSv1_3` (`None`: plain http).
    pub tls: Option<String>,
    /// HTTP/2: workers per connection.
    pub streams_per_connection: u32,
    /// Connections opened in the measured phase (each counted on the request that opened it).
    pub opened: u64,
    /// TLS handshakes in the measured phase.
    pub tls_handshakes: u64,
}

/// Token fetches of a gateway target (never part of request latency).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthSummary {
    pub token_fetches: u64,
    pub token_fetch_failures: u64,
    /// Early refreshes triggered by a 401 on a request.
    pub refreshes_after_401: u64,
    pub token_fetch_us: Option<LatencyStats>,
    pub last_error: Option<String>,
}

/// When and how a target was throttled.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleSummary {
    /// Responses classed `throttled` (429, 503 SlowDown) and `quota` (403 quota).
    pub throttled: u64,
    pub quota: u64,
    /// Seconds from the start of the run to the first throttled / quota response.
    pub first_throttled_s: Option<u64>,
    pub first_quota_s: Option<u64>,
    /// Count per `Retry-After` value, seconds.
    pub retry_after_s: BTreeMap<u32, u64>,
    /// The gateway's configured limit, when the scenario states it (drawn in the charts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitHint>,
}

/// How load was offered to a target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSummary {
    /// `closed-loop`, `constant-arrival-rate`, `ramping-arrival-rate` or
    /// `poisson-arrival-rate`.
    pub executor: String,
    /// Closed loop: workers; open loop: the in-flight cap.
    pub max_in_flight: usize,
    /// Warm-up, steady or ramp stages, in seconds from the start of this target's load.
    pub phases: Vec<PhaseSpan>,
    /// Open loop only: how requests kept to their schedule.
    pub schedule: Option<ScheduleSummary>,
}

/// Open-loop schedule keeping (warm-up included).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleSummary {
    /// Requests that came due and were sent.
    pub planned: u64,
    /// Requests handed out more than 1 ms after they were due (behind a full in-flight
    /// cap, or a generator that could not keep up).
    pub late_starts: u64,
    /// Times `max_in_flight` requests were outstanding when one came due.
    #[serde(default)]
    pub cap_waits: u64,
    /// Requests due before the end that were never sent, because the in-flight cap was
    /// still full when the run ended (k6: dropped iterations). Not in any histogram.
    #[serde(default)]
    pub dropped: u64,
    /// How late those started, µs.
    pub late_by_us: Option<LatencyStats>,
    /// How far behind its due time every request was handed out, µs: the generator's
    /// own timing error (late starts included).
    pub dispatch_delay_us: Option<LatencyStats>,
}

impl ScheduleSummary {
    /// Summarises an engine's schedule report.
    pub fn of(r: &ScheduleReport) -> Self {
        ScheduleSummary {
            planned: r.planned,
            late_starts: r.late_starts,
            cap_waits: r.cap_waits,
            dropped: r.dropped,
            late_by_us: LatencyStats::of(&r.late_by),
            dispatch_delay_us: LatencyStats::of(&r.dispatch_delay),
        }
    }
}

/// One operation's results on one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpSummary {
    pub op: OpKind,
    /// Requests completed (every outcome).
    pub requests: u64,
    /// Requests per outcome class (`ok`, `client_error`, `auth_failure`, `throttled`,
    /// `quota`, `server_error`, `transport`).
    pub outcomes: BTreeMap<OutcomeClass, u64>,
    /// Requests per HTTP status.
    pub status_codes: BTreeMap<u16, u64>,
    /// Requests per transport error kind.
    pub transport_errors: BTreeMap<String, u64>,
    /// All completed requests per second.
    pub ops_per_sec: f64,
    /// `ok` requests per second.
    pub ok_ops_per_sec: f64,
    /// Body bytes sent and received.
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Body MiB (up + down) per second.
    pub mib_per_sec: f64,
    /// Response time of `ok` requests: from when each was due to its last byte.
    pub latency_us: Option<LatencyStats>,
    /// Service time of `ok` requests: from when each was actually sent to its last byte.
    pub service_us: Option<LatencyStats>,
    /// Closed loop with `expected_interval` only: `ok` latency with coordinated-omission
    /// correction (synthesised samples, HdrHistogram `record_correct`).
    pub latency_corrected_us: Option<LatencyStats>,
    /// Time to first byte of `ok` requests.
    pub ttfb_us: Option<LatencyStats>,
    /// TCP connect time of the `ok` requests that opened a connection.
    #[serde(default)]
    pub connect_us: Option<LatencyStats>,
    /// TLS handshake time of the `ok` requests that opened a TLS connection.
    #[serde(default)]
    pub tls_us: Option<LatencyStats>,
    /// Latency per outcome class.
    pub latency_by_outcome_us: BTreeMap<OutcomeClass, LatencyStats>,
    /// Targets with a cache rule: latency of `ok` requests per cache class (`hit`,
    /// `miss`, `uncacheable`), each with its count.
    pub cache: BTreeMap<CacheClass, Option<LatencyStats>>,
    /// hits / (hits + misses) of `ok` requests, when the target has a cache rule.
    pub cache_hit_ratio: Option<f64>,
    /// `ok` responses with a `Server-Timing` header: their gateway, backend and cache
    /// components (absent when no response had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_timing: Option<ServerTimingSummary>,
}

impl OpSummary {
    /// `op` with nothing recorded yet.
    pub fn empty(op: OpKind) -> Self {
        OpSummary {
            op,
            requests: 0,
            outcomes: BTreeMap::new(),
            status_codes: BTreeMap::new(),
            transport_errors: BTreeMap::new(),
            ops_per_sec: 0.0,
            ok_ops_per_sec: 0.0,
            bytes_up: 0,
            bytes_down: 0,
            mib_per_sec: 0.0,
            latency_us: None,
            service_us: None,
            latency_corrected_us: None,
            ttfb_us: None,
            connect_us: None,
            tls_us: None,
            latency_by_outcome_us: BTreeMap::new(),
            cache: BTreeMap::new(),
            cache_hit_ratio: None,
            server_timing: None,
        }
    }
}

/// Percentiles of one histogram, microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub p99_99: u64,
    pub max: u64,
}

impl LatencyStats {
    /// Stats of `h`, or `None` if it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let q = |p: f64| h.value_at_quantile(p);
        Some(LatencyStats {
            count: h.len(),
            min: h.min(),
            mean: (h.mean() * 10.0).round() / 10.0,
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
            max: h.max(),
        })
    }
}

/// Steady-phase series of one target and op, by (outcome class, cache class).
pub type OpSeries<'a> = BTreeMap<(OutcomeClass, CacheClass), &'a SeriesData>;

/// Merges the series of `by_key` whose key passes `keep`, grouped by `group`.
fn merged<K: Ord>(
    by_key: &OpSeries,
    group: impl Fn(OutcomeClass, CacheClass) -> Option<K>,
) -> BTreeMap<K, SeriesData> {
    let mut out: BTreeMap<K, SeriesData> = BTreeMap::new();
    for ((class, cache), data) in by_key {
        if let Some(k) = group(*class, *cache) {
            match out.get_mut(&k) {
                Some(m) => m.merge(data),
                None => {
                    out.insert(k, (*data).clone());
                }
            }
        }
    }
    out
}

/// Summarises one op of one target from its series.
pub fn op_summary(op: OpKind, series: &OpSeries, measured: Duration) -> OpSummary {
    let secs = measured.as_secs_f64().max(1e-9);
    let mut s = OpSummary::empty(op);
    for (class, data) in merged(series, |class, _| Some(class)) {
        let n = data.count();
        s.requests += n;
        s.outcomes.insert(class, n);
        s.bytes_up += data.bytes_up;
        s.bytes_down += data.bytes_down;
        for (code, c) in &data.statuses {
            *s.status_codes.entry(*code).or_default() += c;
        }
        for (kind, c) in &data.transport {
            *s.transport_errors
                .entry(kind.name().to_string())
                .or_default() += c;
        }
        if let Some(stats) = LatencyStats::of(&data.latency) {
            s.latency_by_outcome_us.insert(class, stats);
        }
        if class == OutcomeClass::Ok {
            s.latency_us = LatencyStats::of(&data.latency);
            s.service_us = LatencyStats::of(&data.service);
            s.latency_corrected_us = data.corrected.as_ref().and_then(LatencyStats::of);
            s.ttfb_us = LatencyStats::of(&data.ttfb);
            s.connect_us = LatencyStats::of(&data.connect);
            s.tls_us = LatencyStats::of(&data.tls);
            s.server_timing = ServerTimingSummary::of(&data.server_timing);
        }
    }
    let ok_by_cache = merged(series, |class, cache| {
        (class == OutcomeClass::Ok && cache != CacheClass::None).then_some(cache)
    });
    for (cache, data) in &ok_by_cache {
        s.cache.insert(*cache, LatencyStats::of(&data.latency));
    }
    let count = |c| ok_by_cache.get(&c).map_or(0, SeriesData::count);
    let (hits, misses) = (count(CacheClass::Hit), count(CacheClass::Miss));
    if hits + misses > 0 {
        s.cache_hit_ratio = Some(hits as f64 / (hits + misses) as f64);
    }
    let ok = s.outcomes.get(&OutcomeClass::Ok).copied().unwrap_or(0);
    s.ops_per_sec = round2(s.requests as f64 / secs);
    s.ok_ops_per_sec = round2(ok as f64 / secs);
    s.mib_per_sec = round2((s.bytes_up + s.bytes_down) as f64 / (1024.0 * 1024.0) / secs);
    s
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Groups a run's totals of one target by op (steady phase only).
pub fn steady_series<'a>(
    totals: impl Iterator<Item = (&'a crate::record::SeriesKey, &'a SeriesData)>,
    target: usize,
) -> BTreeMap<OpKind, OpSeries<'a>> {
    let mut out: BTreeMap<OpKind, OpSeries> = BTreeMap::new();
    for (k, v) in totals {
        if k.target == target && k.phase == Phase::Steady {
            out.entry(k.op).or_default().insert((k.class, k.cache), v);
        }
    }
    out
}

/// What the run knows about one target when it ends.
pub struct TargetOutcome {
    /// `Unknown` if it never opened.
    pub kind: Kind,
    pub address: String,
    pub note: Option<&'static str>,
    /// `None` if no load ran against it.
    pub report: Option<EngineReport>,
    pub error: Option<String>,
    pub token: Option<TokenStats>,
    /// What its connections spoke (`None`: none opened).
    pub protocol: Option<Protocol>,
    /// Index of the direct target it is set up through (itself for direct targets).
    pub storage: usize,
}

/// A unit enum's name as serde writes it (`keep-alive`, `1.1`).
pub fn serde_plain<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Builds the whole summary of a run.
#[allow(clippy::too_many_arguments)]
pub fn build(
    plan: &Plan,
    run_id: &str,
    started: std::time::SystemTime,
    ended: std::time::SystemTime,
    status: RunStatus,
    error: Option<String>,
    outcomes: &[TargetOutcome],
    totals: &Totals,
) -> Summary {
    let targets: Vec<TargetSummary> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| target_summary(plan, i, o, totals))
        .collect();
    let overheads = outcomes
        .iter()
        .enumerate()
        .filter(|(i, o)| o.kind == Kind::Gateway && o.storage != *i)
        .map(|(i, o)| overhead_of(&targets[o.storage], &targets[i]))
        .collect();
    Summary {
        schema: SCHEMA.to_string(),
        status,
        error: error.as_deref().map(crate::redact::redact),
        scenario: plan.name.clone(),
        run_id: run_id.to_string(),
        started_at: super::timestamp(started),
        ended_at: super::timestamp(ended),
        turns: TurnSummary::of(plan),
        targets,
        overheads,
        thresholds: Vec::new(),
        recovery: None,
        shard: None,
        shards: Vec::new(),
        capacity: None,
    }
}

/// The summary of `plan` as if it ended the moment it started: status `incomplete`,
/// targets and overheads without results. Written as `run.json` at the start of every
/// run, so a killed run's summary can be rebuilt without the scenario's secrets.
/// `storage_of` gives the index of the direct target each target is set up through.
pub fn planned(
    plan: &Plan,
    run_id: &str,
    started: std::time::SystemTime,
    storage_of: impl Fn(usize) -> usize,
) -> Summary {
    let outcomes: Vec<TargetOutcome> = plan
        .targets
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let address = match &spec.kind {
                TargetKind::S3(ep) => ep.endpoint.clone(),
                TargetKind::Gateway(gw) => gw.base_url.clone(),
                TargetKind::Embedded | TargetKind::EmbeddedGateway(_) => String::new(),
            };
            let kind = spec.kind.kind();
            TargetOutcome {
                kind,
                address,
                note: (kind == Kind::Embedded).then_some(EMBEDDED_NOTE),
                report: None,
                error: None,
                token: None,
                protocol: None,
                storage: storage_of(i),
            }
        })
        .collect();
    build(
        plan,
        run_id,
        started,
        started,
        RunStatus::Incomplete,
        None,
        &outcomes,
        &Totals::default(),
    )
}

/// Recomputes every comparison from the targets it names (after their ops changed).
pub fn recompute_overheads(summary: &mut Summary) {
    let find = |name: &str| summary.targets.iter().find(|t| t.name == name);
    summary.overheads = summary
        .overheads
        .iter()
        .filter_map(|c| Some(overhead_of(find(&c.baseline)?, find(&c.candidate)?)))
        .collect();
}

fn target_summary(plan: &Plan, index: usize, o: &TargetOutcome, totals: &Totals) -> TargetSummary {
    let report = o.report.clone().unwrap_or_default();
    let measured = report.steady_elapsed;
    let mut t = TargetSummary {
        name: plan.targets[index].name.clone(),
        kind: o.kind,
        endpoint: o.address.clone(),
        note: o.note.map(str::to_string),
        error: o.error.as_deref().map(crate::redact::redact),
        measured_seconds: 0.0,
        cancelled: report.cancelled,
        load: LoadSummary {
            executor: plan.load.executor().to_string(),
            max_in_flight: plan.load.max_in_flight(),
            phases: plan.load.phases(&plan.limits),
            schedule: report.schedule.as_ref().map(ScheduleSummary::of),
        },
        auth: o.token.as_ref().map(|t| AuthSummary {
            token_fetches: t.fetches,
            token_fetch_failures: t.failures,
            refreshes_after_401: t.refreshes_after_401,
            token_fetch_us: LatencyStats::of(&t.fetch_latency),
            last_error: t.last_error.as_deref().map(crate::redact::redact),
        }),
        throttle: None,
        connections: ConnectionSummary {
            reuse: serde_plain(&plan.connections.reuse),
            http_requested: serde_plain(&plan.connections.http),
            http: o.protocol.as_ref().map(|p| p.http.to_string()),
            tls: o.protocol.as_ref().and_then(|p| p.tls.clone()),
            streams_per_connection: plan.connections.streams_per_connection,
            ..ConnectionSummary::default()
        },
        ops: Vec::new(),
        slowest_requests: slowest::of_target(&totals.slowest, index),
        by_client: by_client::of_target(
            &crate::plan::clients::labels(&plan.targets[index].kind),
            index,
            &totals.clients,
            measured,
        ),
    };
    add_totals(
        &mut t,
        index,
        totals,
        measured,
        plan.targets[index].rate_limit,
    );
    t
}

/// Fills target `index`'s measured time, ops and throttling from the run's totals
/// (`measured`: its steady time; `rate_limit`: the gateway's limit, if stated).
pub fn add_totals(
    t: &mut TargetSummary,
    index: usize,
    totals: &Totals,
    measured: Duration,
    rate_limit: Option<RateLimitHint>,
) {
    let ops: Vec<OpSummary> = steady_series(totals.series.iter(), index)
        .iter()
        .map(|(op, series)| op_summary(*op, series, measured))
        .collect();
    let count = |class| {
        ops.iter()
            .map(|op| op.outcomes.get(&class).copied().unwrap_or(0))
            .sum::<u64>()
    };
    let (throttled, quota) = (count(OutcomeClass::Throttled), count(OutcomeClass::Quota));
    let steady = || {
        totals
            .series
            .iter()
            .filter(|(k, _)| k.target == index && k.phase == Phase::Steady)
    };
    t.connections.opened = steady().map(|(_, v)| v.connect.len()).sum();
    t.connections.tls_handshakes = steady().map(|(_, v)| v.tls.len()).sum();
    t.throttle = (throttled + quota > 0 || rate_limit.is_some()).then(|| {
        let mut retry_after_s = BTreeMap::new();
        for (_, v) in steady() {
            for (secs, n) in &v.retry_after {
                *retry_after_s.entry(*secs).or_default() += n;
            }
        }
        ThrottleSummary {
            throttled,
            quota,
            first_throttled_s: totals
                .first_seconds
                .get(&(index, OutcomeClass::Throttled))
                .copied(),
            first_quota_s: totals
                .first_seconds
                .get(&(index, OutcomeClass::Quota))
                .copied(),
            retry_after_s,
            rate_limit,
        }
    });
    t.measured_seconds = (measured.as_secs_f64() * 1000.0).round() / 1000.0;
    t.ops = ops;
}

/// candidate − baseline per op both ran.
fn overhead_of(baseline: &TargetSummary, candidate: &TargetSummary) -> GatewayOverhead {
    let ops = candidate
        .ops
        .iter()
        .filter_map(|c| {
            let b = baseline.ops.iter().find(|b| b.op == c.op)?;
            let (bl, cl) = (b.latency_us.as_ref()?, c.latency_us.as_ref()?);
            let d = |x: u64, y: u64| x as i64 - y as i64;
            Some(OpOverheadDelta {
                op: c.op,
                p50_us: d(cl.p50, bl.p50),
                p90_us: d(cl.p90, bl.p90),
                p99_us: d(cl.p99, bl.p99),
                p99_9_us: d(cl.p99_9, bl.p99_9),
                throughput_ratio: (b.ok_ops_per_sec > 0.0)
                    .then(|| round2(c.ok_ops_per_sec / b.ok_ops_per_sec)),
            })
        })
        .collect();
    GatewayOverhead {
        baseline: baseline.name.clone(),
        candidate: candidate.name.clone(),
        ops,
    }
}

/// The outcome of one threshold on one concrete subject (wildcards are expanded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The expression as written in the scenario.
    pub expression: String,
    /// What was measured, wildcards expanded: `gateway.get.p99`, `gateway.error_rate`,
    /// `overhead(apim-direct).get.p50`.
    pub subject: String,
    /// `us`, `ratio` (a fraction), `ops/s` or `MiB/s`.
    pub unit: String,
    /// The measured value in `unit`; absent when there was no data.
    pub measured: Option<f64>,
    /// The limit in `unit`.
    pub limit: f64,
    pub passed: bool,
    /// Why it failed without a value (`no data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
