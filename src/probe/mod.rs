//! `gatebench probe`: a preflight before a long capacity test. For each target of a
//! scenario, one step at a time: resolve, connect, TLS (certificate shown), token (claims
//! shown, never the token), then one request of each op in the mix against a probe
//! object under a fresh run prefix, seeded and deleted again through the storage target.
//!
//! Owns the steps and what each shows; `render` prints them. Opens targets the way `run`
//! does and sends with the measured client, so what passes here is what a run uses. A
//! target stops at its first failing step; the others are still probed. Nothing here
//! records or reports latency distributions.

pub mod render;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use serde::Serialize;
use serde_json::Value;

use crate::client::connect::{DialError, Opened};
use crate::client::s3::Response;
use crate::client::token::TokenSource;
use crate::client::{KeySpace, OpenTarget, S3Client};
use crate::plan::sequence::{ObjectKey, PlannedOp};
use crate::plan::{OpKind, Plan, TargetKind, TargetSpec};
use crate::redact::redact;
use crate::run::setup::{admin, storage_of};

/// Size of the probe object and of the probe's PUT.
const PROBE_OBJECT_BYTES: u64 = 4096;
/// A name that does not resolve within this fails the resolve step.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one step did.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `open`, `resolve`, `connect`, `tls`, `token`, `seed`, an op name, or `clean-up`.
    pub step: String,
    pub ok: bool,
    /// How long it took (`None`: not timed, e.g. in-process work).
    pub ms: Option<f64>,
    /// What it found, or why it failed (secrets masked).
    pub detail: String,
}

/// The steps of one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetProbe {
    pub name: String,
    pub kind: String,
    pub address: String,
    pub steps: Vec<Step>,
}

/// The whole probe.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub scenario: String,
    /// The prefix the probe's objects were written under.
    pub prefix: String,
    pub targets: Vec<TargetProbe>,
}

impl Probe {
    /// The first failing step, with its target's name.
    pub fn first_failure(&self) -> Option<(&str, &Step)> {
        self.targets
            .iter()
            .find_map(|t| t.steps.iter().find(|s| !s.ok).map(|s| (t.name.as_str(), s)))
    }
}

impl TargetProbe {
    fn pass(&mut self, step: &str, took: Option<Duration>, detail: String) {
        self.push(step, true, took, detail);
    }

    /// Records a failed step; returns `None`, so a caller can `?` out of the target.
    fn fail<T>(&mut self, step: &str, took: Option<Duration>, detail: String) -> Option<T> {
        self.push(step, false, took, detail);
        None
    }

    fn push(&mut self, step: &str, ok: bool, took: Option<Duration>, detail: String) {
        self.steps.push(Step {
            step: step.into(),
            ok,
            ms: took.map(|d| d.as_secs_f64() * 1000.0),
            detail: redact(&detail),
        });
    }
}

/// Probes every target of `plan`: direct targets first (an embedded gateway needs its
/// backend open), reported in scenario order.
pub async fn probe(plan: &Plan) -> Probe {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let prefix = format!("{}probe-{stamp}/", plan.data.prefix);
    let keys = KeySpace::new(plan, &prefix);
    let mut open: Vec<Option<OpenTarget>> = Vec::new();
    open.resize_with(plan.targets.len(), || None);
    let mut probes: Vec<Option<TargetProbe>> = vec![None; plan.targets.len()];
    let mut order: Vec<usize> = (0..plan.targets.len()).collect();
    order.sort_by_key(|&i| storage_of(plan, i) != i);
    for i in order {
        let spec = &plan.targets[i];
        let storage = open[storage_of(plan, i)]
            .as_ref()
            .and_then(|t| t.storage.clone());
        let mut report = TargetProbe {
            name: spec.name.clone(),
            kind: String::new(),
            address: String::new(),
            steps: Vec::new(),
        };
        let keys = keys.for_target(&spec.name);
        open[i] = probe_target(plan, spec, storage.as_ref(), &keys, &mut report).await;
        probes[i] = Some(report);
    }
    Probe {
        scenario: plan.name.clone(),
        prefix,
        targets: probes.into_iter().flatten().collect(),
    }
}

