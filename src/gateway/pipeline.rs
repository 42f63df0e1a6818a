//! One request's way through the stand-in: subscription check, inbound steps, the
//! backend call, outbound steps, and the counters settled after the response.
//!
//! Owns the order of evaluation and the APIM answers the policies produce (401, 403,
//! 429, cache hits). Parsing lives in `policy`, arithmetic in `limits`, keys in `jwt`,
//! and the network in `backend`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use http::header::{CONTENT_LENGTH, HOST, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::backend::{Backend, BackendError, BaseUrl};
use super::cache::{CachedResponse, MAX_CACHED_BODY, ResponseCache};
use super::correlation::{BackendTime, RequestId};
use super::cors::CorsDecision;
use super::forward::Forwarding;
use super::jwt::OpenIdClient;
use super::limits::{Admission, QuotaExceeded, ceil_secs, hh_mm_ss};
use super::policy::expr::{Condition, Facts, Text, Value};
use super::policy::{
    CacheLookup, CacheValue, ExistsAction, HeaderValues, Policy, Quota, RateLimit, ReturnResponse,
    SetHeader, SetQueryParameter, Status, Step,
};
use super::reply::{GwBody, apim_error, full};
use super::route::{Operations, Unrouted, route};
use super::server_timing::Stopwatch;
use super::stats::{Counter, Stats};
use super::values::ValueCache;
use crate::shared::latency::{self, AddedLatency};

/// The stand-in's counters endpoint (not part of APIM).
pub const STATS_PATH: &str = "/__gatebench/stats";

/// The header clients put their subscription key in.
pub const SUBSCRIPTION_HEADER: &str = "ocp-apim-subscription-key";

/// The stand-in's own cache-status header.
const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// Everything a request needs, shared by all connections.
pub struct Gateway {
    pub policy: Policy,
    /// Subscription key → subscription name (`context.Subscription.Id`). Empty: no check.
    pub subscriptions: HashMap<String, String>,
    /// Path prefix of the API, e.g. `/storage` (no trailing slash; may be empty).
    pub api_prefix: String,
    /// The API's operations; anything else is APIM's 404 `Resource not found`.
    pub operations: Operations,
    pub backend: Backend,
    pub cache: ResponseCache,
    /// `cache-*-value`'s store.
    pub values: ValueCache,
    pub stats: Arc<Stats>,
    pub latency: Option<AddedLatency>,
    /// Whether any `cache-lookup` is configured (then `X-Cache` is added natively).
    pub caching: bool,
    /// Fetches `openid-config` and JWKS documents.
    pub openid: OpenIdClient,
    /// `http` or `https` (`context.Request.Url.Scheme`).
    pub scheme: &'static str,
    /// `--audit-log`: one line per answered request.
    pub audit: Option<super::audit::AuditLog>,
}

/// The cache's view of the current request.
enum CacheState {
    /// No lookup happened: uncacheable or no `cache-lookup`.
    Off,
    /// Looked up and not found under this key.
    Missed(String),
}

/// A counter increment decided after the response (`increment-condition` on status,
/// or quota bandwidth).
enum Deferred {
    Rate {
        limit: Arc<super::limits::SlidingWindow>,
        key: String,
        /// Count only if this holds (`None`: always).
        condition: Option<Condition>,
        at: Instant,
        /// How many calls to count.
        count: DeferredCount,
    },
    Quota {
        counter: Arc<super::limits::FixedWindowQuota>,
        key: String,
        /// Count the call after the response if this holds.
        condition: Option<Condition>,
    },
}

/// `increment-count` of a deferred rate-limit increment.
enum DeferredCount {
    Fixed(u64),
    /// An expression, evaluated with the response (rate-limit-by-key-policy.md:
    /// expressions in increment-count defer the increment to the end of outbound).
    Computed(Text),
}

/// Per-request state built up by the inbound steps.
struct Exchange {
    method: Method,
    /// The path below the API prefix, dot segments resolved, still percent-encoded:
    /// `/bucket/key`.
    path: String,
    query: Option<String>,
    /// Headers to forward; inbound `set-header` edits these.
    headers: HeaderMap,
    subscription: Option<String>,
    /// The key the subscription was found by (`context.Subscription.Key`).
    subscription_key: Option<HeaderValue>,
    ip: IpAddr,
    /// When the request arrived (`context.Elapsed`).
    arrived: Instant,
    /// `context.Variables`.
    variables: HashMap<String, Value>,
    /// `context.RequestId`, made on first use.
    request_id: OnceLock<u128>,
    /// Set by `rewrite-uri`: the backend path (the query stays in `query`).
    rewritten: Option<String>,
    base: Option<BaseUrl>,
    cache: CacheState,
    deferred: Vec<Deferred>,
    /// Added to the final response (rate-limit remaining/total headers).
    response_headers: Vec<(HeaderName, HeaderValue)>,
    /// Backend and cache times for the `Server-Timing` header.
    timing: Stopwatch,
}

