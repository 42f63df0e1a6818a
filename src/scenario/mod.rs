//! Scenario files: reading, `${ENV}` interpolation and validation into a [`Plan`].
//!
//! Owns the file format and every message a user sees about a broken file; each names
//! the file, line, column and field. Produces a `Plan` and performs no other I/O than
//! reading the file and the environment.

pub mod bounds;
mod capacity;
mod clients;
mod error;
mod file;
mod interpolate;
mod journeys;
mod multipart;
mod s3_options;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde_spanned::Spanned;

use bounds::*;
pub use error::ScenarioError;
use file::{
    KeysSpec, KeysTable, OpEntryForm, RateLimitSection, ScenarioFile, SizeSpec, SizeTable,
    TargetSection,
};
pub use interpolate::interpolate;

use crate::plan::s3_options::Addressing;
use crate::plan::size::MAX_OBJECT_BYTES;
use crate::plan::{
    Arrivals, CacheRule, ClientCredential, ConnectionPolicy, ConnectionReuse, DataSet,
    EmbeddedGateway, GatewayTarget, KeyPopularity, LoadModel, MixEntry, OAuth2Config, OpKind,
    OpenLoop, Plan, RateLimitHint, RunLimits, SizeDist, Stage, TargetKind, TargetSpec, TurnMode,
    check_key_prefix,
};
use crate::shared::{HttpVersion, S3Endpoint, Secret, TlsSpec};

/// The policy an `embedded-gateway` target enforces unless it names another.
const DEFAULT_LOCAL_POLICY: &str = "deploy/apim/policy.local.xml";

/// Default request timeout when the scenario sets none.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Default budget of setup and of clean-up when the scenario sets none.
const DEFAULT_SETUP_TIMEOUT: Duration = Duration::from_secs(600);

/// Reads and validates a scenario file, resolving `${VAR}` from the process environment.
pub fn load(path: &Path) -> Result<Plan, ScenarioError> {
    let bytes = std::fs::read(path).map_err(|e| ScenarioError {
        path: path.to_path_buf(),
        line: None,
        column: None,
        field: String::new(),
        message: format!("cannot read the file: {e}"),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        ScenarioError::at(
            path,
            &String::from_utf8_lossy(&bytes[..valid]),
            Some(valid..valid),
            "",
            format!(
                "byte 0x{:02X} is not valid UTF-8; save the file as UTF-8",
                bytes[valid]
            ),
        )
    })?;
    parse(path, &text, &|name| std::env::var(name).ok())
}

/// Validates scenario `text` (named `path` in messages), resolving `${VAR}` with `env`.
pub fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, ScenarioError> {
    let file: ScenarioFile = deserialize(path, text)?;
    Validator { path, text, env }.plan(file)
}

/// `text` (named `path` in messages) as a `T`; errors name the field and its place.
fn deserialize<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ScenarioError> {
    let syntax = |e: toml::de::Error| ScenarioError::at(path, text, e.span(), "", e.message());
    let de = toml::Deserializer::parse(text).map_err(syntax)?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        // `Spanned` fields add a private segment to the path; users never see it.
        let field = e
            .path()
            .to_string()
            .split('.')
            .filter(|seg| !seg.is_empty() && !seg.starts_with("$__serde_spanned"))
            .collect::<Vec<_>>()
            .join(".");
        let inner = e.into_inner();
        ScenarioError::at(path, text, inner.span(), field, inner.message())
    })
}

/// Checks meaning and ranges, with access to the source for locations.
struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
}

type Checked<T> = Result<T, ScenarioError>;

