//! The small, fixed subset of APIM policy expressions the stand-in evaluates natively.
//!
//! Owns parsing and evaluating two things: conditions (`<when condition>`,
//! `increment-condition`) and counter keys (`counter-key`). Anything outside the subset
//! is a startup error; there is no general C# evaluator here.
//!
//! Conditions: `@(TERM || TERM …)` or `@(TERM && TERM …)` (one operator kind per
//! expression, no parentheses), where TERM is
//! `context.Request.Method == "GET"` (or `!=`) or
//! `context.Response.StatusCode OP N` with OP one of `== != < <= > >=`.
//!
//! Counter keys: a literal, or exactly one of
//! `@(context.Subscription.Id)`, `@(context.Request.IpAddress)`,
//! `@(context.Request.Headers.GetValueOrDefault("NAME", "DEFAULT"))`,
//! `@(context.Request.Headers.GetValueOrDefault("NAME", "DEFAULT").AsJwt()?.Claims.GetValueOrDefault("CLAIM", "DEFAULT"))`.

use std::net::IpAddr;

use base64::Engine;
use http::{HeaderMap, Method};

/// A boolean policy expression in the supported subset.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// True when any term holds (`||`).
    Any(Vec<Term>),
    /// True when every term holds (`&&`).
    All(Vec<Term>),
}

/// One comparison of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// `context.Request.Method == "X"` (`equal`) or `!=`.
    Method { equal: bool, method: Method },
    /// `context.Response.StatusCode OP N`.
    Status { op: CmpOp, value: u16 },
}

/// Comparison operators of status terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn holds(self, a: u16, b: u16) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

/// Removes whitespace outside string literals, so `a == "b"` and `a=="b"` parse alike.
fn compact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_str = false;
    for c in s.chars() {
        if c == '"' {
            in_str = !in_str;
        }
        if in_str || !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The inside of `@( … )`, or an error naming what was expected.
fn inner(expr: &str) -> Result<String, String> {
    let c = compact(expr);
    c.strip_prefix("@(")
        .and_then(|s| s.strip_suffix(')'))
        .map(str::to_string)
        .ok_or_else(|| format!("expected a policy expression @( … ), got `{expr}`"))
}

fn string_literal(s: &str) -> Result<String, String> {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .filter(|v| !v.contains('"'))
        .map(str::to_string)
        .ok_or_else(|| format!("expected a string literal, got `{s}`"))
}

impl Condition {
    /// Parses a condition in the supported subset (see the module doc).
    pub fn parse(expr: &str) -> Result<Self, String> {
        let body = inner(expr)?;
        let unsupported = || {
            format!(
                "unsupported condition `{expr}`: the stand-in evaluates only \
                 context.Request.Method ==/!= \"M\" and context.Response.StatusCode comparisons, \
                 joined by all || or all &&"
            )
        };
        if body.contains("||") && body.contains("&&") {
            return Err(unsupported());
        }
        let any = body.contains("||");
        let sep = if any { "||" } else { "&&" };
        let terms = body
            .split(sep)
            .map(|t| Term::parse(t).ok_or_else(unsupported))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if any {
            Condition::Any(terms)
        } else {
            Condition::All(terms)
        })
    }

    /// Whether any term needs the backend's response (so it is evaluated afterwards).
    pub fn uses_response(&self) -> bool {
        let terms = match self {
            Condition::Any(t) | Condition::All(t) => t,
        };
        terms.iter().any(|t| matches!(t, Term::Status { .. }))
    }

    /// Evaluates the condition; status terms are false while `status` is unknown.
    pub fn holds(&self, method: &Method, status: Option<u16>) -> bool {
        match self {
            Condition::Any(t) => t.iter().any(|t| t.holds(method, status)),
            Condition::All(t) => t.iter().all(|t| t.holds(method, status)),
        }
    }
}