impl Exchange {
    fn backend_path(&self) -> String {
        let path = self.rewritten.as_deref().unwrap_or(&self.path);
        match &self.query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        }
    }
}

/// What an inbound step decided.
enum Flow {
    Next,
    /// A policy refused the request: answer with this after `on-error` ran.
    Refuse(Response<GwBody>),
    /// Answer with this now, skipping the backend, outbound and on-error
    /// (`return-response`, CORS answers).
    Answer(Response<GwBody>),
    /// Answer from the cache: skip the backend, still run outbound steps.
    Hit(Response<GwBody>),
    /// A policy expression failed: 500 through `on-error`.
    Fail(String),
}

impl Gateway {
    /// Handles one request from `ip`.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>, ip: IpAddr) -> Response<GwBody> {
        if req.version() == Version::HTTP_11 && req.headers().get_all(HOST).iter().count() != 1 {
            return apim_error(
                400,
                "Bad Request: an HTTP/1.1 request needs exactly one Host header.",
            );
        }
        if req.uri().path() == STATS_PATH {
            let mut resp = Response::new(full(
                serde_json::to_string(&self.stats.snapshot()).unwrap_or_default(),
            ));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return resp;
        }
        if let Some(preflight) = self.preflight(&req) {
            return preflight;
        }
        let rest = match route(
            &self.operations,
            req.method(),
            req.uri().path(),
            &self.api_prefix,
        ) {
            Ok(rest) => rest,
            Err(Unrouted::NoOperation) => return apim_error(404, "Resource not found"),
            Err(Unrouted::AmbiguousPath) => {
                return apim_error(
                    400,
                    "Bad Request: a path segment decodes to a dot segment ('..%2F', '..\\').",
                );
            }
        };
        self.stats.bump(Counter::Requests);
        let arrived = Instant::now();
        if let Some(l) = &self.latency {
            latency::sleep_until_precisely(Instant::now() + l.sample()).await;
        }
        let (parts, body) = req.into_parts();
        let subscription = match self.subscription(&parts.headers) {
            Ok(s) => s,
            Err(message) => {
                self.stats.bump(Counter::AuthFailed);
                return apim_error(401, message);
            }
        };
        let subscription_key = subscription
            .as_ref()
            .and_then(|_| parts.headers.get(SUBSCRIPTION_HEADER).cloned());
        let mut ex = Exchange {
            method: parts.method.clone(),
            path: rest,
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers,
            subscription,
            subscription_key,
            ip,
            arrived,
            variables: HashMap::new(),
            request_id: parts
                .extensions
                .get::<RequestId>()
                .map_or_else(OnceLock::new, |id| OnceLock::from(id.0)),
            rewritten: None,
            base: None,
            cache: CacheState::Off,
            deferred: Vec::new(),
            response_headers: Vec::new(),
            timing: Stopwatch::started(arrived),
        };
        // Only when some keys may be fetched again (rarely: a floor of minutes) are the
        // tokens looked at for an unknown `kid`.
        if self.policy.openid_keys.iter().any(|k| k.refetch_due()) {
            for p in super::jwt_policies(&self.policy.inbound) {
                if p.wants_refetch(&ex.headers) {
                    // A failed refetch keeps the old keys; the token then fails as invalid.
                    let _ = p.fetch_keys(&self.openid).await;
                }
            }
        }
        match self.inbound(&self.policy.inbound, &mut ex, Instant::now()) {
            Flow::Next => {}
            Flow::Refuse(resp) => return self.on_error(&mut ex, resp),
            Flow::Answer(resp) => return resp,
            Flow::Fail(error) => return self.fail(&mut ex, &error),
            Flow::Hit(resp) => {
                let (mut parts, body) = resp.into_parts();
                self.settle(
                    &ex,
                    parts.status.as_u16(),
                    &parts.headers,
                    content_length(&parts.headers),
                );
                // cache-lookup-policy.md: on a hit, outbound resumes after cache-store.
                let after_store = self
                    .policy
                    .outbound
                    .iter()
                    .position(|s| matches!(s, Step::CacheStore { .. }))
                    .map_or(0, |i| i + 1);
                let resumed = &self.policy.outbound[after_store..];
                match self.response_steps(resumed, &mut ex, &mut parts) {
                    Ok(None) => {}
                    Ok(Some(returned)) => return returned,
                    Err(error) => return self.fail(&mut ex, &error),
                }
                parts.headers.extend(ex.response_headers);
                parts
                    .headers
                    .insert(X_CACHE, HeaderValue::from_static("HIT"));
                self.stats.bump(Counter::CacheHit);
                ex.timing.stamp(&mut parts.headers);
                return Response::from_parts(parts, body);
            }
        }
        self.forward(ex, body).await
    }

    /// The answer to a CORS preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`) under the API when inbound has a `cors` policy:
    /// only that policy runs for it (cors-policy.md), no key or token is needed.
    fn preflight(&self, req: &Request<Incoming>) -> Option<Response<GwBody>> {
        if req.method() != Method::OPTIONS || !req.uri().path().starts_with(&self.api_prefix) {
            return None;
        }
        let cors = self.policy.inbound.iter().find_map(|s| match s {
            Step::Cors(c) => Some(c),
            _ => None,
        })?;
        match cors.decide(req.method(), req.headers()) {
            CorsDecision::Answer(headers) => Some(empty_200(headers)),
            CorsDecision::Pass | CorsDecision::Decorate(_) => None,
        }
    }

    /// What expressions see of `ex` (and of the response, once there is one).
    fn facts<'a>(&'a self, ex: &'a Exchange, response: Option<(u16, &'a HeaderMap)>) -> Facts<'a> {
        Facts {
            method: ex.method.as_str(),
            scheme: self.scheme,
            api_prefix: &self.api_prefix,
            path: &ex.path,
            query: ex.query.as_deref(),
            request_headers: &ex.headers,
            ip: ex.ip,
            subscription: ex.subscription.as_deref().map(|id| {
                let key = ex.subscription_key.as_ref().and_then(|k| k.to_str().ok());
                (id, key.unwrap_or(""))
            }),
            response,
            variables: &ex.variables,
            started: ex.arrived,
            request_id: &ex.request_id,
        }
    }

    /// A failed policy expression: logged, then 500 `Internal server error` through
    /// `on-error`, as APIM answers.
    fn fail(&self, ex: &mut Exchange, error: &str) -> Response<GwBody> {
        self.expression_failed(error);
        self.on_error(ex, apim_error(500, "Internal server error"))
    }

    /// Logs and counts a policy expression that failed.
    fn expression_failed(&self, error: &str) {
        eprintln!("gatebench gateway: policy expression error: {error}");
        self.stats.bump(Counter::ExpressionError);
    }

    /// Whether `condition` holds; one that fails to evaluate is logged, counted and false.
    fn holds_or_false(&self, condition: &Condition, facts: &Facts<'_>) -> bool {
        condition.holds(facts).unwrap_or_else(|error| {
            self.expression_failed(&error);
            false
        })
    }

    /// Runs the `on-error` section on `resp`. An expression failing there is logged and
    /// `resp` is answered as it stands.
    fn on_error(&self, ex: &mut Exchange, resp: Response<GwBody>) -> Response<GwBody> {
        let (mut parts, body) = resp.into_parts();
        match self.response_steps(&self.policy.on_error, ex, &mut parts) {
            Ok(None) => Response::from_parts(parts, body),
            Ok(Some(returned)) => returned,
            Err(error) => {
                eprintln!("gatebench gateway: policy expression error in on-error: {error}");
                self.stats.bump(Counter::ExpressionError);
                Response::from_parts(parts, body)
            }
        }
    }

    /// Outbound or on-error steps on a response; `Some` when `return-response` replaced it.
    /// `cache-store` is left to the caller.
    fn response_steps(
        &self,
        steps: &[Step],
        ex: &mut Exchange,
        parts: &mut http::response::Parts,
    ) -> Result<Option<Response<GwBody>>, String> {
        for step in steps {
            match step {
                Step::SetHeader(h) => {
                    let lines = {
                        let facts = self.facts(ex, Some((parts.status.as_u16(), &parts.headers)));
                        header_lines(h, &facts)?
                    };
                    apply_set_header(h, &lines, &mut parts.headers);
                }
                Step::SetVariable { name, value } => {
                    let v = value
                        .eval(&self.facts(ex, Some((parts.status.as_u16(), &parts.headers))))?;
                    ex.variables.insert(name.clone(), v);
                }
                Step::SetStatus(status) => set_status(status, parts),
                Step::Choose { whens, otherwise } => {
                    let branch = {
                        let facts = self.facts(ex, Some((parts.status.as_u16(), &parts.headers)));
                        choose(whens, otherwise, &facts)?
                    };
                    if let Some(returned) = self.response_steps(branch, ex, parts)? {
                        return Ok(Some(returned));
                    }
                }
                Step::ReturnResponse(r) => {
                    let facts = self.facts(ex, Some((parts.status.as_u16(), &parts.headers)));
                    return return_response(r, &facts).map(Some);
                }
                Step::CacheValue(op) => {
                    self.cache_value(op, ex, Some((parts.status.as_u16(), &parts.headers)))?
                }
                // `policy::parse` admits no other steps in outbound and on-error;
                // cache-store is the caller's.
                _ => {}
            }
        }
        Ok(None)
    }

    /// The subscription's name, or APIM's 401 message.
    fn subscription(&self, headers: &HeaderMap) -> Result<Option<String>, &'static str> {
        if self.subscriptions.is_empty() {
            return Ok(None);
        }
        let Some(key) = headers.get(SUBSCRIPTION_HEADER) else {
            return Err(
                "Access denied due to missing subscription key. Make sure to include \
                 subscription key when making requests to an API.",
            );
        };
        match key.to_str().ok().and_then(|k| self.subscriptions.get(k)) {
            Some(name) => Ok(Some(name.clone())),
            None => Err(
                "Access denied due to invalid subscription key. Make sure to provide a \
                 valid key for an active subscription.",
            ),
        }
    }

    fn inbound(&self, steps: &[Step], ex: &mut Exchange, now: Instant) -> Flow {
        for step in steps {
            let flow = match step {
                Step::Base => Flow::Next,
                Step::ValidateJwt(p) => match p.check(&ex.headers) {
                    Ok(()) => Flow::Next,
                    Err(failure) => {
                        self.stats.bump(Counter::AuthFailed);
                        let reason = failure.reason();
                        let n = self.stats.jwt_refused(reason);
                        if let Some(line) = refusal_log_line(reason, n, &p.header_name, ex.ip) {
                            eprintln!("{line}");
                        }
                        let msg = p.message.as_deref().unwrap_or(failure.default_message());
                        Flow::Refuse(apim_error(p.status, msg))
                    }
                },
                Step::Choose { whens, otherwise } => {
                    match choose(whens, otherwise, &self.facts(ex, None)) {
                        Ok(branch) => self.inbound(branch, ex, now),
                        Err(error) => Flow::Fail(error),
                    }
                }
                Step::RateLimit(r) => self.rate_limit(r, ex, now).unwrap_or_else(Flow::Fail),
                Step::Quota(q) => self.quota(q, ex).unwrap_or_else(Flow::Fail),
                Step::CacheLookup(c) => self.cache_lookup(c, ex, now),
                Step::SetHeader(h) => match header_lines(h, &self.facts(ex, None)) {
                    Ok(lines) => {
                        apply_set_header(h, &lines, &mut ex.headers);
                        Flow::Next
                    }
                    Err(error) => Flow::Fail(error),
                },
                Step::SetQueryParameter(q) => match set_query_parameter(q, &self.facts(ex, None)) {
                    Ok(query) => {
                        ex.query = query;
                        Flow::Next
                    }
                    Err(error) => Flow::Fail(error),
                },
                Step::SetVariable { name, value } => match value.eval(&self.facts(ex, None)) {
                    Ok(v) => {
                        ex.variables.insert(name.clone(), v);
                        Flow::Next
                    }
                    Err(error) => Flow::Fail(error),
                },
                Step::ReturnResponse(r) => match return_response(r, &self.facts(ex, None)) {
                    Ok(resp) => Flow::Answer(resp),
                    Err(error) => Flow::Fail(error),
                },
                Step::RewriteUri {
                    template,
                    copy_unmatched_params,
                } => match self.rewrite_uri(template, *copy_unmatched_params, ex) {
                    Ok(()) => Flow::Next,
                    Err(error) => Flow::Fail(error),
                },
                Step::SetBackendService { base_url } => match BaseUrl::parse(base_url) {
                    Ok(b) => {
                        ex.base = Some(b);
                        Flow::Next
                    }
                    Err(_) => Flow::Refuse(apim_error(500, "Internal server error")),
                },
                Step::IpFilter(f) => match f.refusal(ex.ip) {
                    None => Flow::Next,
                    Some(message) => {
                        self.stats.bump(Counter::AuthFailed);
                        Flow::Refuse(apim_error(403, &message))
                    }
                },
                Step::Cors(c) => match c.decide(&ex.method, &ex.headers) {
                    CorsDecision::Pass => Flow::Next,
                    CorsDecision::Decorate(headers) => {
                        ex.response_headers.extend(headers);
                        Flow::Next
                    }
                    CorsDecision::Answer(headers) => Flow::Answer(empty_200(headers)),
                },
                Step::Telemetry => Flow::Next,
                Step::CacheValue(op) => match self.cache_value(op, ex, None) {
                    Ok(()) => Flow::Next,
                    Err(error) => Flow::Fail(error),
                },
                // `policy::parse` admits no other steps in inbound.
                Step::CacheStore { .. }
                | Step::ForwardRequest(_)
                | Step::LimitConcurrency { .. }
                | Step::Retry { .. }
                | Step::SetStatus(_) => Flow::Next,
            };
            if !matches!(flow, Flow::Next) {
                return flow;
            }
        }
        Flow::Next
    }

    /// One value cache step, with `response` when outbound or on-error runs it. A null
    /// key is the empty string.
    fn cache_value(
        &self,
        op: &CacheValue,
        ex: &mut Exchange,
        response: Option<(u16, &HeaderMap)>,
    ) -> Result<(), String> {
        let now = Instant::now();
        let facts = self.facts(ex, response);
        let key = |k: &Text| Ok::<_, String>(k.eval_text(&facts)?.unwrap_or_default());
        let (variable, found) = match op {
            CacheValue::Lookup {
                key: k,
                variable,
                default,
            } => match self.values.get(&key(k)?, now) {
                Some(v) => (variable, v),
                None => match default {
                    Some(d) => (variable, d.eval(&facts)?),
                    None => return Ok(()),
                },
            },
            CacheValue::Store {
                key: k,
                value,
                duration,
            } => {
                self.values
                    .put(key(k)?, value.eval(&facts)?, *duration, now);
                return Ok(());
            }
            CacheValue::Remove { key: k } => {
                self.values.remove(&key(k)?);
                return Ok(());
            }
        };
        ex.variables.insert(variable.clone(), found);
        Ok(())
    }

    /// `rewrite-uri`: the backend path, and the query it keeps or brings.
    fn rewrite_uri(
        &self,
        template: &Text,
        copy_unmatched: bool,
        ex: &mut Exchange,
    ) -> Result<(), String> {
        let template = match template {
            Text::Literal(t) => Cow::Borrowed(&**t),
            Text::Expr(_) => {
                let t = template
                    .eval_text(&self.facts(ex, None))?
                    .unwrap_or_default();
                if !t.starts_with('/') {
                    return Err(format!(
                        "rewrite-uri template gave `{t}`, not a path starting with /"
                    ));
                }
                Cow::Owned(t)
            }
        };
        let (template_path, template_query) = match template.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (&*template, None),
        };
        let trimmed = ex.path.trim_start_matches('/');
        let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        let mut path = template_path
            .replace("{bucket}", bucket)
            .replace("{key}", key);
        if key.is_empty() && path.len() > 1 && path.ends_with('/') {
            path.pop();
        }
        let kept = ex.query.take().filter(|_| copy_unmatched);
        ex.query = match (template_query, kept) {
            (Some(t), Some(q)) => Some(format!("{t}&{q}")),
            (Some(t), None) => Some(t.to_string()),
            (None, q) => q,
        };
        ex.rewritten = Some(path);
        Ok(())
    }

    fn rate_limit(&self, r: &RateLimit, ex: &mut Exchange, now: Instant) -> Result<Flow, String> {
        // rate-limit-policy.md: the per-subscription limit counts only calls made with
        // a subscription key; calls without one pass it.
        if r.per_subscription && ex.subscription.is_none() {
            return Ok(Flow::Next);
        }
        let (key, count, count_now, deferred) = {
            let facts = self.facts(ex, None);
            let key = r.key.eval_text(&facts)?.unwrap_or_default();
            let count = match &r.increment_count {
                None => DeferredCount::Fixed(1),
                Some(Text::Literal(n)) => DeferredCount::Fixed(n.trim().parse().unwrap_or(1)),
                Some(computed) => DeferredCount::Computed(computed.clone()),
            };
            let response_condition = r.increment_condition.as_ref().filter(|c| c.uses_response());
            let deferred =
                response_condition.is_some() || matches!(count, DeferredCount::Computed(_));
            let count_now = match &r.increment_condition {
                _ if deferred => false,
                None => true,
                Some(c) => c.holds(&facts)?,
            };
            let count = match count {
                DeferredCount::Fixed(n) if count_now && n == 0 => return Ok(Flow::Next),
                other => other,
            };
            (
                key,
                count,
                count_now,
                deferred.then(|| r.increment_condition.clone()),
            )
        };
        Ok(match r.window.admit(&key, now, count_now) {
            Admission::Allowed { remaining } => {
                let remaining = match count {
                    DeferredCount::Fixed(n) if count_now => {
                        for _ in 1..n {
                            r.window.count(&key, now);
                        }
                        remaining.saturating_sub(n - 1)
                    }
                    _ => remaining,
                };
                if let Some(v) = &r.remaining_variable {
                    ex.variables.insert(
                        v.clone(),
                        Value::Int(i64::try_from(remaining).unwrap_or(i64::MAX)),
                    );
                }
                if let Some(condition) = deferred {
                    ex.deferred.push(Deferred::Rate {
                        limit: r.window.clone(),
                        key,
                        condition,
                        at: now,
                        count,
                    });
                }
                if let Some(h) = &r.remaining_header {
                    push_header(&mut ex.response_headers, h, remaining);
                }
                if let Some(h) = &r.total_header {
                    push_header(&mut ex.response_headers, h, r.window.calls);
                }
                Flow::Next
            }
            Admission::Throttled { retry_after_secs } => {
                self.stats.bump(Counter::Throttled);
                let mut resp = apim_error(
                    429,
                    &format!("Rate limit is exceeded. Try again in {retry_after_secs} seconds."),
                );
                // rate-limit-policy.md: `retry-after-header-name` names the header
                // (default `Retry-After`); APIM sends that one header, not two.
                resp.headers_mut()
                    .insert(r.retry_after_header.clone(), retry_after_secs.into());
                Flow::Refuse(resp)
            }
        })
    }

    fn quota(&self, q: &Quota, ex: &mut Exchange) -> Result<Flow, String> {
        if q.subscription_only && ex.subscription.is_none() {
            return Ok(Flow::Next);
        }
        let (key, count_now, after) = {
            let facts = self.facts(ex, None);
            let key = q.key.eval_text(&facts)?.unwrap_or_default();
            let (count_now, after) = match &q.increment_condition {
                None => (true, None),
                Some(c) if c.uses_response() => (false, Some(c.clone())),
                Some(c) => (c.holds(&facts)?, None),
            };
            (key, count_now, after)
        };
        Ok(match q.counter.admit(&key, SystemTime::now(), count_now) {
            Ok(()) => {
                ex.deferred.push(Deferred::Quota {
                    counter: q.counter.clone(),
                    key,
                    condition: after,
                });
                Flow::Next
            }
            Err(exceeded) => {
                self.stats.bump(Counter::QuotaExceeded);
                let (what, renews_in) = match exceeded {
                    QuotaExceeded::Calls { renews_in } => ("call volume", renews_in),
                    QuotaExceeded::Bandwidth { renews_in } => ("bandwidth", renews_in),
                };
                let Some(renews_in) = renews_in else {
                    // renewal-period="0": nothing to wait for (APIM's wording unverified).
                    return Ok(Flow::Refuse(apim_error(
                        403,
                        &format!("Out of {what} quota."),
                    )));
                };
                let mut resp = apim_error(
                    403,
                    &format!(
                        "Out of {what} quota. Quota will be replenished in {}.",
                        hh_mm_ss(renews_in)
                    ),
                );
                resp.headers_mut()
                    .insert(RETRY_AFTER, ceil_secs(renews_in).into());
                Flow::Refuse(resp)
            }
        })
    }

    fn cache_lookup(&self, c: &CacheLookup, ex: &mut Exchange, now: Instant) -> Flow {
        if ex.method != Method::GET
            || (ex.headers.contains_key(http::header::AUTHORIZATION) && !c.allow_private)
        {
            return Flow::Next;
        }
        let started = Instant::now();
        let mut key = String::with_capacity(128);
        if c.vary_by_developer {
            key.push_str(ex.subscription.as_deref().unwrap_or(""));
        }
        key.push('|');
        key.push_str(&ex.path);
        key.push('?');
        let query = ex.query.as_deref().unwrap_or("");
        if c.vary_by_query.is_empty() {
            key.push_str(query);
        } else {
            for name in &c.vary_by_query {
                let value = query
                    .split('&')
                    .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
                    .find(|(k, _)| k == name)
                    .map_or("", |(_, v)| v);
                key.push_str(&format!("{name}={value}&"));
            }
        }
        for h in &c.vary_by_headers {
            let v = ex
                .headers
                .get(h.as_str())
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            key.push_str(&format!("|{h}:{v}"));
        }
        match self.cache.get(&key, now) {
            Some(hit) => {
                ex.timing.cache_lookup(started.elapsed());
                let mut resp = Response::new(full(hit.body));
                *resp.status_mut() = hit.status;
                *resp.headers_mut() = hit.headers;
                Flow::Hit(resp)
            }
            None => {
                ex.cache = CacheState::Missed(key);
                Flow::Next
            }
        }
    }

    async fn forward(&self, mut ex: Exchange, body: Incoming) -> Response<GwBody> {
        let forwarding = Forwarding::of(&self.policy.backend);
        // limit-concurrency-policy.md: over max-count, the request fails at once with 429.
        let entered = forwarding.enter(&self.facts(&ex, None));
        let _slots = match entered {
            Ok(Some(slots)) => slots,
            Ok(None) => {
                self.stats.bump(Counter::Throttled);
                return self.on_error(&mut ex, apim_error(429, "Too many requests"));
            }
            Err(error) => return self.fail(&mut ex, &error),
        };
        let base = ex.base.as_ref().unwrap_or(&self.backend.default_base);
        let up_bytes = content_length(&ex.headers);
        self.stats.bump(Counter::Forwarded);
        ex.timing.forwarding();
        let resp = match forwarding
            .send(
                &self.backend,
                base,
                &ex.method,
                &ex.backend_path(),
                &ex.headers,
                body,
                |condition, status, headers| {
                    self.holds_or_false(condition, &self.facts(&ex, Some((status, headers))))
                },
            )
            .await
        {
            Ok(r) => r,
            Err(BackendError::ClientBody) => {
                return apim_error(400, "Bad Request: the request body is malformed.");
            }
            Err(e) => {
                self.stats.bump(Counter::BackendError);
                let resp = match e {
                    BackendError::Timeout => apim_error(504, "Gateway Timeout"),
                    _ => apim_error(500, "Internal server error"),
                };
                return self.on_error(&mut ex, resp);
            }
        };
        ex.timing.backend_answered();
        let status = resp.status().as_u16();
        let down_bytes = content_length(resp.headers());
        let (mut parts, body) = resp.into_parts();
        if let Some(backend) = ex.timing.backend() {
            parts.extensions.insert(BackendTime(backend));
        }
        self.settle(&ex, status, &parts.headers, up_bytes + down_bytes);
        let mut body: GwBody = body.map_err(Into::into).boxed();
        if forwarding.options.fail_on_error_status_code && status >= 400 {
            // forward-request-policy.md: a 4xx/5xx answer goes to on-error, not outbound.
            parts
                .headers
                .extend(std::mem::take(&mut ex.response_headers));
            return self.on_error(&mut ex, Response::from_parts(parts, body));
        }
        for step in &self.policy.outbound {
            match step {
                Step::CacheStore {
                    duration,
                    cache_response,
                } => {
                    let CacheState::Missed(key) = &ex.cache else {
                        continue;
                    };
                    let len = parts.headers.get(CONTENT_LENGTH).map(|_| down_bytes);
                    if (status != 200 && !cache_response) || len.is_none_or(|l| l > MAX_CACHED_BODY)
                    {
                        continue;
                    }
                    let Ok(collected) = body.collect().await else {
                        self.stats.bump(Counter::BackendError);
                        return apim_error(500, "Internal server error");
                    };
                    let bytes = collected.to_bytes();
                    let now = Instant::now();
                    self.cache.put(
                        key.clone(),
                        CachedResponse {
                            status: parts.status,
                            headers: parts.headers.clone(),
                            body: bytes.clone(),
                            expires_at: now + *duration,
                        },
                        now,
                    );
                    body = full(bytes);
                }
                other => {
                    match self.response_steps(std::slice::from_ref(other), &mut ex, &mut parts) {
                        Ok(None) => {}
                        Ok(Some(returned)) => return returned,
                        Err(error) => return self.fail(&mut ex, &error),
                    }
                }
            }
        }
        if self.caching && matches!(ex.cache, CacheState::Missed(_)) {
            parts
                .headers
                .insert(X_CACHE, HeaderValue::from_static("MISS"));
            self.stats.bump(Counter::CacheMiss);
        }
        parts.headers.extend(ex.response_headers);
        ex.timing.stamp(&mut parts.headers);
        Response::from_parts(parts, body)
    }

    /// Counts what could only be counted once the status and sizes were known.
    /// An `increment-condition` that fails is logged and counts as false.
    fn settle(&self, ex: &Exchange, status: u16, headers: &HeaderMap, bytes: u64) {
        if ex.deferred.is_empty() {
            return;
        }
        let facts = self.facts(ex, Some((status, headers)));
        let holds = |c: &Condition| self.holds_or_false(c, &facts);
        for d in &ex.deferred {
            match d {
                Deferred::Rate {
                    limit,
                    key,
                    condition,
                    at,
                    count,
                } => {
                    if !condition.as_ref().is_none_or(holds) {
                        continue;
                    }
                    let n = match count {
                        DeferredCount::Fixed(n) => *n,
                        DeferredCount::Computed(t) => {
                            increment_count(t, &facts).unwrap_or_else(|e| {
                                self.expression_failed(&e);
                                0
                            })
                        }
                    };
                    for _ in 0..n {
                        limit.count(key, *at);
                    }
                }
                Deferred::Quota {
                    counter,
                    key,
                    condition,
                } => {
                    let calls = condition.as_ref().is_some_and(holds);
                    counter.add(key, u64::from(calls), bytes);
                }
            }
        }
    }
}

