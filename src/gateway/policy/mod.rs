//! The APIM policy document as the stand-in understands it: parsing and strict checking.
//!
//! Owns turning policy XML into `Policy` (a list of steps per section). Every element
//! and attribute the stand-in does not implement is an error naming it and its line;
//! nothing is silently ignored. The one exception is an explicit marker block:
//!
//! ```xml
//! <!-- gatebench: native sigv4 begin -->  … <!-- gatebench: native sigv4 end -->
//! <!-- gatebench: native x-cache begin --> … <!-- gatebench: native x-cache end -->
//! ```
//!
//! The stand-in replaces a `sigv4` block (the C# SigV4 re-signing of the real-APIM
//! policy) with native signing, and an `x-cache` block (the expression that sets
//! `X-Cache`) with its native `X-Cache` header. A `sigv4` block may hold only
//! `set-header` and `set-variable` and must set `x-amz-content-sha256` to
//! `UNSIGNED-PAYLOAD`; an `x-cache` block may also hold `choose`. So a marker cannot
//! hide a limit or a check.
//!
//! Named values (`{{name}}`) in attributes and text are replaced from
//! `LoadOptions::named_values`; an unknown one is an error. It does not evaluate or run
//! anything: see `gateway::pipeline`.

pub mod expr;

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
use expr::{Condition, CounterKey};

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
    RateLimit(RateLimit),
    /// `quota-by-key`.
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
    /// `rewrite-uri`: the backend path from a template with `{bucket}`/`{key}`.
    RewriteUri {
        template: String,
        copy_unmatched_params: bool,
    },
    /// `set-backend-service`: where this request goes instead of `--backend-endpoint`.
    SetBackendService { base_url: String },
    /// `forward-request`: how long to wait for the backend's response headers.
    ForwardRequest { timeout: Duration },
}

/// `rate-limit` (keyed on the subscription) or `rate-limit-by-key`.
pub struct RateLimit {
    /// The counters, one window per key value.
    pub window: Arc<SlidingWindow>,
    pub key: CounterKey,
    /// `rate-limit` (not by key): applies only to calls with a subscription.
    pub per_subscription: bool,
    /// Count a call only when this holds (`None`: always).
    pub increment_condition: Option<Condition>,
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
    pub key: CounterKey,
    /// Count a call only when this holds (`None`: always).
    pub increment_condition: Option<Condition>,
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
    /// Literal values; several make several header lines.
    pub values: Vec<http::HeaderValue>,
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
    };
    for section in p.children(root)? {
        p.attrs(section, &[])?;
        let name = section.tag_name().name();
        let steps = p.steps(section, name)?;
        match name {
            "inbound" => policy.inbound = steps,
            "backend" => policy.backend = steps,
            "outbound" => policy.outbound = steps,
            "on-error" => policy.on_error = steps,
            other => bail!(p.err(section, &format!("unknown section <{other}>"))),
        }
    }
    policy.native_blocks = p.native.into_inner();
    Ok(policy)
}

struct Parser<'a, 'i> {
    doc: &'a roxmltree::Document<'i>,
    file: &'a str,
    opts: &'a LoadOptions,
    native: std::cell::RefCell<Vec<(String, u32)>>,
}

