//! One request's way through the stand-in: subscription check, inbound steps, the
//! backend call, outbound steps, and the counters settled after the response.
//!
//! Owns the order of evaluation and the APIM answers the policies produce (401, 403,
//! 429, cache hits). Parsing lives in `policy`, arithmetic in `limits`, keys in `jwt`,
//! and the network in `backend`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::header::{CONTENT_LENGTH, HOST, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::backend::{Backend, BackendError, BaseUrl};
use super::cache::{CachedResponse, MAX_CACHED_BODY, ResponseCache};
use super::jwt::OpenIdClient;
use super::latency::{self, AddedLatency};
use super::limits::{Admission, QuotaExceeded, ceil_secs, hh_mm_ss};
use super::policy::expr::{Condition, RequestFacts};
use super::policy::{CacheLookup, ExistsAction, Policy, Quota, RateLimit, SetHeader, Step};
use super::reply::{GwBody, apim_error, full};
use super::route::{Operations, Unrouted, route};
use super::stats::{Counter, Stats};

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
    pub stats: Arc<Stats>,
    pub latency: Option<AddedLatency>,
    /// Whether any `cache-lookup` is configured (then `X-Cache` is added natively).
    pub caching: bool,
    /// Fetches `openid-config` and JWKS documents.
    pub openid: OpenIdClient,
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
        condition: Condition,
        at: Instant,
    },
    Quota {
        counter: Arc<super::limits::FixedWindowQuota>,
        key: String,
        /// Count the call after the response if this holds.
        condition: Option<Condition>,
    },
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
    ip: IpAddr,
    /// Set by `rewrite-uri`: the backend path and query.
    rewritten: Option<String>,
    base: Option<BaseUrl>,
    cache: CacheState,
    deferred: Vec<Deferred>,
    /// Added to the final response (rate-limit remaining/total headers).
    response_headers: Vec<(HeaderName, HeaderValue)>,
}

impl Exchange {
    fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            subscription: self.subscription.as_deref(),
            ip: self.ip,
            headers: &self.headers,
        }
    }

    fn backend_path(&self) -> String {
        match (&self.rewritten, &self.query) {
            (Some(r), _) => r.clone(),
            (None, Some(q)) => format!("{}?{q}", self.path),
            (None, None) => self.path.clone(),
        }
    }
}