/// An empty 200 with `headers` (CORS answers).
fn empty_200(headers: Vec<(HeaderName, HeaderValue)>) -> Response<GwBody> {
    let mut resp = Response::new(full(bytes::Bytes::new()));
    resp.headers_mut().extend(headers);
    resp
}

/// The log line for the `n`th token refused for `reason`, or `None` when it is not
/// logged: the 1st, 10th, 100th, … of each reason, so a flood of bad tokens costs a
/// few lines. It names the reason, header and client, never the token.
fn refusal_log_line(reason: &str, n: u64, header: &str, ip: IpAddr) -> Option<String> {
    let mut threshold = 1;
    while threshold < n {
        threshold *= 10;
    }
    (threshold == n).then(|| {
        format!(
            "validate-jwt refused the token in `{header}` from {ip}: {reason} \
             ({n} refused for this reason so far; all counts at {STATS_PATH})"
        )
    })
}

fn content_length(headers: &HeaderMap) -> u64 {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}

fn push_header(out: &mut Vec<(HeaderName, HeaderValue)>, name: &str, value: u64) {
    if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
        out.push((n, value.into()));
    }
}

/// The first `when` branch whose condition holds, else `otherwise`.
fn choose<'s>(
    whens: &'s [(Condition, Vec<Step>)],
    otherwise: &'s [Step],
    facts: &Facts<'_>,
) -> Result<&'s [Step], String> {
    for (condition, steps) in whens {
        if condition.holds(facts)? {
            return Ok(steps);
        }
    }
    Ok(otherwise)
}