/// The steps each section may hold.
fn allowed_in(section: &str) -> &'static [&'static str] {
    match section {
        "inbound" => &[
            "base",
            "validate-jwt",
            "choose",
            "rate-limit",
            "rate-limit-by-key",
            "quota-by-key",
            "cache-lookup",
            "set-header",
            "rewrite-uri",
            "set-backend-service",
        ],
        "backend" => &["base", "forward-request"],
        "outbound" => &["base", "set-header", "cache-store"],
        "on-error" => &["base", "set-header"],
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
                    (["native", name, "begin"], None) if ["sigv4", "x-cache"].contains(name) => {
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
                         `gatebench: native sigv4|x-cache begin|end`, properly paired)",
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
        let allowed: &[&str] = if name == "sigv4" {
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
            "choose" => self.choose(el, section)?,
            "rate-limit" | "rate-limit-by-key" => Step::RateLimit(self.rate_limit(el)?),
            "quota-by-key" => Step::Quota(self.quota(el)?),
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
            "rewrite-uri" => {
                self.attrs(el, &["template", "copy-unmatched-params"])?;
                self.no_children(el)?;
                let template = self.req_attr(el, "template")?;
                if template.starts_with('@') || !template.starts_with('/') {
                    bail!(self.err(el, "`template` must be a literal path starting with /"));
                }
                let mut rest = template.as_str();
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
                Step::RewriteUri {
                    template,
                    copy_unmatched_params: self.bool_attr(el, "copy-unmatched-params", true)?,
                }
            }
            "set-backend-service" => {
                self.attrs(el, &["base-url"])?;
                self.no_children(el)?;
                let base_url = self.req_attr(el, "base-url")?;
                if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                    bail!(self.err(el, "`base-url` must be an http:// or https:// URL"));
                }
                Step::SetBackendService { base_url }
            }
            "forward-request" => {
                self.attrs(el, &["timeout"])?;
                self.no_children(el)?;
                Step::ForwardRequest {
                    timeout: Duration::from_secs(self.num_attr(el, "timeout")?.unwrap_or(300)),
                }
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
            .map(|c| Condition::parse(&c).map_err(|e| anyhow::anyhow!(self.err(el, &e))))
            .transpose()
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
                    whens.push((cond, self.steps(child, section)?));
                }
                "otherwise" => {
                    self.attrs(child, &[])?;
                    otherwise = self.steps(child, section)?;
                }
                other => return Err(self.unsupported(child, &format!("<{other}> in <choose>"))),
            }
        }
        Ok(Step::Choose { whens, otherwise })
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
        let status = self
            .num_attr(el, "failed-validation-httpcode")?
            .unwrap_or(401);
        if !(400..600).contains(&status) {
            bail!(self.err(el, "`failed-validation-httpcode` must be 4xx or 5xx"));
        }
        let mut p = JwtPolicy {
            header_name: self
                .attr(el, "header-name")?
                .unwrap_or_else(|| "Authorization".into()),
            status: status as u16,
            message: self.attr(el, "failed-validation-error-message")?,
            require_expiration: self.bool_attr(el, "require-expiration-time", true)?,
            require_scheme: self.attr(el, "require-scheme")?,
            clock_skew: Duration::from_secs(self.num_attr(el, "clock-skew")?.unwrap_or(0)),
            openid_configs: Vec::new(),
            keys: Vec::new(),
            fetched: Default::default(),
            fetched_at: Default::default(),
            refetch_floor: self
                .opts
                .jwks_refetch_floor
                .unwrap_or(super::jwt::DEFAULT_REFETCH_FLOOR),
            discovered_issuers: Default::default(),
            audiences: Vec::new(),
            issuers: Vec::new(),
            claims: Vec::new(),
        };
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
                    p.openid_configs.push(url);
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
            allowed.extend(["counter-key", "increment-condition"]);
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
            CounterKey::parse(&self.req_attr(el, "counter-key")?)
                .map_err(|e| anyhow::anyhow!(self.err(el, &e)))?
        } else {
            CounterKey::Subscription
        };
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
            retry_after_header,
            remaining_header: self.attr(el, "remaining-calls-header-name")?,
            total_header: self.attr(el, "total-calls-header-name")?,
        })
    }

    fn quota(&self, el: Node<'a, 'i>) -> anyhow::Result<Quota> {
        self.attrs(
            el,
            &[
                "calls",
                "bandwidth",
                "renewal-period",
                "counter-key",
                "increment-condition",
                "first-period-start",
            ],
        )?;
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
            key: CounterKey::parse(&self.req_attr(el, "counter-key")?)
                .map_err(|e| anyhow::anyhow!(self.err(el, &e)))?,
            increment_condition: self.condition(el, "increment-condition")?,
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
        match self.attr(el, "caching-type")?.as_deref() {
            None | Some("internal") | Some("prefer-external") => {}
            Some(other) => return Err(self.unsupported(el, &format!("caching-type=\"{other}\""))),
        }
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

    fn set_header(&self, el: Node<'a, 'i>) -> anyhow::Result<SetHeader> {
        self.attrs(el, &["name", "exists-action"])?;
        let raw_name = self.req_attr(el, "name")?;
        let name = http::HeaderName::from_bytes(raw_name.as_bytes())
            .map_err(|_| anyhow::anyhow!(self.err(el, "`name` is not a valid header name")))?;
        let action = match self.attr(el, "exists-action")?.as_deref() {
            None | Some("override") => ExistsAction::Override,
            Some("skip") => ExistsAction::Skip,
            Some("append") => ExistsAction::Append,
            Some("delete") => ExistsAction::Delete,
            Some(_) => bail!(self.err(
                el,
                "`exists-action` must be override, skip, append or delete"
            )),
        };
        let mut values = Vec::new();
        for v in self.children(el)? {
            if v.tag_name().name() != "value" {
                return Err(self.unsupported(v, "this element in <set-header>"));
            }
            self.attrs(v, &[])?;
            let text = self.text(v)?;
            if text.starts_with("@(") || text.starts_with("@{") {
                return Err(self.unsupported(
                    v,
                    "a policy expression in a header value (only literals; wrap native \
                     re-signing in <!-- gatebench: native sigv4 begin/end --> markers)",
                ));
            }
            values.push(
                http::HeaderValue::from_str(&text)
                    .map_err(|_| anyhow::anyhow!(self.err(v, "not a valid header value")))?,
            );
        }
        if values.is_empty() && action != ExistsAction::Delete {
            bail!(self.err(
                el,
                "needs at least one <value> unless exists-action=\"delete\""
            ));
        }
        Ok(SetHeader {
            name,
            action,
            values,
        })
    }
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
    fn expressions_outside_native_blocks_are_errors() {
        let xml = r#"<policies><inbound>
            <set-header name="x-amz-date"><value>@(DateTime.UtcNow.ToString())</value></set-header>
        </inbound></policies>"#;
        assert!(parse_str(xml).is_err());
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