impl Validator<'_> {
    fn err(&self, span: Range<usize>, field: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.path, self.text, Some(span), field, message)
    }

    fn plan(&self, f: ScenarioFile) -> Checked<Plan> {
        let name = f.name.get_ref().trim().to_string();
        if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || name.len() > MAX_NAME_CHARS
        {
            return Err(self.err(
                f.name.span(),
                "name",
                format!("use up to {MAX_NAME_CHARS} letters, digits, '-', '_' or '.', starting with a letter or digit (it names the results folder and the run's key prefix)"),
            ));
        }
        let load = self.load(&f.load)?;
        let limits = self.limits(&f.run, &load)?;
        let seed = match &f.run.get_ref().seed {
            Some(s) => u64::try_from(*s.get_ref())
                .map_err(|_| self.err(s.span(), "run.seed", "must be >= 0"))?,
            None => 1,
        };
        let data = self.data(&f.data)?;
        let (load, mix) = self.journeys_or_mix(load, &f, &data)?;
        let targets = self.targets(&f.targets)?;
        let turns = self.turns(f.run.get_ref(), &load, &limits)?;
        let connections = self.connections(f.run.get_ref())?;
        let mut ops: Vec<OpKind> = mix.iter().map(|m| m.op).collect();
        if matches!(load, LoadModel::Journeys(_)) {
            ops.push(OpKind::Journey);
        }
        if ops.contains(&OpKind::Multipart) {
            ops.push(OpKind::Part); // an upload's parts are a series of their own
        }
        let thresholds = self.thresholds(&f.thresholds, &targets, &ops)?;
        Ok(Plan {
            turns,
            name,
            description: f.description,
            source: self.path.to_path_buf(),
            limits,
            seed,
            load,
            connections,
            data,
            mix,
            targets,
            thresholds,
        })
    }

    /// `run.connection`, `run.http` and `run.streams_per_connection`.
    fn connections(&self, run: &file::RunSection) -> Checked<ConnectionPolicy> {
        let mut policy = ConnectionPolicy::default();
        if let Some(c) = &run.connection {
            policy.reuse = match c.get_ref().as_str() {
                "keep-alive" => ConnectionReuse::KeepAlive,
                "per-request" => ConnectionReuse::PerRequest,
                other => {
                    return Err(self.err(
                        c.span(),
                        "run.connection",
                        format!("{other:?}: expected \"keep-alive\" or \"per-request\""),
                    ));
                }
            };
        }
        if let Some(h) = &run.http {
            policy.http = match h.get_ref().as_str() {
                "1.1" => HttpVersion::Http1,
                "2" => HttpVersion::Http2,
                other => {
                    return Err(self.err(
                        h.span(),
                        "run.http",
                        format!("{other:?}: expected \"1.1\" or \"2\""),
                    ));
                }
            };
        }
        if let Some(n) = &run.streams_per_connection {
            let why = "workers sharing one HTTP/2 connection";
            let n = self.count(n, "run.streams_per_connection", 1, MAX_IN_FLIGHT, why)?;
            if policy.http != HttpVersion::Http2 {
                let span = run.streams_per_connection.as_ref().map(|s| s.span());
                return Err(self.err(
                    span.unwrap_or_default(),
                    "run.streams_per_connection",
                    "only HTTP/2 shares connections: set http = \"2\"",
                ));
            }
            policy.streams_per_connection = n as u32;
        }
        Ok(policy)
    }

    /// Parses each threshold; errors point at its string and name the place inside it.
    fn thresholds(
        &self,
        exprs: &[Spanned<String>],
        targets: &[TargetSpec],
        ops: &[OpKind],
    ) -> Checked<Vec<crate::plan::threshold::Threshold>> {
        let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        let has_gateway = targets
            .iter()
            .any(|t| matches!(t.kind, TargetKind::Gateway(_)));
        let mut out = Vec::new();
        for (i, e) in exprs.iter().enumerate() {
            let t = crate::plan::threshold::parse(e.get_ref())
                .and_then(|t| t.check_names(&names, ops, has_gateway).map(|()| t))
                .map_err(|why| {
                    self.err(
                        e.span(),
                        &format!("thresholds[{i}]"),
                        format!("{:?} {why}", e.get_ref()),
                    )
                })?;
            out.push(t);
        }
        Ok(out)
    }

    fn turns(
        &self,
        run: &file::RunSection,
        load: &LoadModel,
        limits: &RunLimits,
    ) -> Checked<TurnMode> {
        let ramping = matches!(
            load,
            LoadModel::OpenLoop(OpenLoop {
                arrivals: Arrivals::RampingArrivalRate { .. },
                ..
            })
        );
        let window = run
            .window
            .as_ref()
            .map(|w| self.duration(w, "run.window", MAX_RUN_LENGTH))
            .transpose()?;
        let searching = matches!(load, LoadModel::FindCapacity(_) | LoadModel::Journeys(_));
        let mode = match &run.compare {
            None if ramping || searching => "sequential",
            None => "alternate",
            Some(m) => m.get_ref().as_str(),
        };
        let span = |f: &Option<Spanned<String>>| f.as_ref().map(|v| v.span());
        match mode {
            "alternate" | "concurrent" if searching => Err(ScenarioError::at(
                self.path,
                self.text,
                span(&run.compare),
                "run.compare",
                format!(
                    "{} runs one target at a time; use compare = \"sequential\" (or leave it out)",
                    load.executor()
                ),
            )),
            "alternate" => {
                if ramping {
                    return Err(ScenarioError::at(
                        self.path,
                        self.text,
                        span(&run.compare),
                        "run.compare",
                        "a ramp cannot be cut into turns; use compare = \"sequential\" with ramping-arrival-rate",
                    ));
                }
                let default = limits.duration.map_or(Duration::from_secs(10), |d| {
                    (d / 6).clamp(Duration::from_secs(1), Duration::from_secs(10))
                });
                let window = window.unwrap_or(default);
                if window < Duration::from_secs(1) {
                    return Err(ScenarioError::at(
                        self.path,
                        self.text,
                        span(&run.window),
                        "run.window",
                        "must be at least 1s",
                    ));
                }
                Ok(TurnMode::Alternate { window })
            }
            "sequential" | "concurrent" => {
                if let Some(sp) = span(&run.window) {
                    return Err(self.err(
                        sp,
                        "run.window",
                        "only `compare = \"alternate\"` takes a window",
                    ));
                }
                Ok(if mode == "sequential" {
                    TurnMode::Sequential
                } else {
                    TurnMode::Concurrent
                })
            }
            other => Err(ScenarioError::at(
                self.path,
                self.text,
                span(&run.compare),
                "run.compare",
                format!(
                    "unknown mode {other:?}; expected \"alternate\", \"sequential\" or \"concurrent\""
                ),
            )),
        }
    }

    /// A duration of at most `max`.
    fn duration(&self, s: &Spanned<String>, field: &str, max: Duration) -> Checked<Duration> {
        self.duration_at(s.get_ref(), s.span(), field, max)
    }

    /// `text` as a duration of at most `max`; errors point at `span`.
    fn duration_at(
        &self,
        text: &str,
        span: Range<usize>,
        field: &str,
        max: Duration,
    ) -> Checked<Duration> {
        let d = humantime::parse_duration(text.trim()).map_err(|e| {
            self.err(
                span.clone(),
                field,
                format!("not a duration like \"30s\" or \"2m\": {e}"),
            )
        })?;
        if d > max {
            return Err(self.err(span, field, at_most(max)));
        }
        Ok(d)
    }

    /// `n` as a count from `min` to `max`; beyond `max` the message says `why`.
    fn count(&self, n: &Spanned<i64>, field: &str, min: u64, max: u64, why: &str) -> Checked<u64> {
        match u64::try_from(*n.get_ref()) {
            Ok(v) if v < min => Err(self.err(n.span(), field, format!("must be >= {min}"))),
            Err(_) => Err(self.err(n.span(), field, format!("must be >= {min}"))),
            Ok(v) if v > max => {
                Err(self.err(n.span(), field, format!("must be at most {max}: {why}")))
            }
            Ok(v) => Ok(v),
        }
    }

    fn limits(
        &self,
        run_table: &Spanned<file::RunSection>,
        load: &LoadModel,
    ) -> Checked<RunLimits> {
        let run = run_table.get_ref();
        let mut duration = run
            .duration
            .as_ref()
            .map(|d| self.duration(d, "run.duration", MAX_RUN_LENGTH))
            .transpose()?;
        if let LoadModel::OpenLoop(OpenLoop {
            arrivals: Arrivals::RampingArrivalRate { stages, .. },
            ..
        }) = load
        {
            if let Some(d) = &run.duration {
                return Err(self.err(
                    d.span(),
                    "run.duration",
                    "ramping-arrival-rate takes its length from its stages; remove run.duration",
                ));
            }
            duration = Some(stages.iter().map(|s| s.duration).sum());
        }
        if let LoadModel::FindCapacity(_) = load {
            let set = [
                ("run.duration", run.duration.as_ref().map(|d| d.span())),
                ("run.ops", run.ops.as_ref().map(|n| n.span())),
            ];
            if let Some((field, Some(span))) = set.into_iter().find(|(_, s)| s.is_some()) {
                return Err(self.err(
                    span,
                    field,
                    "find-capacity takes its length from its steps (load.step_duration); remove it",
                ));
            }
        }
        if let (Some(d), Some(span)) = (duration, run.duration.as_ref().map(|d| d.span()))
            && d.is_zero()
        {
            return Err(self.err(span, "run.duration", "must be > 0"));
        }
        let ops = run
            .ops
            .as_ref()
            .map(|n| self.count(n, "run.ops", 1, MAX_OPS, WHY_OPS))
            .transpose()?;
        if let (LoadModel::Journeys(_), Some(n)) = (load, &run.ops) {
            return Err(self.err(
                n.span(),
                "run.ops",
                "journeys count in journeys: use load.iterations (and run.duration as a cap)",
            ));
        }
        if duration.is_none()
            && ops.is_none()
            && !matches!(load, LoadModel::FindCapacity(_) | LoadModel::Journeys(_))
        {
            return Err(self.err(
                run_table.span(),
                "run",
                "set `duration` or `ops` (or both): a run must end by itself",
            ));
        }
        let warmup = match &run.warmup {
            Some(w) => {
                let warmup = self.duration(w, "run.warmup", MAX_RUN_LENGTH)?;
                if warmup + duration.unwrap_or_default() > MAX_RUN_LENGTH {
                    return Err(self.err(
                        w.span(),
                        "run.warmup",
                        format!("warm-up plus duration {}", at_most(MAX_RUN_LENGTH)),
                    ));
                }
                warmup
            }
            None => Duration::ZERO,
        };
        let timeout = |value: &Option<Spanned<String>>, field: &str, default| match value {
            Some(t) => {
                let d = self.duration(t, field, MAX_TIMEOUT)?;
                if d.is_zero() {
                    return Err(self.err(t.span(), field, "must be > 0"));
                }
                Ok(d)
            }
            None => Ok(default),
        };
        Ok(RunLimits {
            duration,
            ops,
            warmup,
            request_timeout: timeout(
                &run.request_timeout,
                "run.request_timeout",
                DEFAULT_REQUEST_TIMEOUT,
            )?,
            setup_timeout: timeout(
                &run.setup_timeout,
                "run.setup_timeout",
                DEFAULT_SETUP_TIMEOUT,
            )?,
            expect_failures: run.expect_failures.unwrap_or(false),
        })
    }

    /// `[load]`: the executor and the fields it takes.
    fn load(&self, l: &file::LoadSection) -> Checked<LoadModel> {
        let executor = self.executor(l)?;
        if executor == "find-capacity" {
            return Ok(LoadModel::FindCapacity(self.find_capacity(l)?));
        }
        if executor == "journeys" {
            return Ok(LoadModel::Journeys(self.journey_load(l)?));
        }
        let max_in_flight = match &l.max_in_flight {
            Some(n) => {
                self.count(n, "load.max_in_flight", 1, MAX_IN_FLIGHT, WHY_IN_FLIGHT)? as usize
            }
            None => 256,
        };
        let arrivals = match executor {
            "closed-loop" => return self.closed_loop(l),
            "constant-arrival-rate" => Arrivals::ConstantArrivalRate {
                rate: self.rate(l, &l.rate, "rate", false)?,
            },
            "poisson-arrival-rate" => Arrivals::PoissonArrivalRate {
                rate: self.rate(l, &l.rate, "rate", false)?,
            },
            _ => self.ramping_arrival_rate(l)?,
        };
        Ok(LoadModel::OpenLoop(OpenLoop {
            arrivals,
            max_in_flight,
        }))
    }

    /// `load.executor`, once no field it does not take is set.
    fn executor<'l>(&self, l: &'l file::LoadSection) -> Checked<&'l str> {
        let executor = l.executor.get_ref().as_str();
        // Fields each executor takes; any other that is set is an error.
        let takes: &[&str] = match executor {
            "closed-loop" => &["concurrency", "expected_interval"],
            "constant-arrival-rate" | "poisson-arrival-rate" => &["rate", "max_in_flight"],
            "ramping-arrival-rate" => &["start_rate", "stages", "max_in_flight"],
            "find-capacity" => capacity::FIELDS,
            "journeys" => journeys::FIELDS,
            other => {
                return Err(self.err(
                    l.executor.span(),
                    "load.executor",
                    format!(
                        "unknown executor {other:?}; expected \"closed-loop\", \"constant-arrival-rate\", \"ramping-arrival-rate\", \"poisson-arrival-rate\", \"find-capacity\" or \"journeys\""
                    ),
                ));
            }
        };
        let span_f = |v: &Option<Spanned<f64>>| v.as_ref().map(|v| v.span());
        let set: [(&str, Option<Range<usize>>); 18] = [
            ("concurrency", l.concurrency.as_ref().map(|v| v.span())),
            (
                "expected_interval",
                l.expected_interval.as_ref().map(|v| v.span()),
            ),
            ("rate", l.rate.as_ref().map(|v| v.span())),
            ("start_rate", l.start_rate.as_ref().map(|v| v.span())),
            ("stages", l.stages.as_ref().map(|v| v.span())),
            ("max_in_flight", l.max_in_flight.as_ref().map(|v| v.span())),
            ("factor", span_f(&l.factor)),
            ("step", span_f(&l.step)),
            ("step_duration", l.step_duration.as_ref().map(|v| v.span())),
            ("max_rate", span_f(&l.max_rate)),
            ("slo_p99", l.slo_p99.as_ref().map(|v| v.span())),
            ("max_error_ratio", span_f(&l.max_error_ratio)),
            ("max_throttle_ratio", span_f(&l.max_throttle_ratio)),
            ("min_accepted_ratio", span_f(&l.min_accepted_ratio)),
            ("bisect_steps", l.bisect_steps.as_ref().map(|v| v.span())),
            ("users", l.users.as_ref().map(|v| v.span())),
            ("hatch_rate", span_f(&l.hatch_rate)),
            ("iterations", l.iterations.as_ref().map(|v| v.span())),
        ];
        if let Some((name, Some(span))) =
            set.iter().find(|(n, s)| s.is_some() && !takes.contains(n))
        {
            return Err(self.err(
                span.clone(),
                &format!("load.{name}"),
                format!("{executor} does not take `{name}`"),
            ));
        }
        Ok(executor)
    }

    /// The error of a field the executor needs and the file leaves out.
    fn missing(&self, l: &file::LoadSection, name: &str) -> ScenarioError {
        let executor = l.executor.get_ref();
        self.err(
            l.executor.span(),
            &format!("load.{name}"),
            format!("{executor} needs `{name}`"),
        )
    }

    /// A rate of requests per second, `> 0` (or `>= 0` with `allow_zero`).
    fn rate(
        &self,
        l: &file::LoadSection,
        v: &Option<Spanned<f64>>,
        name: &str,
        allow_zero: bool,
    ) -> Checked<f64> {
        let v = v.as_ref().ok_or_else(|| self.missing(l, name))?;
        let r = *v.get_ref();
        let ok = r.is_finite() && r <= MAX_RATE && (r > 0.0 || (allow_zero && r == 0.0));
        if !ok {
            let bound = if allow_zero { ">= 0" } else { "> 0" };
            return Err(self.err(
                v.span(),
                &format!("load.{name}"),
                format!("must be {bound} and <= {MAX_RATE} (requests per second)"),
            ));
        }
        Ok(r)
    }

    /// `executor = "closed-loop"`: concurrency and an optional expected interval.
    fn closed_loop(&self, l: &file::LoadSection) -> Checked<LoadModel> {
        let c = l
            .concurrency
            .as_ref()
            .ok_or_else(|| self.missing(l, "concurrency"))?;
        let concurrency = self.count(c, "load.concurrency", 1, MAX_IN_FLIGHT, WHY_IN_FLIGHT)?;
        let expected_interval = match &l.expected_interval {
            Some(d) => {
                let interval = self.duration(d, "load.expected_interval", MAX_TIMEOUT)?;
                if interval < MIN_EXPECTED_INTERVAL {
                    return Err(self.err(
                        d.span(),
                        "load.expected_interval",
                        "must be at least 1ms: a slow request adds one corrected sample per interval it outlasted",
                    ));
                }
                Some(interval)
            }
            None => None,
        };
        Ok(LoadModel::ClosedLoop {
            concurrency: concurrency as usize,
            expected_interval,
        })
    }

    /// `executor = "ramping-arrival-rate"`: a start rate and 1 to `MAX_STAGES` stages.
    fn ramping_arrival_rate(&self, l: &file::LoadSection) -> Checked<Arrivals> {
        let start_rate = match &l.start_rate {
            Some(_) => self.rate(l, &l.start_rate, "start_rate", true)?,
            None => 0.0,
        };
        let stages_spanned = l.stages.as_ref().ok_or_else(|| self.missing(l, "stages"))?;
        let count = stages_spanned.get_ref().len();
        if !(1..=MAX_STAGES).contains(&count) {
            return Err(self.err(
                stages_spanned.span(),
                "load.stages",
                format!("give 1 to {MAX_STAGES} stages"),
            ));
        }
        let mut stages = Vec::new();
        let mut total = Duration::ZERO;
        for (i, st) in stages_spanned.get_ref().iter().enumerate() {
            let f = format!("load.stages[{i}]");
            let duration = self.duration_at(
                &st.duration,
                stages_spanned.span(),
                &format!("{f}.duration"),
                MAX_RUN_LENGTH,
            )?;
            if !(st.target.is_finite() && (0.0..=MAX_RATE).contains(&st.target)) {
                return Err(self.err(
                    stages_spanned.span(),
                    &format!("{f}.target"),
                    format!("must be between 0 and {MAX_RATE}"),
                ));
            }
            total += duration;
            stages.push(Stage {
                target: st.target,
                duration,
            });
        }
        if total > MAX_RUN_LENGTH {
            return Err(self.err(
                stages_spanned.span(),
                "load.stages",
                format!("the stages together {}", at_most(MAX_RUN_LENGTH)),
            ));
        }
        Ok(Arrivals::RampingArrivalRate { start_rate, stages })
    }

    fn data(&self, d: &file::DataSection) -> Checked<DataSet> {
        if !(1..=MAX_BUCKETS).contains(&d.buckets.get_ref().len()) {
            return Err(self.err(
                d.buckets.span(),
                "data.buckets",
                format!("name 1 to {MAX_BUCKETS} buckets"),
            ));
        }
        let mut buckets = Vec::new();
        for (i, b) in d.buckets.get_ref().iter().enumerate() {
            let field = format!("data.buckets[{i}]");
            if let Err(why) = check_bucket_name(b.get_ref()) {
                return Err(self.err(b.span(), &field, why));
            }
            if buckets.contains(b.get_ref()) {
                return Err(self.err(b.span(), &field, "bucket named twice"));
            }
            buckets.push(b.get_ref().clone());
        }
        let prefix = match &d.prefix {
            Some(p) => {
                check_prefix(p.get_ref()).map_err(|why| self.err(p.span(), "data.prefix", why))?;
                p.get_ref().clone()
            }
            None => "gatebench/".to_string(),
        };
        let objects = match &d.objects {
            Some(n) => self.count(n, "data.objects", 0, MAX_OBJECTS, WHY_OBJECTS)?,
            None => 100,
        };
        let size = self.size(&d.size, "data.size")?;
        let keys = match &d.keys {
            None => KeyPopularity::Uniform,
            Some(k) => {
                let err = |why: &str| self.err(k.span(), "data.keys", why.to_string());
                match k.get_ref() {
                    KeysSpec::Named(n) if n == "uniform" => KeyPopularity::Uniform,
                    KeysSpec::Named(n) => {
                        return Err(err(&format!(
                            "unknown key popularity {n:?}; expected \"uniform\", {{ zipf = … }} or {{ hot_set = … }}"
                        )));
                    }
                    KeysSpec::Table(KeysTable::Zipf(s)) if s.is_finite() && *s > 0.0 => {
                        KeyPopularity::Zipf(*s)
                    }
                    KeysSpec::Table(KeysTable::Zipf(_)) => {
                        return Err(err("the zipf exponent must be > 0"));
                    }
                    KeysSpec::Table(KeysTable::HotSet { requests, keys }) => {
                        let unit = |x: f64| x.is_finite() && x > 0.0 && x < 1.0;
                        if !unit(*requests) || !unit(*keys) {
                            return Err(err(
                                "hot_set requests and keys are shares between 0 and 1 (exclusive)",
                            ));
                        }
                        KeyPopularity::HotSet {
                            requests: *requests,
                            keys: *keys,
                        }
                    }
                }
            }
        };
        Ok(DataSet {
            buckets,
            prefix,
            objects,
            size,
            keys,
        })
    }

    fn size(&self, s: &Spanned<SizeSpec>, field: &str) -> Checked<SizeDist> {
        let err = |why: String| self.err(s.span(), field, why);
        let bytes = |v: &str| match parse_size(v).map_err(err)? {
            n if n > MAX_OBJECT_BYTES => Err(err(format!(
                "{v:?} is larger than one S3 object may be (5 GiB)"
            ))),
            n => Ok(n),
        };
        let dist = match s.get_ref() {
            SizeSpec::Fixed(v) => SizeDist::Fixed(bytes(v)?),
            SizeSpec::Table(SizeTable::Uniform { min, max }) => SizeDist::Uniform {
                min: bytes(min)?,
                max: bytes(max)?,
            },
            SizeSpec::Table(SizeTable::Lognormal { median, p99 }) => SizeDist::Lognormal {
                median: bytes(median)?,
                p99: bytes(p99)?,
            },
            SizeSpec::Table(SizeTable::Weighted(rows)) => {
                let mut out = Vec::new();
                let mut total = 0;
                for row in rows {
                    let w = weight(row.weight, total).map_err(err)?;
                    total += w;
                    out.push((bytes(&row.size)?, w));
                }
                SizeDist::Weighted(out)
            }
        };
        dist.sampler().map_err(err)?;
        Ok(dist)
    }

    fn mix(&self, table: &Spanned<file::MixSection>, data: &DataSet) -> Checked<Vec<MixEntry>> {
        let m = table.get_ref();
        let entries: [(OpKind, &Option<Spanned<OpEntryForm>>); 5] = [
            (OpKind::Put, &m.put),
            (OpKind::Get, &m.get),
            (OpKind::Head, &m.head),
            (OpKind::List, &m.list),
            (OpKind::Delete, &m.delete),
        ];
        let mut mix = Vec::new();
        let mut total = 0;
        for (op, entry) in entries {
            let Some(entry) = entry else { continue };
            let field = format!("mix.{op}");
            let e = &entry.get_ref().0;
            let weight = weight(e.weight, total)
                .map_err(|why| self.err(entry.span(), &format!("{field}.weight"), why))?;
            total += weight;
            let entry_of = self.mix_entry(op, weight, e, entry.span(), &field)?;
            if weight > 0 {
                mix.push(entry_of);
            }
            let needs_objects = matches!(op, OpKind::Get | OpKind::Head);
            if weight > 0 && needs_objects && data.objects == 0 {
                return Err(self.err(
                    entry.span(),
                    &field,
                    "reads need a seeded read set: set data.objects > 0",
                ));
            }
        }
        if let Some(entry) = &m.multipart
            && let Some(e) = self.multipart(entry, &mut total)?
        {
            mix.push(e);
        }
        if mix.is_empty() {
            return Err(self.err(
                table.span(),
                "mix",
                "give at least one operation a weight > 0",
            ));
        }
        let has = |op| mix.iter().any(|e: &MixEntry| e.op == op);
        if has(OpKind::Delete) && !has(OpKind::Put) && !has(OpKind::Multipart) {
            let span = m.delete.as_ref().map(|d| d.span());
            return Err(ScenarioError::at(
                self.path,
                self.text,
                span,
                "mix.delete",
                "deletes remove objects this run wrote: add `put` (or `multipart`)",
            ));
        }
        Ok(mix)
    }

    /// A mix entry of `op` with `e`'s LIST options, checked (errors point at `span`).
    fn mix_entry(
        &self,
        op: OpKind,
        weight: u32,
        e: &file::OpEntry,
        span: Range<usize>,
        field: &str,
    ) -> Checked<MixEntry> {
        if let Some(p) = &e.prefix {
            check_prefix(p)
                .map_err(|why| self.err(span.clone(), &format!("{field}.prefix"), why))?;
        }
        if op != OpKind::List
            && (e.max_keys.is_some() || e.prefix.is_some() || e.delimiter.is_some())
        {
            return Err(self.err(
                span,
                field,
                "`max_keys`, `prefix` and `delimiter` apply to `list` only",
            ));
        }
        if e.delimiter.as_deref().is_some_and(|d| d != "/") {
            return Err(self.err(
                span,
                &format!("{field}.delimiter"),
                "the only delimiter is \"/\" (the one gatebench's keys use)",
            ));
        }
        let max_keys = match e.max_keys {
            Some(k) if !(1..=1000).contains(&k) => {
                return Err(self.err(
                    span,
                    &format!("{field}.max_keys"),
                    "must be between 1 and 1000",
                ));
            }
            Some(k) => Some(k as u32),
            None if op == OpKind::List => Some(1000),
            None => None,
        };
        let (range, checksum) = s3_options::mix_options(op, e)
            .map_err(|(name, why)| self.err(span.clone(), &format!("{field}.{name}"), why))?;
        Ok(MixEntry {
            op,
            weight,
            max_keys,
            prefix: e.prefix.clone(),
            delimiter: e.delimiter.clone(),
            range,
            checksum,
            multipart: None,
        })
    }

    fn targets(
        &self,
        t: &Spanned<BTreeMap<String, Spanned<TargetSection>>>,
    ) -> Checked<Vec<TargetSpec>> {
        if t.get_ref().is_empty() {
            return Err(self.err(t.span(), "targets", "define at least one target"));
        }
        let mut out = Vec::new();
        for (name, section) in t.get_ref() {
            let field = format!("targets.{name}");
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(self.err(
                    section.span(),
                    &field,
                    "target names use letters, digits, '-' and '_'",
                ));
            }
            let kind = self.target_kind(section, &field, t.get_ref())?;
            let cache_rule = match (&section.get_ref().cache_hit, &kind) {
                (Some(c), _) => {
                    let c = c.get_ref();
                    Some(CacheRule {
                        header: c.header.clone(),
                        hit: c.equals.clone(),
                        miss: c.miss.clone().unwrap_or_else(|| "MISS".into()),
                    })
                }
                (None, TargetKind::Gateway(_) | TargetKind::EmbeddedGateway(_)) => {
                    Some(CacheRule::x_cache())
                }
                (None, _) => None,
            };
            let rate_limit = match &section.get_ref().rate_limit {
                Some(r) => Some(self.rate_limit(r, &format!("{field}.rate_limit"))?),
                None => None,
            };
            out.push(TargetSpec {
                name: name.clone(),
                kind,
                cache_rule,
                rate_limit,
                addressing: self.addressing(section, &field)?,
            });
        }
        Ok(out)
    }

    /// A target's `addressing` (`path` unless it says `virtual`).
    fn addressing(&self, s: &Spanned<TargetSection>, field: &str) -> Checked<Addressing> {
        match &s.get_ref().addressing {
            None => Ok(Addressing::Path),
            Some(a) => s3_options::addressing(a.get_ref())
                .map_err(|why| self.err(a.span(), &format!("{field}.addressing"), why)),
        }
    }

    /// `rate_limit = { calls, renewal_period }`: at least one call per whole second or more.
    fn rate_limit(&self, r: &Spanned<RateLimitSection>, field: &str) -> Checked<RateLimitHint> {
        let section = r.get_ref();
        if section.calls == 0 {
            return Err(self.err(r.span(), &format!("{field}.calls"), "must be at least 1"));
        }
        let period_field = format!("{field}.renewal_period");
        let period = self.duration(&section.renewal_period, &period_field, MAX_RUN_LENGTH)?;
        if period.as_secs() == 0 || period.subsec_nanos() != 0 {
            return Err(self.err(
                section.renewal_period.span(),
                &period_field,
                "APIM renewal periods are whole seconds, at least 1s",
            ));
        }
        Ok(RateLimitHint {
            calls: section.calls,
            renewal_period_s: period.as_secs(),
        })
    }

    /// The direct target a gateway is set up through: `setup_via`, or the only one.
    fn setup_via(
        &self,
        s: &Spanned<TargetSection>,
        field: &str,
        all: &BTreeMap<String, Spanned<TargetSection>>,
    ) -> Checked<String> {
        let t = s.get_ref();
        let direct: Vec<&String> = all
            .iter()
            .filter(|(_, t)| matches!(t.get_ref().kind.get_ref().as_str(), "s3" | "embedded"))
            .map(|(n, _)| n)
            .collect();
        let setup_via = match &t.setup_via {
            Some(v) => {
                if !direct.contains(&v.get_ref()) {
                    return Err(self.err(
                        v.span(),
                        &format!("{field}.setup_via"),
                        format!(
                            "{:?} is not an s3 or embedded target of this scenario",
                            v.get_ref()
                        ),
                    ));
                }
                v.get_ref().clone()
            }
            None if direct.len() == 1 => direct[0].clone(),
            None => {
                return Err(self.err(
                            s.span(),
                            &format!("{field}.setup_via"),
                            "name the s3 target behind this gateway (gatebench seeds and cleans up through it)",
                        ));
            }
        };
        Ok(setup_via)
    }

    /// `targets.NAME`: its kind, and the fields that kind takes.
    fn target_kind(
        &self,
        s: &Spanned<TargetSection>,
        field: &str,
        all: &BTreeMap<String, Spanned<TargetSection>>,
    ) -> Checked<TargetKind> {
        let kind = s.get_ref().kind.get_ref().as_str();
        self.refuse_fields_not_taken(s.get_ref(), field)?;
        match kind {
            "embedded" => Ok(TargetKind::Embedded),
            "embedded-gateway" => self.embedded_gateway(s, field, all),
            "s3" => self.s3_target(s, field),
            _ => self.gateway_target(s, field, all),
        }
    }

    /// Checks the kind is known and that no field it does not take is set.
    fn refuse_fields_not_taken(&self, t: &TargetSection, field: &str) -> Checked<()> {
        let kind = t.kind.get_ref().as_str();
        let takes: &[&str] = match kind {
            "embedded" => &[],
            "s3" => &[
                "endpoint",
                "region",
                "access_key",
                "secret_key",
                "tls",
                "addressing",
            ],
            "gateway" => &[
                "base_url",
                "subscription_key",
                "subscription_header",
                "oauth2",
                "setup_via",
                "rate_limit",
                "tls",
                "clients",
                "clients_from",
            ],
            "embedded-gateway" => &[
                "policy",
                "setup_via",
                "added_latency",
                "rate_limit",
                "tls",
                "clients",
            ],
            other => {
                return Err(self.err(
                    t.kind.span(),
                    &format!("{field}.kind"),
                    format!("unknown kind {other:?}; expected \"embedded\", \"s3\", \"gateway\" or \"embedded-gateway\""),
                ));
            }
        };
        let set: [(&str, Option<Range<usize>>); 17] = [
            ("tls", t.tls.as_ref().map(|v| v.span())),
            ("clients", t.clients.as_ref().map(|v| v.span())),
            ("clients_from", t.clients_from.as_ref().map(|v| v.span())),
            ("policy", t.policy.as_ref().map(|v| v.span())),
            ("added_latency", t.added_latency.as_ref().map(|v| v.span())),
            ("endpoint", t.endpoint.as_ref().map(|v| v.span())),
            ("region", t.region.as_ref().map(|v| v.span())),
            ("access_key", t.access_key.as_ref().map(|v| v.span())),
            ("secret_key", t.secret_key.as_ref().map(|v| v.span())),
            ("base_url", t.base_url.as_ref().map(|v| v.span())),
            (
                "subscription_key",
                t.subscription_key.as_ref().map(|v| v.span()),
            ),
            (
                "subscription_header",
                t.subscription_header.as_ref().map(|v| v.span()),
            ),
            ("oauth2", t.oauth2.as_ref().map(|v| v.span())),
            ("setup_via", t.setup_via.as_ref().map(|v| v.span())),
            ("rate_limit", t.rate_limit.as_ref().map(|v| v.span())),
            ("cache_hit", None),
            ("addressing", t.addressing.as_ref().map(|v| v.span())),
        ];
        if let Some((name, Some(span))) = set
            .iter()
            .find(|(n, sp)| sp.is_some() && !takes.contains(n))
        {
            return Err(self.err(
                span.clone(),
                &format!("{field}.{name}"),
                format!("a {kind} target does not take `{name}`"),
            ));
        }
        Ok(())
    }

    /// A target's string field `name`, with `${VAR}`s resolved.
    fn target_value(
        &self,
        field: &str,
        name: &str,
        v: &Option<Spanned<String>>,
    ) -> Checked<Option<String>> {
        let f = format!("{field}.{name}");
        v.as_ref()
            .map(|v| interpolate(v.get_ref(), self.env).map_err(|why| self.err(v.span(), &f, why)))
            .transpose()
    }

    /// A target's string field `name` that its kind requires.
    fn target_required(
        &self,
        s: &Spanned<TargetSection>,
        field: &str,
        name: &str,
        v: &Option<Spanned<String>>,
    ) -> Checked<String> {
        self.target_value(field, name, v)?.ok_or_else(|| {
            self.err(
                s.span(),
                &format!("{field}.{name}"),
                format!("required for kind = \"{}\"", s.get_ref().kind.get_ref()),
            )
        })
    }

    /// `kind = "embedded-gateway"`: policy file, added latency, `tls = true|false`.
    fn embedded_gateway(
        &self,
        s: &Spanned<TargetSection>,
        field: &str,
        all: &BTreeMap<String, Spanned<TargetSection>>,
    ) -> Checked<TargetKind> {
        let t = s.get_ref();
        let policy = self
            .target_value(field, "policy", &t.policy)?
            .unwrap_or_else(|| DEFAULT_LOCAL_POLICY.into());
        if !Path::new(&policy).is_file() {
            let span = t.policy.as_ref().map_or(s.span(), |p| p.span());
            return Err(self.err(
                span,
                &format!("{field}.policy"),
                format!("no policy file {policy:?} (paths are relative to the working directory)"),
            ));
        }
        let added_latency = self.target_value(field, "added_latency", &t.added_latency)?;
        if let (Some(l), Some(span)) = (&added_latency, &t.added_latency)
            && let Err(why) = crate::shared::latency::AddedLatency::parse(l)
        {
            return Err(self.err(span.span(), &format!("{field}.added_latency"), why));
        }
        let tls = match &t.tls {
            None => false,
            Some(v) => match v.get_ref() {
                file::TlsField::Enabled(on) => *on,
                file::TlsField::Settings(_) => {
                    return Err(self.err(
                        v.span(),
                        &format!("{field}.tls"),
                        "an embedded-gateway takes `tls = true` (it makes its own CA)",
                    ));
                }
            },
        };
        Ok(TargetKind::EmbeddedGateway(EmbeddedGateway {
            policy: policy.into(),
            setup_via: self.setup_via(s, field, all)?,
            added_latency,
            tls,
            clients: self.embedded_clients(t, field)?,
        }))
    }

    /// `kind = "s3"`: endpoint, region, keys, TLS.
    fn s3_target(&self, s: &Spanned<TargetSection>, field: &str) -> Checked<TargetKind> {
        let t = s.get_ref();
        let endpoint = self.target_required(s, field, "endpoint", &t.endpoint)?;
        if let Err(why) = check_url(&endpoint, false) {
            let span = t.endpoint.as_ref().map_or(s.span(), |e| e.span());
            return Err(self.err(span, &format!("{field}.endpoint"), why));
        }
        let tls = self.tls(t.tls.as_ref(), field, &endpoint)?;
        Ok(TargetKind::S3(S3Endpoint {
            tls,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            region: self
                .target_value(field, "region", &t.region)?
                .unwrap_or_else(|| "us-east-1".into()),
            access_key: self.target_required(s, field, "access_key", &t.access_key)?,
            secret_key: Secret::new(self.target_required(s, field, "secret_key", &t.secret_key)?),
        }))
    }

    /// `kind = "gateway"`: base URL, subscription key and header, OAuth2, TLS.
    fn gateway_target(
        &self,
        s: &Spanned<TargetSection>,
        field: &str,
        all: &BTreeMap<String, Spanned<TargetSection>>,
    ) -> Checked<TargetKind> {
        let t = s.get_ref();
        let base_url = self.target_required(s, field, "base_url", &t.base_url)?;
        if let Err(why) = check_url(&base_url, true) {
            let span = t.base_url.as_ref().map_or(s.span(), |e| e.span());
            return Err(self.err(span, &format!("{field}.base_url"), why));
        }
        let tls = self.tls(t.tls.as_ref(), field, &base_url)?;
        let subscription_header = self
            .target_value(field, "subscription_header", &t.subscription_header)?
            .unwrap_or_else(|| "Ocp-Apim-Subscription-Key".into());
        if http::HeaderName::from_bytes(subscription_header.as_bytes()).is_err() {
            let span = t
                .subscription_header
                .as_ref()
                .map_or(s.span(), |e| e.span());
            return Err(self.err(
                span,
                &format!("{field}.subscription_header"),
                "not a valid header name",
            ));
        }
        let clients = self.gateway_clients(s, field)?;
        let oauth2 = match &t.oauth2 {
            Some(o) if clients.is_empty() => Some(self.oauth2(o, &format!("{field}.oauth2"))?),
            _ => None,
        };
        let setup_via = self.setup_via(s, field, all)?;
        Ok(TargetKind::Gateway(GatewayTarget {
            base_url: base_url.trim_end_matches('/').to_string(),
            subscription_key: self
                .target_value(field, "subscription_key", &t.subscription_key)?
                .map(Secret::new),
            subscription_header,
            oauth2,
            setup_via,
            tls,
            clients,
        }))
    }

    /// A gateway's `oauth2 = { … }`: token URL, client id, exactly one credential, scope.
    fn oauth2(&self, o: &Spanned<file::OAuth2Section>, f: &str) -> Checked<OAuth2Config> {
        let sec = o.get_ref();
        let expand = |v: &str| interpolate(v, self.env).map_err(|why| self.err(o.span(), f, why));
        let token_url = expand(&sec.token_url)?;
        if let Err(why) = check_url(&token_url, true) {
            return Err(self.err(o.span(), &format!("{f}.token_url"), why));
        }
        let credential = match (
            &sec.client_secret,
            &sec.client_secret_file,
            &sec.client_certificate,
        ) {
            (Some(secret), None, None) => ClientCredential::Secret(Secret::new(expand(secret)?)),
            (None, Some(file), None) => {
                ClientCredential::SecretFile(self.file(o, f, &expand(file)?)?)
            }
            (None, None, Some(c)) => ClientCredential::Certificate {
                cert_file: self.file(o, f, &expand(&c.cert_file)?)?,
                key_file: self.file(o, f, &expand(&c.key_file)?)?,
            },
            _ => {
                return Err(self.err(
                    o.span(),
                    f,
                    "give exactly one of client_secret, client_secret_file or client_certificate",
                ));
            }
        };
        Ok(OAuth2Config {
            token_url,
            client_id: expand(sec.client_id.as_deref().ok_or_else(|| {
                self.err(
                    o.span(),
                    &format!("{f}.client_id"),
                    "required (or give each of `clients` its own)",
                )
            })?)?,
            credential,
            scope: sec.scope.as_deref().map(expand).transpose()?,
        })
    }
}