/// `increment-count`: a whole number, literal or computed.
fn increment_count(t: &Text, facts: &Facts<'_>) -> Result<u64, String> {
    match t.eval(facts)? {
        Value::Int(n) if n >= 0 => Ok(n as u64),
        Value::Str(s) if s.trim().parse::<u64>().is_ok() => Ok(s.trim().parse().unwrap_or(0)),
        other => Err(format!(
            "increment-count must be a whole number, got `{}`",
            other.to_text()
        )),
    }
}

/// The values of `<value>`s that are neither null nor empty, as text.
fn present_values(values: &[Text], facts: &Facts<'_>) -> Result<Vec<String>, String> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        if let Some(text) = v.eval_text(facts)?.filter(|t| !t.is_empty()) {
            out.push(text);
        }
    }
    Ok(out)
}

/// The header lines a `set-header` sets: built at load time, or evaluated now.
fn header_lines<'h>(h: &'h SetHeader, facts: &Facts<'_>) -> Result<Cow<'h, [HeaderValue]>, String> {
    let (values, joined) = match &h.values {
        HeaderValues::Fixed(lines) => return Ok(Cow::Borrowed(lines)),
        HeaderValues::Computed { values, joined } => (values, *joined),
    };
    let texts = present_values(values, facts)?;
    let lines = if joined && !texts.is_empty() {
        vec![texts.join(",")]
    } else {
        texts
    };
    lines
        .into_iter()
        .map(|l| {
            HeaderValue::from_str(&l)
                .map_err(|_| format!("set-header {}: `{l}` is not a valid header value", h.name))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Cow::Owned)
}

/// The query string after `set-query-parameter` (`None`: no query left).
fn set_query_parameter(q: &SetQueryParameter, facts: &Facts<'_>) -> Result<Option<String>, String> {
    let values = present_values(&q.values, facts)?;
    let is_name = |pair: &&str| {
        let raw = pair.split_once('=').map_or(*pair, |(k, _)| k);
        serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
            .ok()
            .and_then(|v| v.into_iter().next())
            .is_some_and(|(k, _)| k == q.name)
    };
    let current: Vec<&str> = facts
        .query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .collect();
    let exists = current.iter().any(&is_name);
    let mut pairs: Vec<String> = match q.action {
        ExistsAction::Skip if exists => return Ok(facts.query.map(str::to_string)),
        ExistsAction::Append => current.iter().map(|p| p.to_string()).collect(),
        _ => current
            .iter()
            .filter(|p| !is_name(p))
            .map(|p| p.to_string())
            .collect(),
    };
    if q.action != ExistsAction::Delete {
        for v in &values {
            pairs.push(
                serde_urlencoded::to_string([(q.name.as_str(), v.as_str())])
                    .map_err(|e| format!("set-query-parameter {}: {e}", q.name))?,
            );
        }
    }
    Ok((!pairs.is_empty()).then(|| pairs.join("&")))
}

/// `set-status`: the code and, for HTTP/1.1, the reason phrase.
fn set_status(status: &Status, parts: &mut http::response::Parts) {
    parts.status = status.code;
    if let Some(phrase) = status
        .reason
        .as_deref()
        .and_then(|r| hyper::ext::ReasonPhrase::try_from(r.as_bytes().to_vec()).ok())
    {
        parts.extensions.insert(phrase);
    }
}

/// The response a `return-response` answers with (200 and no body by default).
fn return_response(r: &ReturnResponse, facts: &Facts<'_>) -> Result<Response<GwBody>, String> {
    let body = match &r.body {
        Some(t) => t.eval_text(facts)?.unwrap_or_default(),
        None => String::new(),
    };
    let (mut parts, body) = Response::new(full(body)).into_parts();
    if let Some(status) = &r.status {
        set_status(status, &mut parts);
    }
    for h in &r.headers {
        apply_set_header(h, &header_lines(h, facts)?, &mut parts.headers);
    }
    Ok(Response::from_parts(parts, body))
}

/// `set-header` on `headers`, following `exists-action`; no lines sets nothing.
fn apply_set_header(h: &SetHeader, lines: &[HeaderValue], headers: &mut HeaderMap) {
    match h.action {
        ExistsAction::Delete => {
            headers.remove(&h.name);
        }
        _ if lines.is_empty() => {}
        ExistsAction::Skip if headers.contains_key(&h.name) => {}
        ExistsAction::Append => {
            for v in lines {
                headers.append(&h.name, v.clone());
            }
        }
        ExistsAction::Override | ExistsAction::Skip => {
            headers.remove(&h.name);
            for v in lines {
                headers.append(&h.name, v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_logged_at_powers_of_ten_without_the_token() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let logged: Vec<u64> = (1..=1000)
            .filter(|n| refusal_log_line("expired", *n, "Authorization", ip).is_some())
            .collect();
        assert_eq!(logged, [1, 10, 100, 1000]);
        let line = refusal_log_line("expired", 1, "Authorization", ip).unwrap();
        assert!(
            line.contains("expired") && line.contains("Authorization"),
            "{line}"
        );
    }
}
