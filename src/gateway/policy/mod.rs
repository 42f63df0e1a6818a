//! The APIM policy document as the stand-in understands it: parsing and strict checking.
//!
//! Owns turning policy XML into `Policy` (a list of steps per section). Every element
//! and attribute the stand-in does not implement is an error naming it and its line;
//! nothing is silently ignored. The one exception is an explicit marker block:
//!
//! ```xml
//! <!-- gatebench: native sigv4 begin -->  … <!-- gatebench: native sigv4 end -->
//! <!-- gatebench: native x-cache begin --> … <!-- gatebench: native x-cache end -->
//! <!-- gatebench: native server-timing begin --> … <!-- gatebench: native server-timing end -->
//! ```
//!
//! The stand-in replaces a `sigv4` block (the C# SigV4 re-signing of the real-APIM
//! policy) with native signing, and an `x-cache` block (the expression that sets
//! `X-Cache`) with its native `X-Cache` header. A `sigv4` block may hold only
//! `set-header` and `set-variable` and must set `x-amz-content-sha256` to
//! `UNSIGNED-PAYLOAD`; an `x-cache` block may also hold `choose`. A `server-timing`
//! block (the `context.Elapsed` stamps and the `Server-Timing` header) is replaced by
//! the stand-in's own header (`gateway::server_timing`) and may hold only `set-header`
//! and `set-variable`. So a marker cannot hide a limit or a check.
//!
//! Named values (`{{name}}`) in attributes and text are replaced from
//! `LoadOptions::named_values`; an unknown one is an error. It does not evaluate or run
//! anything: see `gateway::pipeline`.

pub mod expr;
mod traffic;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use jsonwebtoken::DecodingKey;
use roxmltree::Node;

use super::jwt::{ClaimRule, JwtPolicy, VerifyKey};
use super::limits::{FixedWindowQuota, SlidingWindow};
use super::openid_keys::{KeyRegistry, OpenIdKeys};
use super::traffic::{ConcurrencyLimit, IpFilter, RetryDelays};
use expr::{Condition, Text};

/// The largest `renewal-period` APIM accepts for rate limits, in seconds.
const MAX_RATE_PERIOD: u64 = 300;

/// The shortest non-zero `renewal-period` APIM accepts for quotas, in seconds.
const MIN_QUOTA_PERIOD: u64 = 300;

/// A parsed policy: the steps of each section, in order.
pub struct Policy {
    /// Applied to the request, in order, before the backend.
    pub inbound: Vec<Step>,
    /// How the request is forwarded (`forward-request`).
    pub backend: Vec<Step>,
    /// Applied to the backend's response.
    pub outbound: Vec<Step>,
    /// Applied to the gateway's answer when the backend fails.
    pub on_error: Vec<Step>,
    /// Marker blocks replaced natively (`sigv4`, `x-cache`), with their lines, for the log.
    pub native_blocks: Vec<(String, u32)>,
    /// The keys of every `openid-config` URL the policy names, once each (its
    /// `validate-jwt`s share them).
    pub openid_keys: Vec<Arc<OpenIdKeys>>,
}

/// How to read a policy file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Replaces the `url` of every `openid-config` (e.g. a local idp's discovery URL).
    pub openid_config_url: Option<String>,
    /// Values for `{{name}}` placeholders.
    pub named_values: HashMap<String, String>,
    /// Least time between two fetches of signing keys for a token naming an unknown
    /// `kid`; `None`: `jwt::DEFAULT_REFETCH_FLOOR` (5 minutes, as APIM caches them).
    pub jwks_refetch_floor: Option<Duration>,
}

/// One policy statement.
pub enum Step {
    /// `<base />`: inherited scopes; the stand-in has none, so it does nothing.
    Base,
    /// `validate-jwt`: refuse the request unless its token passes.
    ValidateJwt(Box<JwtPolicy>),
    /// `<choose>`: the first `when` whose condition holds, else `otherwise`.
    Choose {
        whens: Vec<(Condition, Vec<Step>)>,
        otherwise: Vec<Step>,
    },
    /// `rate-limit` / `rate-limit-by-key`.
    RateLimit(Box<RateLimit>),
    /// `quota-by-key`, or `quota` (per subscription).
    Quota(Quota),
    /// `cache-lookup`: answer GETs from the cache.
    CacheLookup(CacheLookup),
    /// `cache-store`: keep cacheable responses for `duration`; `cache_response`: any
    /// status (cache-store-policy.md: without it only 200 OK is cached).
    CacheStore {
        duration: Duration,
        cache_response: bool,
    },
    /// `set-header` on the request (inbound) or response (outbound, on-error).
    SetHeader(SetHeader),
    /// `set-query-parameter` on the backend request.
    SetQueryParameter(SetQueryParameter),
    /// `rewrite-uri`: the backend path from a template with `{bucket}`/`{key}`, or
    /// from an expression.
    RewriteUri {
        template: Text,
        copy_unmatched_params: bool,
    },
    /// `set-variable`: a value in `context.Variables`.
    SetVariable { name: String, value: Text },
    /// `set-status` on the response (outbound, on-error).
    SetStatus(Status),
    /// `return-response`: answer now with this response.
    ReturnResponse(ReturnResponse),
    /// `set-backend-service`: where this request goes instead of `--backend-endpoint`.
    SetBackendService { base_url: String },
    /// `forward-request`: how the backend is called.
    ForwardRequest(ForwardRequest),
    /// `ip-filter`: refuse callers by address (403).
    IpFilter(IpFilter),
    /// `limit-concurrency`: at most `max-count` requests per key inside `steps` (429).
    LimitConcurrency {
        limit: Arc<ConcurrencyLimit>,
        key: Text,
        steps: Vec<Step>,
    },
    /// `retry`: run `steps` again while `condition` holds, up to `delays.count` times.
    Retry {
        condition: Condition,
        delays: RetryDelays,
        steps: Vec<Step>,
    },
    /// `cors`: preflights answered by the gateway, CORS headers on matched requests.
    Cors(crate::gateway::cors::Cors),
    /// `emit-metric`, `trace`: accepted, nothing is sent anywhere.
    Telemetry,
    /// `cache-lookup-value`, `cache-store-value`, `cache-remove-value`.
    CacheValue(CacheValue),
}

/// A step on the value cache (cache-lookup-value-policy.md, cache-store-value-policy.md,
/// cache-remove-value-policy.md); keys are expressions or literals.
pub enum CacheValue {
    /// Sets `variable` to the value under `key`; on a miss to `default`, or leaves it
    /// unset without one.
    Lookup {
        key: Text,
        variable: String,
        default: Option<Text>,
    },
    /// Keeps the value of `value` under `key` for `duration`.
    Store {
        key: Text,
        value: Text,
        duration: Duration,
    },
    /// Forgets the value under `key`.
    Remove { key: Text },
}