/// One target's steps; returns it open (a gateway's backend may be needed by another).
async fn probe_target(
    plan: &Plan,
    spec: &TargetSpec,
    storage: Option<&crate::shared::S3Endpoint>,
    keys: &KeySpace,
    report: &mut TargetProbe,
) -> Option<OpenTarget> {
    // A gateway's token is fetched in a step of its own, after the connection steps.
    let mut without_token = spec.clone();
    let oauth2 = match &mut without_token.kind {
        TargetKind::Gateway(gw) => gw.oauth2.take(),
        _ => None,
    };
    let started = Instant::now();
    let opening = tokio::time::timeout(
        plan.limits.setup_timeout,
        OpenTarget::open(&without_token, storage),
    );
    let mut target = match opening.await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return report.fail("open", Some(started.elapsed()), format!("{e:#}")),
        Err(_) => return report.fail("open", None, "not open within run.setup_timeout".into()),
    };
    report.kind = target.kind.to_string();
    report.address = target.address.clone();
    if matches!(
        spec.kind,
        TargetKind::Embedded | TargetKind::EmbeddedGateway(_)
    ) {
        report.pass("open", Some(started.elapsed()), "started in-process".into());
    }
    let client = match target.client(spec, plan.limits.request_timeout, plan.connections) {
        Ok(c) => c,
        Err(e) => return report.fail("open", None, format!("{e:#}")),
    };
    connection_steps(&client, &target.address, report).await?;
    if let (Some(oauth2), TargetKind::Gateway(gw)) = (oauth2, &spec.kind) {
        let started = Instant::now();
        match TokenSource::start(oauth2, &gw.tls).await {
            Ok(t) => target.token = Some(t),
            Err(e) => return report.fail("token", Some(started.elapsed()), format!("{e:#}")),
        }
    }
    let claims = target.token.as_ref().map(|t| token_step(t, report));
    // The client carrying the token (the one above was made before it was fetched).
    let client = match target.client(spec, plan.limits.request_timeout, plan.connections) {
        Ok(c) => c,
        Err(e) => return report.fail("open", None, format!("{e:#}")),
    };
    let storage = match (&target.storage, storage) {
        (Some(own), _) => own.clone(),
        (None, Some(via)) => via.clone(),
        (None, None) => return report.fail("seed", None, "no storage target to seed".into()),
    };
    let admin = match admin(plan, &storage) {
        Ok(a) => a,
        Err(e) => return report.fail("seed", None, format!("{e:#}")),
    };
    let seeded = seed(plan, keys, &admin, report).await;
    if seeded.is_some() {
        requests(plan, spec, keys, &client, claims.flatten().as_ref(), report).await;
    }
    // Whatever happened: delete what the probe wrote.
    let started = Instant::now();
    match admin
        .delete_prefix(&plan.data.buckets, keys.run_prefix())
        .await
    {
        Ok(n) => report.pass(
            "clean-up",
            Some(started.elapsed()),
            format!("deleted {n} objects under {}", keys.run_prefix()),
        ),
        Err(e) => report.push(
            "clean-up",
            false,
            Some(started.elapsed()),
            format!("objects may remain under {}: {e:#}", keys.run_prefix()),
        ),
    }
    Some(target)
}

/// resolve, connect and (https) tls, on a connection closed again; `None` if one failed.
async fn connection_steps(
    client: &S3Client,
    address: &str,
    report: &mut TargetProbe,
) -> Option<()> {
    let uri: http::Uri = match address.parse() {
        Ok(u) => u,
        Err(e) => return report.fail("resolve", None, format!("{address}: {e}")),
    };
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().unwrap_or_default().to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let started = Instant::now();
    let lookup = tokio::time::timeout(
        RESOLVE_TIMEOUT,
        tokio::net::lookup_host((host.trim_matches(['[', ']']), port)),
    );
    match lookup.await {
        Ok(Ok(addrs)) => {
            let addrs: Vec<String> = addrs.map(|a| a.to_string()).collect();
            report.pass("resolve", Some(started.elapsed()), addrs.join(", "));
        }
        Ok(Err(e)) => {
            return report.fail("resolve", Some(started.elapsed()), format!("{host}: {e}"));
        }
        Err(_) => {
            return report.fail(
                "resolve",
                None,
                format!("{host}: no answer within {RESOLVE_TIMEOUT:?}"),
            );
        }
    }
    let started = Instant::now();
    match client.open_once().await {
        Ok(opened) => {
            report.pass(
                "connect",
                Some(opened.times.connect),
                format!("{host}:{port}"),
            );
            if let Some(took) = opened.times.tls {
                report.pass("tls", Some(took), tls_detail(&opened));
            }
            Some(())
        }
        Err(DialError::Tls(why)) => {
            report.pass("connect", None, format!("{host}:{port}"));
            report.fail("tls", Some(started.elapsed()), why)
        }
        Err(e) => report.fail("connect", Some(started.elapsed()), e.to_string()),
    }
}