impl Term {
    fn parse(t: &str) -> Option<Self> {
        const OPS: [(&str, CmpOp); 6] = [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ];
        let (pos, op_str, op) = OPS
            .iter()
            .filter_map(|(s, op)| t.find(s).map(|p| (p, *s, *op)))
            .min_by_key(|(p, s, _)| (*p, std::cmp::Reverse(s.len())))?;
        let (lhs, rhs) = (&t[..pos], &t[pos + op_str.len()..]);
        match lhs {
            "context.Request.Method" if matches!(op, CmpOp::Eq | CmpOp::Ne) => {
                let m = string_literal(rhs).ok()?;
                Some(Term::Method {
                    equal: op == CmpOp::Eq,
                    method: Method::from_bytes(m.as_bytes()).ok()?,
                })
            }
            "context.Response.StatusCode" => Some(Term::Status {
                op,
                value: rhs.parse().ok()?,
            }),
            _ => None,
        }
    }

    fn holds(&self, method: &Method, status: Option<u16>) -> bool {
        match self {
            Term::Method { equal, method: m } => (m == method) == *equal,
            Term::Status { op, value } => status.is_some_and(|s| op.holds(s, *value)),
        }
    }
}

/// What a rate-limit or quota counter is keyed on.
#[derive(Debug, Clone, PartialEq)]
pub enum CounterKey {
    /// A fixed string: one counter for everyone.
    Literal(String),
    /// `@(context.Subscription.Id)`: the subscription's name.
    Subscription,
    /// `@(context.Request.IpAddress)`: the client's address.
    IpAddress,
    /// `@(context.Request.Headers.GetValueOrDefault("NAME", "DEFAULT"))`.
    Header { name: String, default: String },
    /// `… .AsJwt()?.Claims.GetValueOrDefault("CLAIM", "DEFAULT")` on a header's bearer token.
    JwtClaim {
        header: String,
        claim: String,
        default: String,
    },
}

/// What a request offers for counter keys.
pub struct RequestFacts<'a> {
    pub subscription: Option<&'a str>,
    pub ip: IpAddr,
    pub headers: &'a HeaderMap,
}

/// Splits `"a","b"` (already compacted) into string literals.
fn literal_args(args: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = args;
    while !rest.is_empty() {
        let end = rest[1..]
            .find('"')
            .map(|p| p + 2)
            .ok_or_else(|| format!("unterminated string in `{args}`"))?;
        out.push(string_literal(&rest[..end])?);
        rest = rest[end..].strip_prefix(',').unwrap_or(&rest[end..]);
    }
    Ok(out)
}

/// Parses `PREFIX("a","b")REST` and returns the arguments (1 or 2) and REST.
fn call<'a>(s: &'a str, prefix: &str) -> Option<(Vec<String>, &'a str)> {
    let args_and_rest = s.strip_prefix(prefix)?.strip_prefix('(')?;
    let close = args_and_rest.find(')')?;
    let args = literal_args(&args_and_rest[..close]).ok()?;
    (1..=2)
        .contains(&args.len())
        .then_some((args, &args_and_rest[close + 1..]))
}

impl CounterKey {
    /// Parses a counter key (see the module doc).
    pub fn parse(expr: &str) -> Result<Self, String> {
        if !expr.trim_start().starts_with('@') {
            return Ok(CounterKey::Literal(expr.to_string()));
        }
        let body = inner(expr)?;
        let unsupported = || {
            format!(
                "unsupported counter-key `{expr}`: the stand-in supports context.Subscription.Id, \
                 context.Request.IpAddress, context.Request.Headers.GetValueOrDefault(\"H\", \"D\") \
                 and that followed by .AsJwt()?.Claims.GetValueOrDefault(\"CLAIM\", \"D\")"
            )
        };
        match body.as_str() {
            "context.Subscription.Id" => return Ok(CounterKey::Subscription),
            "context.Request.IpAddress" => return Ok(CounterKey::IpAddress),
            _ => {}
        }
        let (args, rest) =
            call(&body, "context.Request.Headers.GetValueOrDefault").ok_or_else(unsupported)?;
        let header = args[0].clone();
        let header_default = args.get(1).cloned().unwrap_or_default();
        if rest.is_empty() {
            return Ok(CounterKey::Header {
                name: header,
                default: header_default,
            });
        }
        let (claim_args, tail) =
            call(rest, ".AsJwt()?.Claims.GetValueOrDefault").ok_or_else(unsupported)?;
        if !tail.is_empty() {
            return Err(unsupported());
        }
        Ok(CounterKey::JwtClaim {
            header,
            claim: claim_args[0].clone(),
            default: claim_args.get(1).cloned().unwrap_or_default(),
        })
    }