/// `forward-request`'s options.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardRequest {
    /// How long to wait for the backend's response headers (504 after).
    pub timeout: Duration,
    /// Read the whole request body before sending (always so under `retry`).
    pub buffer_request_body: bool,
    /// Accepted; the stand-in streams responses either way.
    pub buffer_response: bool,
    /// A 4xx/5xx backend answer goes to `on-error` instead of `outbound`.
    pub fail_on_error_status_code: bool,
}

impl Default for ForwardRequest {
    fn default() -> Self {
        ForwardRequest {
            timeout: Duration::from_secs(traffic::DEFAULT_FORWARD_TIMEOUT),
            buffer_request_body: false,
            buffer_response: true,
            fail_on_error_status_code: false,
        }
    }
}

/// `rate-limit` (keyed on the subscription) or `rate-limit-by-key`.
pub struct RateLimit {
    /// The counters, one window per key value.
    pub window: Arc<SlidingWindow>,
    pub key: Text,
    /// `rate-limit` (not by key): applies only to calls with a subscription.
    pub per_subscription: bool,
    /// Count a call only when this holds (`None`: always).
    pub increment_condition: Option<Condition>,
    /// `increment-count`: how many calls one request counts as (default 1).
    pub increment_count: Option<Text>,
    /// `remaining-calls-variable-name`: a variable set to the calls left.
    pub remaining_variable: Option<String>,
    /// `retry-after-header-name` (default `Retry-After`): the one header carrying the
    /// retry interval on 429 answers.
    pub retry_after_header: http::HeaderName,
    /// `remaining-calls-header-name`: set on passing responses.
    pub remaining_header: Option<String>,
    /// `total-calls-header-name`: set on passing responses.
    pub total_header: Option<String>,
}

/// `quota-by-key`.
pub struct Quota {
    /// The counters, one window per key value.
    pub counter: Arc<FixedWindowQuota>,
    pub key: Text,
    /// Count a call only when this holds (`None`: always).
    pub increment_condition: Option<Condition>,
    /// `quota` (not `quota-by-key`): applies only to calls with a subscription.
    pub subscription_only: bool,
}

/// `cache-lookup`.
#[derive(Debug, Clone)]
pub struct CacheLookup {
    /// The subscription is part of the key.
    pub vary_by_developer: bool,
    /// `allow-private-response-caching`: requests with `Authorization` may be cached.
    pub allow_private: bool,
    /// Headers whose values are part of the key.
    pub vary_by_headers: Vec<String>,
    /// Empty: the whole query string is part of the key.
    pub vary_by_query: Vec<String>,
}

/// `set-header`.
#[derive(Debug, Clone)]
pub struct SetHeader {
    pub name: http::HeaderName,
    pub action: ExistsAction,
    pub values: HeaderValues,
}

/// The `<value>`s of a `set-header`. Several are joined with `,` into one line, except
/// for the headers APIM sends as separate lines (`Set-Cookie`, dates, …).
#[derive(Debug, Clone)]
pub enum HeaderValues {
    /// All literal: the lines to set, built once at load time.
    Fixed(Vec<http::HeaderValue>),
    /// With expressions: evaluated per request; null or empty values are skipped.
    Computed { values: Vec<Text>, joined: bool },
}

/// Headers whose values APIM never joins with commas (set-header-policy.md).
const SEPARATE_LINE_HEADERS: [&str; 12] = [
    "user-agent",
    "www-authenticate",
    "proxy-authenticate",
    "cookie",
    "set-cookie",
    "warning",
    "date",
    "expires",
    "if-modified-since",
    "if-unmodified-since",
    "last-modified",
    "retry-after",
];

/// Headers set-header may not touch (set-header-policy.md, limitations).
const PROTECTED_HEADERS: [&str; 4] = [
    "connection",
    "content-length",
    "keep-alive",
    "transfer-encoding",
];

/// `set-query-parameter`.
#[derive(Debug, Clone)]
pub struct SetQueryParameter {
    pub name: String,
    pub action: ExistsAction,
    /// Null or empty values are skipped.
    pub values: Vec<Text>,
}

/// `set-status`.
#[derive(Debug, Clone)]
pub struct Status {
    pub code: http::StatusCode,
    pub reason: Option<String>,
}

/// `return-response`.
#[derive(Debug, Clone)]
pub struct ReturnResponse {
    /// Default 200.
    pub status: Option<Status>,
    pub headers: Vec<SetHeader>,
    pub body: Option<Text>,
}

/// `exists-action` of `set-header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistsAction {
    /// Replace existing values (the default).
    Override,
    /// Leave an existing header alone; set it if absent.
    Skip,
    /// Add to existing values.
    Append,
    /// Remove the header.
    Delete,
}

/// Reads and parses the policy file at `path`.
pub fn load(path: &Path, opts: &LoadOptions) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy {}", path.display()))?;
    parse(&text, &path.display().to_string(), opts)
}

/// Parses policy XML; `file` names it in errors.
pub fn parse(text: &str, file: &str, opts: &LoadOptions) -> anyhow::Result<Policy> {
    let doc = roxmltree::Document::parse(text).with_context(|| format!("{file}: invalid XML"))?;
    let p = Parser {
        doc: &doc,
        file,
        opts,
        native: std::cell::RefCell::new(Vec::new()),
        keys: KeyRegistry::default(),
    };
    let root = doc.root_element();
    if root.tag_name().name() != "policies" {
        bail!(p.err(root, "the root element must be <policies>"));
    }
    p.attrs(root, &[])?;
    let mut policy = Policy {
        inbound: Vec::new(),
        backend: Vec::new(),
        outbound: Vec::new(),
        on_error: Vec::new(),
        native_blocks: Vec::new(),
        openid_keys: Vec::new(),
    };
    for section in p.children(root)? {
        p.attrs(section, &[])?;
        let name = section.tag_name().name();
        let steps = p.steps(section, name)?;
        match name {
            "inbound" => policy.inbound = steps,
            "backend" => {
                if forward_requests(&steps) > 1 {
                    bail!(p.err(section, "more than one <forward-request>"));
                }
                policy.backend = steps
            }
            "outbound" => policy.outbound = steps,
            "on-error" => policy.on_error = steps,
            other => bail!(p.err(section, &format!("unknown section <{other}>"))),
        }
    }
    policy.native_blocks = p.native.into_inner();
    policy.openid_keys = p.keys.into_all();
    Ok(policy)
}