/// Protocol and the server certificate's subject, issuer and expiry.
fn tls_detail(opened: &Opened) -> String {
    let (version, alpn) = opened
        .tls_protocol
        .clone()
        .unwrap_or_else(|| ("unknown".into(), "none".into()));
    let mut detail = format!("{version}, ALPN {alpn}");
    let parsed = opened
        .peer_certificates
        .first()
        .map(|der| x509_parser::parse_x509_certificate(der));
    if let Some(Ok((_, cert))) = parsed {
        let not_after = cert.validity().not_after;
        let days_left = (not_after.timestamp() - unix_now()) / 86_400;
        detail.push_str(&format!(
            "; subject {}; issuer {}; not after {} ({days_left} days left)",
            cert.subject(),
            cert.issuer(),
            not_after
        ));
    }
    detail
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The claims of a token that matter to a gateway's validate-jwt, decoded WITHOUT
/// verifying (the gateway verifies; the probe only shows).
#[derive(Debug, Clone, Default)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// `azp` (v2 tokens) or `appid` (v1).
    pub caller: String,
    /// `roles` (application permissions) or `scp` (delegated).
    pub roles: String,
    pub exp: Option<i64>,
}

impl Claims {
    fn of(token: &str) -> Option<Self> {
        let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(token)
            .ok()?
            .claims;
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(" "),
            Value::Null => "-".into(),
            other => other.to_string(),
        };
        let either = |a: &str, b: &str| {
            let v = &claims[a];
            if v.is_null() {
                text(&claims[b])
            } else {
                text(v)
            }
        };
        Some(Claims {
            iss: text(&claims["iss"]),
            aud: text(&claims["aud"]),
            caller: either("azp", "appid"),
            roles: either("roles", "scp"),
            exp: claims["exp"].as_i64(),
        })
    }

    fn minutes_left(&self) -> Option<i64> {
        self.exp.map(|e| (e - unix_now()) / 60)
    }
}

impl std::fmt::Display for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "iss {}; aud {}; azp/appid {}; roles/scp {}",
            self.iss, self.aud, self.caller, self.roles
        )?;
        match self.minutes_left() {
            Some(m) => write!(f, "; exp in {m} min"),
            None => write!(f, "; no exp"),
        }
    }
}

/// The token step: fetch time and claims; the claims for later explanations.
fn token_step(token: &Arc<TokenSource>, report: &mut TargetProbe) -> Option<Claims> {
    let stats = token.stats();
    let took = Duration::from_micros(stats.fetch_latency.max());
    let header = token.header();
    let bearer = header.to_str().unwrap_or_default();
    let claims = Claims::of(bearer.trim_start_matches("Bearer "));
    match &claims {
        Some(c) => report.pass("token", Some(took), c.to_string()),
        None => report.pass(
            "token",
            Some(took),
            "not a JWT (opaque token): claims not shown".into(),
        ),
    }
    claims
}

/// Creates the buckets if needed and writes the probe object.
async fn seed(
    plan: &Plan,
    keys: &KeySpace,
    admin: &crate::client::Admin,
    report: &mut TargetProbe,
) -> Option<()> {
    let started = Instant::now();
    let object = (
        plan.data.buckets[0].clone(),
        keys.key(ObjectKey::Seeded(0)),
        PROBE_OBJECT_BYTES,
    );
    let path = format!("{}/{}", object.0, object.1);
    let work = async {
        admin.ensure_buckets(&plan.data.buckets).await?;
        admin.put_objects(vec![object]).await
    };
    match tokio::time::timeout(plan.limits.setup_timeout, work).await {
        Ok(Ok(())) => {
            report.pass("seed", Some(started.elapsed()), path);
            Some(())
        }
        Ok(Err(e)) => report.fail("seed", Some(started.elapsed()), format!("{e:#}")),
        Err(_) => report.fail("seed", None, "not done within run.setup_timeout".into()),
    }
}

/// One request of each op in the mix: PUT first (its object is what DELETE removes),
/// then GET, HEAD, LIST, DELETE.
async fn requests(
    plan: &Plan,
    spec: &TargetSpec,
    keys: &KeySpace,
    client: &S3Client,
    claims: Option<&Claims>,
    report: &mut TargetProbe,
) {
    let order = [
        OpKind::Put,
        OpKind::Get,
        OpKind::Head,
        OpKind::List,
        OpKind::Delete,
    ];
    let cache_header = spec
        .cache_rule
        .as_ref()
        .map_or("x-cache".to_string(), |r| r.header.to_ascii_lowercase());
    let mut conn = client.connection(0);
    for (index, op) in order.iter().enumerate() {
        let Some(mix_entry) = plan.mix.iter().position(|m| m.op == *op) else {
            continue;
        };
        let key = match op {
            OpKind::Put | OpKind::Delete | OpKind::Multipart | OpKind::Part => {
                ObjectKey::Written(0)
            }
            OpKind::Get | OpKind::Head => ObjectKey::Seeded(0),
            OpKind::List | OpKind::Journey => ObjectKey::None,
        };
        let call = keys.call(&PlannedOp {
            index: index as u64,
            op: *op,
            bucket: 0,
            key,
            size: if *op == OpKind::Put {
                PROBE_OBJECT_BYTES
            } else {
                0
            },
            mix_entry,
            range: None,
        });
        let started = Instant::now();
        let resp = client.send_keeping_details(&mut conn, &call).await;
        let took = started.elapsed();
        let ok = resp.class == crate::record::OutcomeClass::Ok;
        let detail = answer_detail(&resp, &cache_header, claims);
        report.push(op.name(), ok, Some(took), detail);
    }
}