/// What an inbound step decided.
enum Flow {
    Next,
    /// Answer now, skipping the backend and outbound (policy refusals).
    Refuse(Response<GwBody>),
    /// Answer from the cache: skip the backend, still run outbound headers.
    Hit(Response<GwBody>),
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
        let mut ex = Exchange {
            method: parts.method.clone(),
            path: rest,
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers,
            subscription,
            ip,
            rewritten: None,
            base: None,
            cache: CacheState::Off,
            deferred: Vec::new(),
            response_headers: Vec::new(),
        };
        for p in super::jwt_policies(&self.policy.inbound) {
            if p.wants_refetch(&ex.headers) {
                // A failed refetch keeps the old keys; the token then fails as invalid.
                let _ = p.fetch_keys(&self.openid).await;
            }
        }
        match self.inbound(&self.policy.inbound, &mut ex, Instant::now()) {
            Flow::Next => {}
            Flow::Refuse(resp) => return self.on_error(resp),
            Flow::Hit(mut resp) => {
                self.settle(&ex, resp.status().as_u16(), content_length(resp.headers()));
                // cache-lookup-policy.md: on a hit, outbound resumes after cache-store.
                let after_store = self
                    .policy
                    .outbound
                    .iter()
                    .position(|s| matches!(s, Step::CacheStore { .. }))
                    .map_or(0, |i| i + 1);
                self.outbound_headers(resp.headers_mut(), &self.policy.outbound[after_store..]);
                resp.headers_mut().extend(ex.response_headers);
                resp.headers_mut()
                    .insert(X_CACHE, HeaderValue::from_static("HIT"));
                self.stats.bump(Counter::CacheHit);
                return resp;
            }
        }
        self.forward(ex, body).await
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
                    Ok(_) => Flow::Next,
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
                    let branch = whens
                        .iter()
                        .find(|(c, _)| c.holds(&ex.method, None))
                        .map_or(otherwise.as_slice(), |(_, s)| s.as_slice());
                    self.inbound(branch, ex, now)
                }
                Step::RateLimit(r) => self.rate_limit(r, ex, now),
                Step::Quota(q) => self.quota(q, ex),
                Step::CacheLookup(c) => self.cache_lookup(c, ex, now),
                Step::SetHeader(h) => {
                    apply_set_header(h, &mut ex.headers);
                    Flow::Next
                }
                Step::RewriteUri {
                    template,
                    copy_unmatched_params,
                } => {
                    let trimmed = ex.path.trim_start_matches('/');
                    let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
                    let mut path = template.replace("{bucket}", bucket).replace("{key}", key);
                    if key.is_empty() && path.len() > 1 && path.ends_with('/') {
                        path.pop();
                    }
                    if let (true, Some(q)) = (*copy_unmatched_params, &ex.query) {
                        path = format!("{path}?{q}");
                    }
                    ex.rewritten = Some(path);
                    Flow::Next
                }
                Step::SetBackendService { base_url } => match BaseUrl::parse(base_url) {
                    Ok(b) => {
                        ex.base = Some(b);
                        Flow::Next
                    }
                    Err(_) => Flow::Refuse(apim_error(500, "Internal server error")),
                },
                // `policy::parse` admits no other steps in inbound.
                Step::CacheStore { .. } | Step::ForwardRequest { .. } => Flow::Next,
            };
            if !matches!(flow, Flow::Next) {
                return flow;
            }
        }
        Flow::Next
    }

    fn rate_limit(&self, r: &RateLimit, ex: &mut Exchange, now: Instant) -> Flow {
        // rate-limit-policy.md: the per-subscription limit counts only calls made with
        // a subscription key; calls without one pass it.
        if r.per_subscription && ex.subscription.is_none() {
            return Flow::Next;
        }
        let key = r.key.value(&ex.facts());
        let (count_now, defer) = match &r.increment_condition {
            None => (true, None),
            Some(c) if c.uses_response() => (false, Some(c.clone())),
            Some(c) => (c.holds(&ex.method, None), None),
        };
        match r.window.admit(&key, now, count_now) {
            Admission::Allowed { remaining } => {
                if let Some(condition) = defer {
                    ex.deferred.push(Deferred::Rate {
                        limit: r.window.clone(),
                        key,
                        condition,
                        at: now,
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
        }
    }

    fn quota(&self, q: &Quota, ex: &mut Exchange) -> Flow {
        let key = q.key.value(&ex.facts());
        let (count_now, after) = match &q.increment_condition {
            None => (true, None),
            Some(c) if c.uses_response() => (false, Some(c.clone())),
            Some(c) => (c.holds(&ex.method, None), None),
        };
        match q.counter.admit(&key, SystemTime::now(), count_now) {
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
                    return Flow::Refuse(apim_error(403, &format!("Out of {what} quota.")));
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
        }
    }

    fn cache_lookup(&self, c: &CacheLookup, ex: &mut Exchange, now: Instant) -> Flow {
        if ex.method != Method::GET
            || (ex.headers.contains_key(http::header::AUTHORIZATION) && !c.allow_private)
        {
            return Flow::Next;
        }
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

    /// The `on-error` section applied to the gateway's own error answer: a backend
    /// failure or a policy refusal (api-management-error-handling-policies.md: any error
    /// while processing, policy refusals included, moves the request to on-error; the
    /// answer stays as it was unless on-error changes it).
    fn on_error(&self, mut resp: Response<GwBody>) -> Response<GwBody> {
        self.outbound_headers(resp.headers_mut(), &self.policy.on_error);
        resp
    }

    fn outbound_headers(&self, headers: &mut HeaderMap, steps: &[Step]) {
        for step in steps {
            if let Step::SetHeader(h) = step {
                apply_set_header(h, headers);
            }
        }
    }

    async fn forward(&self, ex: Exchange, body: Incoming) -> Response<GwBody> {
        let timeout = self
            .policy
            .backend
            .iter()
            .find_map(|s| match s {
                Step::ForwardRequest { timeout } => Some(*timeout),
                _ => None,
            })
            .unwrap_or(Duration::from_secs(300));
        let base = ex.base.as_ref().unwrap_or(&self.backend.default_base);
        let up_bytes = content_length(&ex.headers);
        self.stats.bump(Counter::Forwarded);
        let resp = match self
            .backend
            .send(
                base,
                ex.method.clone(),
                &ex.backend_path(),
                &ex.headers,
                body,
                timeout,
            )
            .await
        {
            Ok(r) => r,
            Err(BackendError::ClientBody) => {
                return apim_error(400, "Bad Request: the request body is malformed.");
            }
            Err(e) => {
                self.stats.bump(Counter::BackendError);
                return self.on_error(match e {
                    BackendError::Timeout => apim_error(504, "Gateway Timeout"),
                    _ => apim_error(500, "Internal server error"),
                });
            }
        };
        let status = resp.status().as_u16();
        let down_bytes = content_length(resp.headers());
        self.settle(&ex, status, up_bytes + down_bytes);
        let (mut parts, body) = resp.into_parts();
        let mut body: GwBody = body.map_err(Into::into).boxed();
        for step in &self.policy.outbound {
            match step {
                Step::SetHeader(h) => apply_set_header(h, &mut parts.headers),
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
                // `policy::parse` admits only set-header, cache-store and base here.
                _ => {}
            }
        }
        if self.caching && matches!(ex.cache, CacheState::Missed(_)) {
            parts
                .headers
                .insert(X_CACHE, HeaderValue::from_static("MISS"));
            self.stats.bump(Counter::CacheMiss);
        }
        parts.headers.extend(ex.response_headers);
        Response::from_parts(parts, body)
    }

    /// Counts what could only be counted once the status and sizes were known.
    fn settle(&self, ex: &Exchange, status: u16, bytes: u64) {
        for d in &ex.deferred {
            match d {
                Deferred::Rate {
                    limit,
                    key,
                    condition,
                    at,
                } => {
                    if condition.holds(&ex.method, Some(status)) {
                        limit.count(key, *at);
                    }
                }
                Deferred::Quota {
                    counter,
                    key,
                    condition,
                } => {
                    let calls = condition
                        .as_ref()
                        .is_some_and(|c| c.holds(&ex.method, Some(status)));
                    counter.add(key, u64::from(calls), bytes);
                }
            }
        }
    }
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

/// `set-header` on `headers`, following `exists-action`.
fn apply_set_header(h: &SetHeader, headers: &mut HeaderMap) {
    match h.action {
        ExistsAction::Delete => {
            headers.remove(&h.name);
        }
        ExistsAction::Skip if headers.contains_key(&h.name) => {}
        ExistsAction::Append => {
            for v in &h.values {
                headers.append(&h.name, v.clone());
            }
        }
        ExistsAction::Override | ExistsAction::Skip => {
            headers.remove(&h.name);
            for v in &h.values {
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