/// How many `forward-request`s `steps` hold, nested ones included.
fn forward_requests(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|s| match s {
            Step::ForwardRequest(_) => 1,
            Step::LimitConcurrency { steps, .. } | Step::Retry { steps, .. } => {
                forward_requests(steps)
            }
            _ => 0,
        })
        .sum()
}

struct Parser<'a, 'i> {
    doc: &'a roxmltree::Document<'i>,
    file: &'a str,
    opts: &'a LoadOptions,
    native: std::cell::RefCell<Vec<(String, u32)>>,
    /// One copy of each `openid-config` URL's keys for all policies naming it.
    keys: KeyRegistry,
}

/// The steps each section may hold.
fn allowed_in(section: &str) -> &'static [&'static str] {
    match section {
        "inbound" => &[
            "base",
            "validate-jwt",
            "validate-azure-ad-token",
            "choose",
            "rate-limit",
            "rate-limit-by-key",
            "quota",
            "quota-by-key",
            "cache-lookup",
            "set-header",
            "set-query-parameter",
            "set-variable",
            "rewrite-uri",
            "set-backend-service",
            "return-response",
            "ip-filter",
            "cors",
            "cache-lookup-value",
            "cache-store-value",
            "cache-remove-value",
            "emit-metric",
            "trace",
        ],
        "backend" => &[
            "base",
            "forward-request",
            "retry",
            "limit-concurrency",
            "emit-metric",
            "trace",
        ],
        "outbound" => &[
            "base",
            "set-header",
            "set-variable",
            "set-status",
            "choose",
            "return-response",
            "cache-store",
            "cache-lookup-value",
            "cache-store-value",
            "cache-remove-value",
            "emit-metric",
            "trace",
        ],
        "on-error" => &[
            "base",
            "set-header",
            "set-variable",
            "set-status",
            "choose",
            "return-response",
            "cache-lookup-value",
            "cache-store-value",
            "cache-remove-value",
            "emit-metric",
            "trace",
        ],
        _ => &[],
    }
}

impl<'a, 'i> Parser<'a, 'i> {
    fn line(&self, node: Node) -> u32 {
        self.doc.text_pos_at(node.range().start).row
    }

    fn err(&self, node: Node, msg: &str) -> String {
        format!(
            "{}:{}: <{}>: {msg}",
            self.file,
            self.line(node),
            node.tag_name().name()
        )
    }

    fn unsupported(&self, node: Node, what: &str) -> anyhow::Error {
        anyhow::anyhow!(self.err(
            node,
            &format!("{what} is not supported by the gatebench stand-in")
        ))
    }

    /// Refuses attributes not in `allowed`.
    fn attrs(&self, node: Node, allowed: &[&str]) -> anyhow::Result<()> {
        for a in node.attributes() {
            if !allowed.contains(&a.name()) {
                return Err(self.unsupported(node, &format!("attribute `{}`", a.name())));
            }
        }
        Ok(())
    }