impl Validator<'_> {
    /// A target's `tls = { … }` (absent: platform roots). Files must exist; a client
    /// certificate comes with its key; settings on a plain-http URL are refused.
    fn tls(&self, t: Option<&Spanned<file::TlsField>>, field: &str, url: &str) -> Checked<TlsSpec> {
        let Some(t) = t else {
            return Ok(TlsSpec::default());
        };
        let f = format!("{field}.tls");
        let file::TlsField::Settings(sec) = t.get_ref() else {
            return Err(self.err(
                t.span(),
                &f,
                "takes a table, e.g. tls = { ca_file = \"ca.pem\" }",
            ));
        };
        if !url.starts_with("https://") {
            return Err(self.err(t.span(), &f, format!("{url} is not https://")));
        }
        let path = |name: &str, v: &Option<String>| -> Checked<Option<std::path::PathBuf>> {
            let field = format!("{f}.{name}");
            v.as_deref()
                .map(|v| {
                    let v =
                        interpolate(v, self.env).map_err(|why| self.err(t.span(), &field, why))?;
                    self.file(t, &field, &v)
                })
                .transpose()
        };
        let spec = TlsSpec {
            ca_file: path("ca_file", &sec.ca_file)?,
            client_cert: path("client_cert", &sec.client_cert)?,
            client_key: path("client_key", &sec.client_key)?,
            server_name: sec.server_name.clone(),
            insecure_skip_verify: sec.insecure_skip_verify,
        };
        if spec.client_cert.is_some() != spec.client_key.is_some() {
            return Err(self.err(t.span(), &f, "client_cert and client_key go together"));
        }
        if let Some(name) = &spec.server_name
            && rustls_pki_types::ServerName::try_from(name.as_str()).is_err()
        {
            return Err(self.err(
                t.span(),
                &format!("{f}.server_name"),
                format!("{name:?} is not a DNS name or IP address"),
            ));
        }
        Ok(spec)
    }

    /// `value` as the path of an existing file (relative to the working directory).
    fn file<T>(&self, at: &Spanned<T>, field: &str, value: &str) -> Checked<std::path::PathBuf> {
        if !Path::new(value).is_file() {
            return Err(self.err(
                at.span(),
                field,
                format!("no file {value:?} (paths are relative to the working directory)"),
            ));
        }
        Ok(value.into())
    }
}