    /// The counter this request counts against.
    pub fn value(&self, facts: &RequestFacts<'_>) -> String {
        let header = |name: &str| {
            facts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match self {
            CounterKey::Literal(s) => s.clone(),
            CounterKey::Subscription => facts.subscription.unwrap_or_default().to_string(),
            CounterKey::IpAddress => facts.ip.to_string(),
            CounterKey::Header { name, default } => header(name).unwrap_or_else(|| default.clone()),
            CounterKey::JwtClaim {
                header: h,
                claim,
                default,
            } => header(h)
                .and_then(|v| unverified_claim(&v, claim))
                .unwrap_or_else(|| default.clone()),
        }
    }
}

/// A claim of a bearer token, read without verifying it (as APIM's `AsJwt()` does).
/// Arrays are joined with commas.
fn unverified_claim(header_value: &str, claim: &str) -> Option<String> {
    let token = header_value
        .strip_prefix("Bearer ")
        .or_else(|| header_value.strip_prefix("bearer "))
        .unwrap_or(header_value);
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match claims.get(claim)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => Some(
            a.iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
        ),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_conditions() {
        let c = Condition::parse(
            r#"@(context.Request.Method == "GET" || context.Request.Method=="HEAD")"#,
        )
        .unwrap();
        assert!(c.holds(&Method::GET, None));
        assert!(c.holds(&Method::HEAD, None));
        assert!(!c.holds(&Method::PUT, None));
        assert!(!c.uses_response());
        let c = Condition::parse(
            "@(context.Response.StatusCode >= 200 && context.Response.StatusCode < 400)",
        )
        .unwrap();
        assert!(c.uses_response());
        assert!(c.holds(&Method::GET, Some(200)));
        assert!(!c.holds(&Method::GET, Some(404)));
        assert!(!c.holds(&Method::GET, None));
        for bad in [
            "@(context.Request.Url.Path.StartsWith(\"/x\"))",
            "@(context.Request.Method == \"GET\" || context.Request.Method == \"PUT\" && true)",
            "context.Request.Method == \"GET\"",
        ] {
            assert!(Condition::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counter_keys() {
        assert_eq!(
            CounterKey::parse("@(context.Subscription.Id)").unwrap(),
            CounterKey::Subscription
        );
        assert_eq!(
            CounterKey::parse(
                "@( context.Request.Headers.GetValueOrDefault(\"X-Tenant\", \"none\") )"
            )
            .unwrap(),
            CounterKey::Header {
                name: "X-Tenant".into(),
                default: "none".into()
            }
        );
        let k = CounterKey::parse(
            r#"@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Claims.GetValueOrDefault("azp", "anon"))"#,
        )
        .unwrap();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"azp":"bench","roles":["a","b"]}"#);
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            format!("Bearer x.{payload}.y").parse().unwrap(),
        );
        let facts = RequestFacts {
            subscription: None,
            ip: IpAddr::from([127, 0, 0, 1]),
            headers: &headers,
        };
        assert_eq!(k.value(&facts), "bench");
        assert!(CounterKey::parse("@(context.Request.Body.As<string>())").is_err());
        assert_eq!(
            CounterKey::parse("everyone").unwrap(),
            CounterKey::Literal("everyone".into())
        );
    }
}