    /// `{{name}}` placeholders replaced.
    fn subst(&self, node: Node, s: &str) -> anyhow::Result<String> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("{{") {
            let end = rest[start..]
                .find("}}")
                .ok_or_else(|| anyhow::anyhow!(self.err(node, "unterminated {{ named value")))?;
            let name = &rest[start + 2..start + end];
            let value = self.opts.named_values.get(name).ok_or_else(|| {
                anyhow::anyhow!(self.err(
                    node,
                    &format!(
                        "named value {{{{{name}}}}} has no value (use --named-value {name}=…)"
                    )
                ))
            })?;
            out.push_str(&rest[..start]);
            out.push_str(value);
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn attr(&self, node: Node, name: &str) -> anyhow::Result<Option<String>> {
        node.attribute(name)
            .map(|v| self.subst(node, v))
            .transpose()
    }

    fn req_attr(&self, node: Node, name: &str) -> anyhow::Result<String> {
        self.attr(node, name)?
            .ok_or_else(|| anyhow::anyhow!(self.err(node, &format!("`{name}` is required"))))
    }

    fn num_attr(&self, node: Node, name: &str) -> anyhow::Result<Option<u64>> {
        self.attr(node, name)?
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| {
                    anyhow::anyhow!(self.err(node, &format!("`{name}` must be a whole number")))
                })
            })
            .transpose()
    }

    fn bool_attr(&self, node: Node, name: &str, default: bool) -> anyhow::Result<bool> {
        match self.attr(node, name)?.as_deref().map(str::trim) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => bail!(self.err(node, &format!("`{name}` must be true or false"))),
        }
    }

    fn text(&self, node: Node) -> anyhow::Result<String> {
        if let Some(child) = node.children().find(Node::is_element) {
            return Err(self.unsupported(child, "a child element here"));
        }
        self.subst(node, node.text().unwrap_or("").trim())
    }

    /// Element children, with native marker blocks taken out; stray text is an error.
    fn children(&self, node: Node<'a, 'i>) -> anyhow::Result<Vec<Node<'a, 'i>>> {
        let mut out = Vec::new();
        let mut block: Option<(String, Node, Vec<Node>)> = None;
        for child in node.children() {
            if child.is_comment() {
                let Some(marker) = child
                    .text()
                    .map(str::trim)
                    .and_then(|t| t.strip_prefix("gatebench:"))
                    .map(str::trim)
                else {
                    continue;
                };
                let words: Vec<&str> = marker.split_whitespace().collect();
                match (words.as_slice(), &mut block) {
                    (["native", name, "begin"], None)
                        if ["sigv4", "x-cache", "server-timing"].contains(name) =>
                    {
                        block = Some((name.to_string(), child, Vec::new()));
                    }
                    (["native", name, "end"], Some((open, start, inside))) if open == name => {
                        self.check_native(open, *start, inside)?;
                        self.native
                            .borrow_mut()
                            .push((open.clone(), self.line(*start)));
                        block = None;
                    }
                    _ => bail!(
                        "{}:{}: unexpected marker comment `gatebench: {marker}` (expected \
                         `gatebench: native sigv4|x-cache|server-timing begin|end`, properly paired)",
                        self.file,
                        self.line(child)
                    ),
                }
            } else if child.is_element() {
                match &mut block {
                    Some((_, _, inside)) => inside.push(child),
                    None => out.push(child),
                }
            } else if child.is_text() && !child.text().unwrap_or("").trim().is_empty() {
                bail!(self.err(node, "unexpected text content"));
            }
        }
        if let Some((name, start, _)) = block {
            bail!(
                "{}:{}: `gatebench: native {name} begin` has no matching end marker",
                self.file,
                self.line(start)
            );
        }
        Ok(out)
    }

    fn check_native(&self, name: &str, start: Node, inside: &[Node]) -> anyhow::Result<()> {
        let allowed: &[&str] = if name == "sigv4" || name == "server-timing" {
            &["set-header", "set-variable"]
        } else {
            &["set-header", "set-variable", "choose"]
        };
        for el in inside {
            if !allowed.contains(&el.tag_name().name()) {
                bail!(self.err(
                    *el,
                    &format!(
                        "only {} may be inside a native {name} block",
                        allowed.join(", ")
                    )
                ));
            }
        }
        let unsigned = inside.iter().any(|el| {
            el.tag_name().name() == "set-header"
                && el
                    .attribute("name")
                    .is_some_and(|n| n.eq_ignore_ascii_case("x-amz-content-sha256"))
                && el
                    .descendants()
                    .any(|d| d.text().is_some_and(|t| t.trim() == "UNSIGNED-PAYLOAD"))
        });
        if name == "sigv4" && !unsigned {
            bail!(
                "{}:{}: a native sigv4 block must set x-amz-content-sha256 to UNSIGNED-PAYLOAD",
                self.file,
                self.line(start)
            );
        }
        Ok(())
    }

    fn steps(&self, parent: Node<'a, 'i>, section: &str) -> anyhow::Result<Vec<Step>> {
        let mut steps = Vec::new();
        for el in self.children(parent)? {
            let name = el.tag_name().name();
            if !allowed_in(section).contains(&name) {
                return Err(self.unsupported(el, &format!("element <{name}> in <{section}>")));
            }
            steps.push(self.step(el, section)?);
        }
        Ok(steps)
    }

    fn step(&self, el: Node<'a, 'i>, section: &str) -> anyhow::Result<Step> {
        Ok(match el.tag_name().name() {
            "base" => {
                self.attrs(el, &[])?;
                self.no_children(el)?;
                Step::Base
            }
            "validate-jwt" => Step::ValidateJwt(Box::new(self.validate_jwt(el)?)),
            "validate-azure-ad-token" => {
                Step::ValidateJwt(Box::new(self.validate_azure_ad_token(el)?))
            }
            "choose" => self.choose(el, section)?,
            "rate-limit" | "rate-limit-by-key" => Step::RateLimit(Box::new(self.rate_limit(el)?)),
            "quota" | "quota-by-key" => Step::Quota(self.quota(el)?),
            "cache-lookup" => Step::CacheLookup(self.cache_lookup(el)?),
            "cache-store" => {
                self.attrs(el, &["duration", "cache-response"])?;
                self.no_children(el)?;
                let secs = self.num_attr(el, "duration")?.unwrap_or(0);
                if secs == 0 {
                    bail!(self.err(el, "`duration` (seconds, > 0) is required"));
                }
                Step::CacheStore {
                    duration: Duration::from_secs(secs),
                    cache_response: self.bool_attr(el, "cache-response", false)?,
                }
            }
            "set-header" => Step::SetHeader(self.set_header(el)?),
            "set-query-parameter" => Step::SetQueryParameter(self.set_query_parameter(el)?),
            "rewrite-uri" => self.rewrite_uri(el)?,
            "set-variable" => {
                self.attrs(el, &["name", "value"])?;
                self.no_children(el)?;
                Step::SetVariable {
                    name: self.req_attr(el, "name")?,
                    value: self.text_of(el, "value", &self.req_attr(el, "value")?)?,
                }
            }
            "set-status" => Step::SetStatus(self.status(el)?),
            "return-response" => Step::ReturnResponse(self.return_response(el)?),
            "set-backend-service" => {
                self.attrs(el, &["base-url"])?;
                self.no_children(el)?;
                let base_url = self.req_attr(el, "base-url")?;
                if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                    bail!(self.err(el, "`base-url` must be an http:// or https:// URL"));
                }
                Step::SetBackendService { base_url }
            }
            "forward-request" => self.forward_request(el)?,
            "ip-filter" => self.ip_filter(el)?,
            "cors" => self.cors(el)?,
            "limit-concurrency" => self.limit_concurrency(el, section)?,
            "retry" => self.retry(el, section)?,
            "emit-metric" | "trace" => self.telemetry(el)?,
            "cache-lookup-value" | "cache-store-value" | "cache-remove-value" => {
                Step::CacheValue(self.cache_value(el)?)
            }
            other => return Err(self.unsupported(el, &format!("element <{other}>"))),
        })
    }

    fn no_children(&self, el: Node<'a, 'i>) -> anyhow::Result<()> {
        match self.children(el)?.first() {
            Some(c) => Err(self.unsupported(*c, &format!("<{}> here", c.tag_name().name()))),
            None => Ok(()),
        }
    }

    fn condition(&self, el: Node, attr: &str) -> anyhow::Result<Option<Condition>> {
        self.attr(el, attr)?
            .map(|c| {
                Condition::parse(&c)
                    .map_err(|e| anyhow::anyhow!(self.err(el, &format!("`{attr}`: {e}"))))
            })
            .transpose()
    }

    /// `raw` (the value of `what` on `node`) as a literal or a parsed expression.
    fn text_of(&self, node: Node, what: &str, raw: &str) -> anyhow::Result<Text> {
        Text::parse(raw).map_err(|e| anyhow::anyhow!(self.err(node, &format!("`{what}`: {e}"))))
    }

    fn exists_action(&self, el: Node) -> anyhow::Result<ExistsAction> {
        Ok(match self.attr(el, "exists-action")?.as_deref() {
            None | Some("override") => ExistsAction::Override,
            Some("skip") => ExistsAction::Skip,
            Some("append") => ExistsAction::Append,
            Some("delete") => ExistsAction::Delete,
            Some(_) => bail!(self.err(
                el,
                "`exists-action` must be override, skip, append or delete"
            )),
        })
    }

    /// The `<value>` children of `set-header`/`set-query-parameter`.
    fn values(&self, el: Node<'a, 'i>, action: ExistsAction) -> anyhow::Result<Vec<Text>> {
        let mut values = Vec::new();
        for v in self.children(el)? {
            if v.tag_name().name() != "value" {
                return Err(
                    self.unsupported(v, &format!("this element in <{}>", el.tag_name().name()))
                );
            }
            self.attrs(v, &[])?;
            values.push(self.text_of(v, "value", &self.text(v)?)?);
        }
        if values.is_empty() && action != ExistsAction::Delete {
            bail!(self.err(
                el,
                "needs at least one <value> unless exists-action=\"delete\""
            ));
        }
        Ok(values)
    }

    fn set_query_parameter(&self, el: Node<'a, 'i>) -> anyhow::Result<SetQueryParameter> {
        self.attrs(el, &["name", "exists-action"])?;
        let action = self.exists_action(el)?;
        Ok(SetQueryParameter {
            name: self.req_attr(el, "name")?,
            action,
            values: self.values(el, action)?,
        })
    }

    fn rewrite_uri(&self, el: Node<'a, 'i>) -> anyhow::Result<Step> {
        self.attrs(el, &["template", "copy-unmatched-params"])?;
        self.no_children(el)?;
        let raw = self.req_attr(el, "template")?;
        let template = self.text_of(el, "template", &raw)?;
        if let Some(literal) = template.literal() {
            if !literal.starts_with('/') {
                bail!(self.err(
                    el,
                    "`template` must be a path starting with / or an expression"
                ));
            }
            let mut rest = literal;
            while let Some(s) = rest.find('{') {
                let e = rest[s..].find('}').map(|e| s + e).unwrap_or(rest.len());
                let var = &rest[s + 1..e.min(rest.len())];
                if !["bucket", "key"].contains(&var) {
                    return Err(self.unsupported(
                        el,
                        &format!("template parameter {{{var}}} (only {{bucket}} and {{key}})"),
                    ));
                }
                rest = &rest[(e + 1).min(rest.len())..];
            }
        }
        Ok(Step::RewriteUri {
            template,
            copy_unmatched_params: self.bool_attr(el, "copy-unmatched-params", true)?,
        })
    }

    fn status(&self, el: Node<'a, 'i>) -> anyhow::Result<Status> {
        self.attrs(el, &["code", "reason"])?;
        self.no_children(el)?;
        let code = self
            .num_attr(el, "code")?
            .and_then(|c| u16::try_from(c).ok())
            .and_then(|c| http::StatusCode::from_u16(c).ok())
            .filter(|c| c.as_u16() >= 200)
            .ok_or_else(|| anyhow::anyhow!(self.err(el, "`code` (200..=999) is required")))?;
        Ok(Status {
            code,
            reason: self.attr(el, "reason")?,
        })
    }

    fn return_response(&self, el: Node<'a, 'i>) -> anyhow::Result<ReturnResponse> {
        self.attrs(el, &[])?;
        let mut r = ReturnResponse {
            status: None,
            headers: Vec::new(),
            body: None,
        };
        for child in self.children(el)? {
            match child.tag_name().name() {
                "set-status" => r.status = Some(self.status(child)?),
                "set-header" => r.headers.push(self.set_header(child)?),
                "set-body" => {
                    self.attrs(child, &[])?;
                    r.body = Some(self.text_of(child, "set-body", &self.text(child)?)?);
                }
                other => {
                    return Err(self.unsupported(child, &format!("<{other}> in <return-response>")));
                }
            }
        }
        Ok(r)
    }

    fn choose(&self, el: Node<'a, 'i>, section: &str) -> anyhow::Result<Step> {
        self.attrs(el, &[])?;
        let mut whens = Vec::new();
        let mut otherwise = Vec::new();
        for child in self.children(el)? {
            match child.tag_name().name() {
                "when" => {
                    self.attrs(child, &["condition"])?;
                    let cond = self.condition(child, "condition")?.ok_or_else(|| {
                        anyhow::anyhow!(self.err(child, "`condition` is required"))
                    })?;
                    whens.push((cond, self.branch(child, section)?));
                }
                "otherwise" => {
                    self.attrs(child, &[])?;
                    otherwise = self.branch(child, section)?;
                }
                other => return Err(self.unsupported(child, &format!("<{other}> in <choose>"))),
            }
        }
        Ok(Step::Choose { whens, otherwise })
    }

    /// The steps of a `when`/`otherwise`; `cache-store` must stay at the top of outbound.
    fn branch(&self, el: Node<'a, 'i>, section: &str) -> anyhow::Result<Vec<Step>> {
        if let Some(store) = el.children().find(|c| c.tag_name().name() == "cache-store") {
            return Err(self.unsupported(store, "<cache-store> inside <choose>"));
        }
        self.steps(el, section)
    }

    /// The attributes `validate-jwt` and `validate-azure-ad-token` share, and defaults
    /// for the rest.
    fn jwt_common(&self, el: Node<'a, 'i>) -> anyhow::Result<JwtPolicy> {
        let status = self
            .num_attr(el, "failed-validation-httpcode")?
            .unwrap_or(401);
        if !(400..600).contains(&status) {
            bail!(self.err(el, "`failed-validation-httpcode` must be 4xx or 5xx"));
        }
        Ok(JwtPolicy {
            header_name: self
                .attr(el, "header-name")?
                .unwrap_or_else(|| "Authorization".into()),
            status: status as u16,
            message: self.attr(el, "failed-validation-error-message")?,
            require_expiration: true,
            require_scheme: None,
            clock_skew: Duration::ZERO,
            openid_configs: Vec::new(),
            keys: Vec::new(),
            audiences: Vec::new(),
            issuers: Vec::new(),
            claims: Vec::new(),
            client_applications: Vec::new(),
            verified: Default::default(),
        })
    }

    /// The keys of `url`, shared by every policy of this file naming it.
    fn openid_keys(&self, url: &str) -> Arc<OpenIdKeys> {
        let floor = self
            .opts
            .jwks_refetch_floor
            .unwrap_or(super::jwt::DEFAULT_REFETCH_FLOOR);
        self.keys.keys_of(url, floor)
    }

    fn validate_jwt(&self, el: Node<'a, 'i>) -> anyhow::Result<JwtPolicy> {
        self.attrs(
            el,
            &[
                "header-name",
                "failed-validation-httpcode",
                "failed-validation-error-message",
                "require-expiration-time",
                "require-scheme",
                "require-signed-tokens",
                "clock-skew",
            ],
        )?;
        if !self.bool_attr(el, "require-signed-tokens", true)? {
            return Err(self.unsupported(el, "require-signed-tokens=\"false\""));
        }
        let mut p = self.jwt_common(el)?;
        p.require_expiration = self.bool_attr(el, "require-expiration-time", true)?;
        p.require_scheme = self.attr(el, "require-scheme")?;
        p.clock_skew = Duration::from_secs(self.num_attr(el, "clock-skew")?.unwrap_or(0));
        for child in self.children(el)? {
            match child.tag_name().name() {
                "openid-config" => {
                    self.attrs(child, &["url"])?;
                    let url = match &self.opts.openid_config_url {
                        Some(u) => u.clone(),
                        None => self.req_attr(child, "url")?,
                    };
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        bail!(self.err(
                            child,
                            &format!(
                                "a discovery URL must be http:// or https://; got {url} \
                                 (override it with --openid-config-url)"
                            )
                        ));
                    }
                    p.openid_configs.push(self.openid_keys(&url));
                }
                "issuer-signing-keys" => {
                    self.attrs(child, &[])?;
                    for key in self.children(child)? {
                        p.keys.push(self.signing_key(key)?);
                    }
                }
                "audiences" | "issuers" => {
                    self.attrs(child, &[])?;
                    let want = &child.tag_name().name()[..child.tag_name().name().len() - 1];
                    for v in self.children(child)? {
                        if v.tag_name().name() != want {
                            return Err(self.unsupported(v, &format!("<{}> here", want)));
                        }
                        self.attrs(v, &[])?;
                        let text = self.text(v)?;
                        if want == "audience" {
                            p.audiences.push(text);
                        } else {
                            p.issuers.push(text);
                        }
                    }
                }
                "required-claims" => {
                    self.attrs(child, &[])?;
                    for claim in self.children(child)? {
                        p.claims.push(self.claim_rule(claim)?);
                    }
                }
                other => {
                    return Err(self.unsupported(child, &format!("<{other}> in <validate-jwt>")));
                }
            }
        }
        if p.keys.is_empty() && p.openid_configs.is_empty() {
            bail!(self.err(
                el,
                "needs <openid-config> or <issuer-signing-keys> (RSA keys: RS256/384/512, PS256/384/512)"
            ));
        }
        Ok(p)
    }

    /// `validate-azure-ad-token` (validate-azure-ad-token-policy.md): a bearer token from
    /// the tenant's Entra ID (keys from its discovery document, or `--openid-config-url`),
    /// v1 or v2 (both issuers), for a listed client application (`azp` or `appid`).
    fn validate_azure_ad_token(&self, el: Node<'a, 'i>) -> anyhow::Result<JwtPolicy> {
        self.attrs(
            el,
            &[
                "tenant-id",
                "header-name",
                "failed-validation-httpcode",
                "failed-validation-error-message",
            ],
        )?;
        let tenant = self.req_attr(el, "tenant-id")?;
        let mut p = self.jwt_common(el)?;
        p.require_scheme = Some("Bearer".into());
        let url = self.opts.openid_config_url.clone().unwrap_or_else(|| {
            format!(
                "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"
            )
        });
        p.openid_configs.push(self.openid_keys(&url));
        p.issuers = vec![
            format!("https://sts.windows.net/{tenant}/"),
            format!("https://login.microsoftonline.com/{tenant}/v2.0"),
        ];
        for child in self.children(el)? {
            self.attrs(child, &[])?;
            let name = child.tag_name().name();
            if name == "required-claims" {
                for claim in self.children(child)? {
                    p.claims.push(self.claim_rule(claim)?);
                }
                continue;
            }
            let item = match name {
                "client-application-ids" | "backend-application-ids" => "application-id",
                "audiences" => "audience",
                other => {
                    return Err(
                        self.unsupported(child, &format!("<{other}> in <validate-azure-ad-token>"))
                    );
                }
            };
            for v in self.children(child)? {
                if v.tag_name().name() != item {
                    return Err(self.unsupported(v, &format!("this element (<{item}> expected)")));
                }
                self.attrs(v, &[])?;
                let id = self.text(v)?;
                match name {
                    "client-application-ids" => p.client_applications.push(id),
                    // A backend application's tokens name it by id or as api://{id}.
                    "backend-application-ids" => {
                        p.audiences.push(format!("api://{id}"));
                        p.audiences.push(id);
                    }
                    _ => p.audiences.push(id),
                }
            }
        }
        if p.client_applications.is_empty() {
            bail!(self.err(
                el,
                "needs <client-application-ids> with at least one <application-id>"
            ));
        }
        Ok(p)
    }

    fn signing_key(&self, key: Node) -> anyhow::Result<VerifyKey> {
        if key.tag_name().name() != "key" {
            return Err(self.unsupported(key, "this element in <issuer-signing-keys>"));
        }
        self.attrs(key, &["n", "e", "id"])?;
        let kid = self.attr(key, "id")?;
        if let (Some(n), Some(e)) = (self.attr(key, "n")?, self.attr(key, "e")?) {
            let key = DecodingKey::from_rsa_components(n.trim(), e.trim())
                .map_err(|e| anyhow::anyhow!(self.err(key, &format!("bad RSA n/e: {e}"))))?;
            return Ok(VerifyKey { kid, key });
        }
        let text = self.text(key)?;
        let pem = if text.contains("-----BEGIN") {
            text.into_bytes()
        } else {
            let compact: String = text.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .ok()
                .filter(|b| b.starts_with(b"-----BEGIN"))
                .ok_or_else(|| {
                    self.unsupported(
                        key,
                        "a symmetric (HS256) key; give an RSA public key as n/e or PEM",
                    )
                })?
        };
        let dk = DecodingKey::from_rsa_pem(&pem)
            .map_err(|e| anyhow::anyhow!(self.err(key, &format!("bad RSA public key PEM: {e}"))))?;
        Ok(VerifyKey { kid, key: dk })
    }

    fn claim_rule(&self, claim: Node) -> anyhow::Result<ClaimRule> {
        if claim.tag_name().name() != "claim" {
            return Err(self.unsupported(claim, "this element in <required-claims>"));
        }
        self.attrs(claim, &["name", "match", "separator"])?;
        let all = match self.attr(claim, "match")?.as_deref() {
            None | Some("all") => true,
            Some("any") => false,
            Some(_) => bail!(self.err(claim, "`match` must be all or any")),
        };
        let mut values = Vec::new();
        for v in self.children(claim)? {
            if v.tag_name().name() != "value" {
                return Err(self.unsupported(v, "this element in <claim>"));
            }
            self.attrs(v, &[])?;
            values.push(self.text(v)?);
        }
        Ok(ClaimRule {
            name: self.req_attr(claim, "name")?,
            all,
            separator: self.attr(claim, "separator")?,
            values,
        })
    }

    fn rate_limit(&self, el: Node<'a, 'i>) -> anyhow::Result<RateLimit> {
        let by_key = el.tag_name().name() == "rate-limit-by-key";
        let mut allowed = vec![
            "calls",
            "renewal-period",
            "retry-after-header-name",
            "remaining-calls-header-name",
            "total-calls-header-name",
        ];
        if by_key {
            allowed.extend([
                "counter-key",
                "increment-condition",
                "increment-count",
                "remaining-calls-variable-name",
            ]);
        }
        self.attrs(el, &allowed)?;
        self.no_children(el)?;
        let calls = self
            .num_attr(el, "calls")?
            .filter(|c| *c > 0)
            .ok_or_else(|| anyhow::anyhow!(self.err(el, "`calls` (> 0) is required")))?;
        let period = self
            .num_attr(el, "renewal-period")?
            .filter(|p| (1..=MAX_RATE_PERIOD).contains(p))
            .ok_or_else(|| {
                anyhow::anyhow!(self.err(el, "`renewal-period` (1..=300 seconds) is required"))
            })?;
        let key = if by_key {
            self.text_of(el, "counter-key", &self.req_attr(el, "counter-key")?)?
        } else {
            subscription_key()
        };
        let increment_count = self
            .attr(el, "increment-count")?
            .map(|raw| self.text_of(el, "increment-count", &raw))
            .transpose()?;
        if increment_count
            .as_ref()
            .and_then(Text::literal)
            .is_some_and(|l| l.trim().parse::<u64>().is_err())
        {
            bail!(self.err(
                el,
                "`increment-count` must be a whole number or an expression"
            ));
        }
        let retry_after_header = match self.attr(el, "retry-after-header-name")? {
            Some(name) => http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                anyhow::anyhow!(
                    self.err(el, "`retry-after-header-name` is not a valid header name")
                )
            })?,
            None => http::header::RETRY_AFTER,
        };
        Ok(RateLimit {
            window: Arc::new(SlidingWindow::new(calls, Duration::from_secs(period))),
            key,
            per_subscription: !by_key,
            increment_condition: self.condition(el, "increment-condition")?,
            increment_count,
            remaining_variable: self.attr(el, "remaining-calls-variable-name")?,
            retry_after_header,
            remaining_header: self.attr(el, "remaining-calls-header-name")?,
            total_header: self.attr(el, "total-calls-header-name")?,
        })
    }

    fn quota(&self, el: Node<'a, 'i>) -> anyhow::Result<Quota> {
        let by_key = el.tag_name().name() == "quota-by-key";
        let mut allowed = vec!["calls", "bandwidth", "renewal-period"];
        if by_key {
            allowed.extend(["counter-key", "increment-condition", "first-period-start"]);
        }
        self.attrs(el, &allowed)?;
        self.no_children(el)?;
        let calls = self.num_attr(el, "calls")?;
        let kilobytes = self.num_attr(el, "bandwidth")?;
        if calls.is_none() && kilobytes.is_none() {
            bail!(self.err(el, "`calls` or `bandwidth` is required"));
        }
        // quota-by-key-policy.md: minimum period 300 s; 0 makes the period infinite.
        let period = match self.num_attr(el, "renewal-period")? {
            Some(0) => None,
            Some(p) if p >= MIN_QUOTA_PERIOD => Some(Duration::from_secs(p)),
            _ => bail!(self.err(
                el,
                "`renewal-period` must be 0 (never renews) or at least 300 seconds (APIM's minimum)"
            )),
        };
        let first_period_start = match self.attr(el, "first-period-start")? {
            None => FixedWindowQuota::DEFAULT_FIRST_PERIOD_START,
            Some(text) => time::OffsetDateTime::parse(
                text.trim(),
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|e| {
                anyhow::anyhow!(self.err(
                    el,
                    &format!("`first-period-start` must be yyyy-MM-ddTHH:mm:ssZ: {e}")
                ))
            })?
            .unix_timestamp(),
        };
        Ok(Quota {
            counter: Arc::new(FixedWindowQuota::new(
                calls,
                kilobytes,
                period,
                first_period_start,
            )),
            key: if by_key {
                self.text_of(el, "counter-key", &self.req_attr(el, "counter-key")?)?
            } else {
                subscription_key()
            },
            increment_condition: self.condition(el, "increment-condition")?,
            subscription_only: !by_key,
        })
    }

    fn cache_lookup(&self, el: Node<'a, 'i>) -> anyhow::Result<CacheLookup> {
        self.attrs(
            el,
            &[
                "vary-by-developer",
                "vary-by-developer-groups",
                "allow-private-response-caching",
                "downstream-caching-type",
                "must-revalidate",
                "caching-type",
            ],
        )?;
        match self.attr(el, "downstream-caching-type")?.as_deref() {
            None | Some("none") => {}
            Some(other) => {
                return Err(self.unsupported(el, &format!("downstream-caching-type=\"{other}\"")));
            }
        }
        self.caching_type(el)?;
        self.bool_attr(el, "must-revalidate", true)?;
        self.bool_attr(el, "vary-by-developer-groups", false)?;
        let mut lookup = CacheLookup {
            vary_by_developer: self.bool_attr(el, "vary-by-developer", false)?,
            allow_private: self.bool_attr(el, "allow-private-response-caching", false)?,
            vary_by_headers: Vec::new(),
            vary_by_query: Vec::new(),
        };
        for child in self.children(el)? {
            self.attrs(child, &[])?;
            match child.tag_name().name() {
                "vary-by-header" => lookup.vary_by_headers.push(self.text(child)?),
                "vary-by-query-parameter" => lookup.vary_by_query.push(self.text(child)?),
                other => {
                    return Err(self.unsupported(child, &format!("<{other}> in <cache-lookup>")));
                }
            }
        }
        Ok(lookup)
    }

    /// `caching-type`: the stand-in's cache is internal; `external` is refused.
    fn caching_type(&self, el: Node) -> anyhow::Result<()> {
        match self.attr(el, "caching-type")?.as_deref() {
            None | Some("internal") | Some("prefer-external") => Ok(()),
            Some(other) => Err(self.unsupported(el, &format!("caching-type=\"{other}\""))),
        }
    }

    /// `cache-lookup-value`, `cache-store-value` or `cache-remove-value`.
    fn cache_value(&self, el: Node<'a, 'i>) -> anyhow::Result<CacheValue> {
        let name = el.tag_name().name();
        let extra: &[&str] = match name {
            "cache-lookup-value" => &["variable-name", "default-value"],
            "cache-store-value" => &["value", "duration"],
            _ => &[],
        };
        self.attrs(el, &[&["key", "caching-type"], extra].concat())?;
        self.no_children(el)?;
        self.caching_type(el)?;
        let key = self.text_of(el, "key", &self.req_attr(el, "key")?)?;
        Ok(match name {
            "cache-lookup-value" => CacheValue::Lookup {
                key,
                variable: self.req_attr(el, "variable-name")?,
                default: self
                    .attr(el, "default-value")?
                    .map(|raw| self.text_of(el, "default-value", &raw))
                    .transpose()?,
            },
            "cache-store-value" => CacheValue::Store {
                key,
                value: self.text_of(el, "value", &self.req_attr(el, "value")?)?,
                duration: Duration::from_secs(
                    self.num_attr(el, "duration")?
                        .filter(|d| *d > 0)
                        .ok_or_else(|| {
                            anyhow::anyhow!(self.err(el, "`duration` (seconds, > 0) is required"))
                        })?,
                ),
            },
            _ => CacheValue::Remove { key },
        })
    }

    fn set_header(&self, el: Node<'a, 'i>) -> anyhow::Result<SetHeader> {
        self.attrs(el, &["name", "exists-action"])?;
        let raw_name = self.req_attr(el, "name")?;
        let name = http::HeaderName::from_bytes(raw_name.as_bytes())
            .map_err(|_| anyhow::anyhow!(self.err(el, "`name` is not a valid header name")))?;
        if PROTECTED_HEADERS.contains(&name.as_str()) {
            bail!(self.err(el, &format!("APIM does not let set-header change `{name}`")));
        }
        let action = self.exists_action(el)?;
        let values = self.values(el, action)?;
        let joined = !SEPARATE_LINE_HEADERS.contains(&name.as_str());
        let literals: Option<Vec<&str>> = values.iter().map(Text::literal).collect();
        let values = match literals {
            Some(literals) => {
                let present: Vec<&str> = literals.into_iter().filter(|v| !v.is_empty()).collect();
                let lines = if joined && !present.is_empty() {
                    vec![present.join(",")]
                } else {
                    present.into_iter().map(str::to_string).collect()
                };
                HeaderValues::Fixed(
                    lines
                        .iter()
                        .map(|l| http::HeaderValue::from_str(l))
                        .collect::<Result<_, _>>()
                        .map_err(|_| anyhow::anyhow!(self.err(el, "not a valid header value")))?,
                )
            }
            None => HeaderValues::Computed { values, joined },
        };
        Ok(SetHeader {
            name,
            action,
            values,
        })
    }
}