/// "must be at most …" for a duration.
fn at_most(max: Duration) -> String {
    format!("must be at most {}", humantime::format_duration(max))
}

/// A weight of a table whose earlier weights add up to `total`: from 0 to
/// [`MAX_WEIGHT`], and the table's sum too (weights are relative shares).
fn weight(w: i64, total: u32) -> Result<u32, String> {
    let w = u32::try_from(w).map_err(|_| "must be >= 0".to_string())?;
    if u64::from(w) > MAX_WEIGHT {
        return Err(format!(
            "must be at most {MAX_WEIGHT}: weights are relative shares"
        ));
    }
    if u64::from(total + w) > MAX_WEIGHT {
        return Err(format!(
            "the weights add up to {}; keep their sum at most {MAX_WEIGHT} (they are relative shares)",
            total + w
        ));
    }
    Ok(w)
}

/// A `data.prefix` or LIST prefix: a safe key prefix of at most [`MAX_PREFIX_BYTES`].
fn check_prefix(p: &str) -> Result<(), String> {
    if p.len() > MAX_PREFIX_BYTES {
        return Err(format!(
            "must be at most {MAX_PREFIX_BYTES} bytes (S3 keys have at most 1024)"
        ));
    }
    check_key_prefix(p)
}

/// Parses `4KiB`, `1MiB`, `512` (bytes) and the like.
pub fn parse_size(v: &str) -> Result<u64, String> {
    v.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("{v:?} is not a size like \"4KiB\" or \"1MiB\""))
}

/// S3 bucket naming rules (the subset that matters for path-style requests).
fn check_bucket_name(b: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&b.len()) {
        return Err("bucket names have 3 to 63 characters");
    }
    if !b
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        return Err("bucket names use lowercase letters, digits, '-' and '.'");
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !b.starts_with(alnum) || !b.ends_with(alnum) {
        return Err("bucket names begin and end with a letter or digit");
    }
    if b.contains("..") {
        return Err("bucket names have no two '.' in a row");
    }
    Ok(())
}

/// Checks an `http://host:port` URL; with `path_allowed`, a path prefix may follow.
fn check_url(e: &str, path_allowed: bool) -> Result<(), String> {
    let uri: http::Uri = e
        .parse()
        .map_err(|err| format!("{e:?} is not a URL: {err}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("{e:?} needs a scheme, e.g. http://127.0.0.1:7480")),
    }
    if uri.authority().is_none() {
        return Err(format!("{e:?} has no host"));
    }
    if uri.query().is_some() || (!path_allowed && !matches!(uri.path(), "" | "/")) {
        return Err("an S3 endpoint has no path or query; buckets go in [data]".into());
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod fuzz;
#[cfg(test)]
mod tests;