/// Status, the headers that matter, and for a refusal what to check.
fn answer_detail(resp: &Response, cache_header: &str, claims: Option<&Claims>) -> String {
    let Some(status) = resp.status else {
        let kind = resp
            .transport
            .map_or("transport".into(), |t| format!("{t:?}"));
        return format!("no answer: {kind} error");
    };
    let empty = HeaderMap::new();
    let (headers, body) = match &resp.details {
        Some(d) => (&d.headers, d.error_body.as_slice()),
        None => (&empty, &[][..]),
    };
    let mut parts = vec![status.to_string()];
    let message = gateway_message(body);
    if let Some(m) = &message {
        parts[0] = format!("{status} {m}");
    }
    for (name, value) in headers {
        let n = name.as_str();
        let shown = n == cache_header
            || n == "retry-after"
            || n.contains("ratelimit")
            || n.contains("rate-limit")
            || n.contains("remaining")
            || n.ends_with("request-id")
            || n == "x-ms-correlation-request-id";
        if shown {
            parts.push(format!("{n}: {}", value.to_str().unwrap_or("?")));
        }
    }
    let mut detail = parts.join(" · ");
    if let Some(advice) = refusal_advice(status, message.as_deref(), claims) {
        detail = format!("{detail}: {advice}");
    }
    detail
}

/// APIM's `{"statusCode": N, "message": "..."}` error message, if the body is one.
fn gateway_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v["message"].as_str().map(str::to_string)
}

/// What to check after a 401/403 from a gateway, naming the token's claims.
fn refusal_advice(status: u16, message: Option<&str>, claims: Option<&Claims>) -> Option<String> {
    if status != 401 && status != 403 {
        return None;
    }
    let message = message.unwrap_or_default().to_ascii_lowercase();
    if message.contains("subscription key") {
        return Some(
            "the gateway refused the subscription key: check subscription_key (and \
             subscription_header) against the APIM subscription"
                .into(),
        );
    }
    if message.contains("quota") {
        return None;
    }
    let claims = claims?;
    let exp = match claims.minutes_left() {
        Some(m) => format!("exp (in {m} min)"),
        None => "exp (token has none)".into(),
    };
    Some(format!(
        "the gateway refused the token: check aud (token has {:?}), iss (token has {:?}), \
         roles (token has {:?}) and {exp} against its validate-jwt policy",
        claims.aud, claims.iss, claims.roles
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            iss: "https://sts.windows.net/t/".into(),
            aud: "api://wrong".into(),
            caller: "c".into(),
            roles: "storage.read".into(),
            exp: Some(unix_now() + 3600),
        }
    }

    #[test]
    fn a_refused_token_names_its_claims_and_a_refused_key_names_the_key() {
        let advice = refusal_advice(401, Some("Invalid JWT."), Some(&claims())).unwrap();
        assert!(
            advice.contains("check aud (token has \"api://wrong\")")
                && advice.contains("validate-jwt"),
            "{advice}"
        );
        let advice = refusal_advice(
            401,
            Some("Access denied due to invalid subscription key."),
            Some(&claims()),
        )
        .unwrap();
        assert!(advice.contains("subscription_key"), "{advice}");
        assert_eq!(refusal_advice(404, None, Some(&claims())), None);
    }

    #[test]
    fn claims_of_v1_and_v2_tokens() {
        let key = jsonwebtoken::EncodingKey::from_secret(b"k");
        let token = |claims: Value| {
            jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
        };
        let v1 = Claims::of(&token(serde_json::json!({
            "iss": "https://sts.windows.net/t/", "aud": "api://s", "appid": "app",
            "roles": ["a", "b"], "exp": unix_now() + 630,
        })))
        .unwrap();
        assert_eq!((v1.caller.as_str(), v1.roles.as_str()), ("app", "a b"));
        assert!(v1.to_string().contains("exp in 10 min"), "{v1}");
        let v2 = Claims::of(&token(serde_json::json!({
            "iss": "https://login.microsoftonline.com/t/v2.0", "aud": "guid", "azp": "app2",
        })))
        .unwrap();
        assert_eq!((v2.caller.as_str(), v2.roles.as_str()), ("app2", "-"));
        assert!(v2.to_string().ends_with("no exp"), "{v2}");
        assert!(Claims::of("opaque").is_none());
    }
}