/// The key of `rate-limit` and `quota`: the subscription (empty without one).
fn subscription_key() -> Text {
    Text::parse("@(context.Subscription?.Id ?? \"\")").expect("a valid built-in expression")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(xml: &str) -> anyhow::Result<Policy> {
        parse(xml, "p.xml", &LoadOptions::default())
    }

    #[test]
    fn unknown_element_is_an_error_with_its_line() {
        let err = parse_str(
            "<policies>\n<inbound>\n<base />\n<mock-response status-code=\"200\" />\n</inbound>\n</policies>",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("p.xml:4"), "{err}");
        assert!(err.contains("mock-response"), "{err}");
    }

    #[test]
    fn unknown_attribute_is_an_error() {
        let err = parse_str(
            r#"<policies><inbound><rate-limit calls="5" renewal-period="10" flavour="x"/></inbound></policies>"#,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("flavour"), "{err}");
    }

    #[test]
    fn unsupported_expressions_name_file_line_element_and_member() {
        let xml = "<policies><inbound>\n\
            <set-header name=\"x-body\"><value>@(context.Request.Body.As&lt;string&gt;())</value></set-header>\n\
            </inbound></policies>";
        let err = parse_str(xml).err().unwrap().to_string();
        assert_eq!(
            err,
            "p.xml:2: <value>: `value`: `context.Request.Body` is not supported by the stand-in's expressions"
        );
        let xml = r#"<policies><inbound>
            <rate-limit-by-key calls="1" renewal-period="1" counter-key="@(context.User.Id)" />
        </inbound></policies>"#;
        let err = parse_str(xml).err().unwrap().to_string();
        assert!(
            err.contains("p.xml:2: <rate-limit-by-key>: `counter-key`: `context.User`"),
            "{err}"
        );
    }

    #[test]
    fn set_header_values_are_joined_into_one_line_at_load_time() {
        // set-header-policy.md: several values make one comma-separated line, except for
        // headers such as Set-Cookie; empty values are skipped.
        let xml = r#"<policies><outbound>
            <set-header name="X-A"><value>1</value><value></value><value>2</value></set-header>
            <set-header name="Set-Cookie"><value>a=1</value><value>b=2</value></set-header>
        </outbound></policies>"#;
        let p = parse_str(xml).unwrap();
        let lines = |i: usize| match &p.outbound[i] {
            Step::SetHeader(SetHeader {
                values: HeaderValues::Fixed(v),
                ..
            }) => v.clone(),
            _ => panic!("not a fixed set-header"),
        };
        assert_eq!(lines(0), vec!["1,2"]);
        assert_eq!(lines(1), vec!["a=1", "b=2"]);
        let protected = r#"<policies><inbound><set-header name="Content-Length"><value>1</value></set-header></inbound></policies>"#;
        assert!(
            parse_str(protected)
                .err()
                .unwrap()
                .to_string()
                .contains("content-length")
        );
        let nested_store = r#"<policies><outbound><choose><when condition="@(true)"><cache-store duration="5" /></when></choose></outbound></policies>"#;
        assert!(
            parse_str(nested_store)
                .err()
                .unwrap()
                .to_string()
                .contains("<cache-store> inside <choose>")
        );
    }

    #[test]
    fn the_built_in_subscription_key_parses() {
        assert!(subscription_key().literal().is_none());
    }

    #[test]
    fn expressions_inside_native_blocks_are_not_parsed() {
        let wrapped = r#"<policies><inbound>
            <!-- gatebench: native sigv4 begin -->
            <set-header name="x-amz-date"><value>@(DateTime.UtcNow.ToString())</value></set-header>
            <set-header name="x-amz-content-sha256"><value>UNSIGNED-PAYLOAD</value></set-header>
            <!-- gatebench: native sigv4 end -->
        </inbound></policies>"#;
        let p = parse_str(wrapped).unwrap();
        assert!(p.inbound.is_empty());
        assert_eq!(p.native_blocks, vec![("sigv4".to_string(), 2)]);
        let hiding = r#"<policies><inbound>
            <!-- gatebench: native sigv4 begin -->
            <rate-limit calls="1" renewal-period="1" />
            <!-- gatebench: native sigv4 end -->
        </inbound></policies>"#;
        assert!(parse_str(hiding).is_err());
    }

    #[test]
    fn named_values_are_substituted_or_refused() {
        let xml =
            r#"<policies><inbound><set-backend-service base-url="{{rgw}}" /></inbound></policies>"#;
        assert!(parse_str(xml).err().unwrap().to_string().contains("rgw"));
        let mut opts = LoadOptions::default();
        opts.named_values
            .insert("rgw".into(), "http://127.0.0.1:7480".into());
        let p = parse(xml, "p.xml", &opts).unwrap();
        assert!(
            matches!(&p.inbound[0], Step::SetBackendService { base_url } if base_url == "http://127.0.0.1:7480")
        );
    }
}
