//! Evaluates a parsed expression against one request's `Facts`. Never panics: whatever
//! C# would throw (null dereference, out-of-range `Substring`, bad cast, division by
//! zero) is an `Err` naming the part of the expression that failed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Instant;

use base64::Engine;
use http::HeaderMap;

use super::ast::{BinOp, Body, CastTy, Dict, Method, Node, Obj, Prop, Static, Stmt};
use super::value::{Value, format_date, new_guid};

/// What an expression can see of the request being handled.
pub struct Facts<'a> {
    pub method: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The API prefix (`/storage`), the first part of `context.Request.Url.Path`.
    pub api_prefix: &'a str,
    /// The path below the prefix: `/bucket/key`.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub request_headers: &'a HeaderMap,
    pub ip: IpAddr,
    /// The subscription's id (its name) and key, when the call has one.
    pub subscription: Option<(&'a str, &'a str)>,
    /// The status and headers of the response, once there is one.
    pub response: Option<(u16, &'a HeaderMap)>,
    pub variables: &'a HashMap<String, Value>,
    pub started: Instant,
    /// `context.RequestId`, made on first use.
    pub request_id: &'a OnceLock<u128>,
}

/// Evaluates a whole expression.
pub fn eval_body(body: &Body, facts: &Facts<'_>) -> Result<Value, String> {
    match body {
        Body::Single(node) => eval(node, facts, &[]),
        Body::Block { stmts, locals } => {
            let mut slots = vec![Value::Null; *locals];
            run(stmts, facts, &mut slots)?.ok_or_else(|| "the block returned nothing".into())
        }
    }
}

/// Runs statements; `Some` once a `return` ran.
fn run(stmts: &[Stmt], f: &Facts<'_>, slots: &mut [Value]) -> Result<Option<Value>, String> {
    for stmt in stmts {
        match stmt {
            Stmt::Let(slot, node) => slots[*slot] = eval(node, f, slots)?,
            Stmt::Return(node) => return eval(node, f, slots).map(Some),
            Stmt::If(cond, then, otherwise) => {
                let branch = if truth(&eval(cond, f, slots)?, "if")? {
                    then
                } else {
                    otherwise
                };
                if let Some(v) = run(branch, f, slots)? {
                    return Ok(Some(v));
                }
            }
        }
    }
    Ok(None)
}

fn truth(v: &Value, what: &str) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(format!(
            "`{what}` got {} instead of a bool",
            other.type_name()
        )),
    }
}

fn eval(node: &Node, f: &Facts<'_>, slots: &[Value]) -> Result<Value, String> {
    Ok(match node {
        Node::Lit(v) => v.clone(),
        Node::Local(slot) => slots[*slot].clone(),
        Node::Context => Value::Obj(Obj::Context),
        Node::Prop {
            target,
            prop,
            null_safe,
            text,
        } => match eval(target, f, slots)? {
            Value::Null if *null_safe => Value::Null,
            Value::Null => return Err(null_reference(text)),
            v => prop_value(*prop, &v, f).ok_or_else(|| wrong_type(text, &v))?,
        },
        Node::Call {
            target,
            method,
            args,
            null_safe,
            text,
        } => {
            let v = eval(target, f, slots)?;
            if v == Value::Null {
                if *null_safe {
                    return Ok(Value::Null);
                }
                return Err(null_reference(text));
            }
            let args = args
                .iter()
                .map(|a| eval(a, f, slots))
                .collect::<Result<Vec<_>, _>>()?;
            call(*method, &v, &args, f).map_err(|e| format!("`{text}`: {e}"))?
        }
        Node::Index {
            target,
            index,
            null_safe,
            text,
        } => {
            let v = eval(target, f, slots)?;
            let i = eval(index, f, slots)?;
            match (&v, &i) {
                (Value::Null, _) if *null_safe => Value::Null,
                (Value::Null, _) => return Err(null_reference(text)),
                (Value::Dict(Dict::Variables), Value::Str(name)) => {
                    f.variables.get(&**name).cloned().ok_or_else(|| {
                        format!(
                            "`{text}`: the variable \"{name}\" is not set (KeyNotFoundException)"
                        )
                    })?
                }
                (Value::StrArray(items), Value::Int(n)) => usize::try_from(*n)
                    .ok()
                    .and_then(|n| items.get(n))
                    .map(|s| Value::str(s.as_str()))
                    .ok_or_else(|| format!("`{text}`: index {n} is out of range"))?,
                _ => return Err(wrong_type(text, &v)),
            }
        }
        Node::Static { func, args } => {
            let args = args
                .iter()
                .map(|a| eval(a, f, slots))
                .collect::<Result<Vec<_>, _>>()?;
            static_call(*func, &args)?
        }
        Node::Not(a) => Value::Bool(!truth(&eval(a, f, slots)?, "!")?),
        Node::Neg(a) => match eval(a, f, slots)? {
            Value::Int(i) => Value::Int(i.checked_neg().ok_or("integer overflow")?),
            Value::Double(d) => Value::Double(-d),
            other => return Err(format!("cannot negate {}", other.type_name())),
        },
        Node::And(a, b) => {
            Value::Bool(truth(&eval(a, f, slots)?, "&&")? && truth(&eval(b, f, slots)?, "&&")?)
        }
        Node::Or(a, b) => {
            Value::Bool(truth(&eval(a, f, slots)?, "||")? || truth(&eval(b, f, slots)?, "||")?)
        }
        Node::Coalesce(a, b) => match eval(a, f, slots)? {
            Value::Null => eval(b, f, slots)?,
            v => v,
        },
        Node::Cond(c, a, b) => {
            if truth(&eval(c, f, slots)?, "?:")? {
                eval(a, f, slots)?
            } else {
                eval(b, f, slots)?
            }
        }
        Node::Binary(op, a, b) => binary(*op, eval(a, f, slots)?, eval(b, f, slots)?)?,
        Node::Cast(to, a) => cast(*to, eval(a, f, slots)?)?,
        Node::Concat(parts) => {
            let mut s = String::new();
            for p in parts {
                s.push_str(&eval(p, f, slots)?.to_text());
            }
            Value::from(s)
        }
    })
}

fn null_reference(text: &str) -> String {
    format!("`{text}`: the value before it is null (NullReferenceException)")
}

fn wrong_type(text: &str, v: &Value) -> String {
    format!("`{text}` does not apply to a {}", v.type_name())
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    Some(
        values
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Host and port from the `Host` header (or the HTTP/2 authority the server put there).
fn host_and_port(f: &Facts<'_>) -> (String, i64) {
    let default_port = if f.scheme == "https" { 443 } else { 80 };
    let host = header_text(f.request_headers, "host").unwrap_or_default();
    match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || host.starts_with('[') => match p.parse() {
            Ok(port) => (h.to_string(), port),
            Err(_) => (host.clone(), default_port),
        },
        _ => (host, default_port),
    }
}

fn prop_value(prop: Prop, v: &Value, f: &Facts<'_>) -> Option<Value> {
    Some(match (prop, v) {
        (Prop::Request, _) => Value::Obj(Obj::Request),
        (Prop::Response, _) => f
            .response
            .map_or(Value::Null, |_| Value::Obj(Obj::Response)),
        (Prop::Subscription, _) => f
            .subscription
            .map_or(Value::Null, |_| Value::Obj(Obj::Subscription)),
        (Prop::Variables, _) => Value::Dict(Dict::Variables),
        (Prop::RequestHeaders, _) => Value::Dict(Dict::RequestHeaders),
        (Prop::Query, _) => Value::Dict(Dict::Query),
        (Prop::MatchedParameters, _) => Value::Dict(Dict::MatchedParameters),
        (Prop::ResponseHeaders, _) => Value::Dict(Dict::ResponseHeaders),
        // The claims are read from the token itself.
        (Prop::Claims, Value::Jwt(_)) => v.clone(),
        (Prop::Elapsed, _) => Value::TimeSpan(f.started.elapsed()),
        (Prop::RequestId, _) => Value::Guid(*f.request_id.get_or_init(new_guid)),
        (Prop::Deployment, _) => Value::Obj(Obj::Deployment),
        (Prop::Method, _) => method_name(f.method),
        (Prop::Url, _) => Value::Obj(Obj::Url),
        (Prop::IpAddress, _) => Value::from(f.ip.to_string()),
        (Prop::Path, _) => Value::from(format!("{}{}", f.api_prefix, f.path)),
        (Prop::Host, _) => Value::from(host_and_port(f).0),
        (Prop::Port, _) => Value::Int(host_and_port(f).1),
        (Prop::Scheme, _) => Value::str(f.scheme),
        (Prop::QueryString, _) => Value::from(f.query.map_or(String::new(), |q| format!("?{q}"))),
        (Prop::StatusCode, _) => Value::Int(f.response?.0.into()),
        (Prop::SubscriptionId, _) => Value::str(f.subscription?.0),
        (Prop::SubscriptionKey, _) => Value::str(f.subscription?.1),
        (Prop::Region, _) => Value::str("local"),
        (Prop::ServiceName, _) => Value::str("gatebench-gateway"),
        (Prop::TotalMilliseconds, Value::TimeSpan(d)) => Value::Double(d.as_secs_f64() * 1000.0),
        (Prop::TotalSeconds, Value::TimeSpan(d)) => Value::Double(d.as_secs_f64()),
        (Prop::Subject, Value::Jwt(c)) => claim(c, "sub").map_or(Value::Null, Value::from),
        (Prop::Issuer, Value::Jwt(c)) => claim(c, "iss").map_or(Value::Null, Value::from),
        (Prop::Audiences, Value::Jwt(c)) => Value::StrArray(match c.get("aud") {
            Some(serde_json::Value::Array(a)) => a.iter().map(json_text).collect(),
            Some(one) => vec![json_text(one)].into(),
            None => Arc::from([]),
        }),
        (Prop::Length, Value::Str(s)) => Value::Int(s.chars().count() as i64),
        (Prop::Length, Value::StrArray(a)) => Value::Int(a.len() as i64),
        (Prop::Length, Value::Bytes(b)) => Value::Int(b.len() as i64),
        _ => return None,
    })
}

/// The request method as a value, without allocating for the usual methods (conditions
/// on the method run on every request of the shipped policies).
fn method_name(method: &str) -> Value {
    static KNOWN: LazyLock<[Arc<str>; 7]> = LazyLock::new(|| {
        ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"].map(Arc::from)
    });
    KNOWN
        .iter()
        .find(|k| ***k == *method)
        .map_or_else(|| Value::str(method), |k| Value::Str(k.clone()))
}

fn json_text(v: &serde_json::Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// A claim as `Claims.GetValueOrDefault` gives it: arrays joined with commas.
fn claim(claims: &serde_json::Map<String, serde_json::Value>, name: &str) -> Option<String> {
    Some(match claims.get(name)? {
        serde_json::Value::Array(a) => a.iter().map(json_text).collect::<Vec<_>>().join(","),
        other => json_text(other),
    })
}

/// `AsJwt()`: the claims of a JWT, `None` if the string is not one (a `Bearer ` prefix
/// is stripped). The signature is not checked, as in APIM.
fn as_jwt(s: &str) -> Option<Value> {
    let token = s
        .strip_prefix("Bearer ")
        .or_else(|| s.strip_prefix("bearer "))
        .unwrap_or(s)
        .trim();
    let mut parts = token.split('.');
    let (header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let decode = |p: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p.trim_end_matches('='))
            .ok()
    };
    serde_json::from_slice::<serde_json::Map<_, _>>(&decode(header)?).ok()?;
    let claims = serde_json::from_slice(&decode(payload)?).ok()?;
    Some(Value::Jwt(Arc::new(claims)))
}

fn str_arg(args: &[Value], i: usize) -> Result<Option<&str>, String> {
    match args.get(i) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(other) => Err(format!(
            "argument {} must be a string, not {}",
            i + 1,
            other.type_name()
        )),
    }
}

fn required_str(args: &[Value], i: usize) -> Result<&str, String> {
    str_arg(args, i)?.ok_or_else(|| format!("argument {} is null (ArgumentNullException)", i + 1))
}

fn int_arg(args: &[Value], i: usize) -> Result<i64, String> {
    match args.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        other => Err(format!(
            "argument {} must be an int, not {}",
            i + 1,
            other.map_or("nothing", Value::type_name)
        )),
    }
}

/// Looks `name` up in the dictionary `d` (whose owner value is `owner`).
fn lookup(d: Dict, owner: &Value, name: &str, f: &Facts<'_>) -> Option<Value> {
    match d {
        Dict::RequestHeaders => header_text(f.request_headers, name).map(Value::from),
        Dict::ResponseHeaders => header_text(f.response?.1, name).map(Value::from),
        Dict::Query => {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(f.query.unwrap_or("")).unwrap_or_default();
            let values: Vec<String> = pairs
                .into_iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v)
                .collect();
            (!values.is_empty()).then(|| Value::from(values.join(",")))
        }
        Dict::MatchedParameters => {
            let trimmed = f.path.trim_start_matches('/');
            let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
            match name {
                "bucket" => Some(Value::str(bucket)),
                "key" if !key.is_empty() => Some(Value::str(key)),
                _ => None,
            }
        }
        Dict::Variables => f.variables.get(name).cloned(),
        Dict::Claims => match owner {
            Value::Jwt(c) => claim(c, name).map(Value::from),
            _ => None,
        },
    }
}

fn call(method: Method, v: &Value, args: &[Value], f: &Facts<'_>) -> Result<Value, String> {
    let text = || match v {
        Value::Str(s) => Ok(s.as_ref()),
        other => Err(format!("needs a string, not {}", other.type_name())),
    };
    Ok(match method {
        Method::GetValueOrDefault(d, as_type) => {
            let found = lookup(d, v, required_str(args, 0)?, f);
            let value = found.unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::Null));
            match as_type {
                Some(t) => cast(t, value)?,
                None => value,
            }
        }
        Method::ContainsKey(d) => Value::Bool(lookup(d, v, required_str(args, 0)?, f).is_some()),
        Method::GetBytes => Value::Bytes(required_str(args, 0)?.as_bytes().into()),
        Method::ToString => match (v, args.first()) {
            (Value::DateTime(t), Some(Value::Str(fmt))) => Value::from(format_date(t, fmt)?),
            (_, None) => Value::from(v.to_text()),
            (_, Some(_)) => {
                return Err(format!(
                    "ToString(format) on a {} is not supported by the stand-in's expressions",
                    v.type_name()
                ));
            }
        },
        Method::AsJwt => as_jwt(text()?).unwrap_or(Value::Null),
        Method::StartsWith => Value::Bool(text()?.starts_with(required_str(args, 0)?)),
        Method::EndsWith => Value::Bool(text()?.ends_with(required_str(args, 0)?)),
        Method::Contains => Value::Bool(text()?.contains(required_str(args, 0)?)),
        Method::Equals => Value::Bool(str_arg(args, 0)? == Some(text()?)),
        Method::ToLower => Value::from(text()?.to_lowercase()),
        Method::ToUpper => Value::from(text()?.to_uppercase()),
        Method::Substring => {
            let chars: Vec<char> = text()?.chars().collect();
            let start = int_arg(args, 0)?;
            let len = match args.get(1) {
                Some(_) => int_arg(args, 1)?,
                None => chars.len() as i64 - start,
            };
            let end = start.checked_add(len).unwrap_or(-1);
            if start < 0 || len < 0 || end > chars.len() as i64 {
                return Err(format!(
                    "start {start} and length {len} are outside a string of length {} \
                     (ArgumentOutOfRangeException)",
                    chars.len()
                ));
            }
            Value::from(
                chars[start as usize..end as usize]
                    .iter()
                    .collect::<String>(),
            )
        }
        Method::IndexOf => {
            let s = text()?;
            let needle = required_str(args, 0)?;
            Value::Int(s.find(needle).map_or(-1, |b| s[..b].chars().count() as i64))
        }
        Method::Replace => {
            let from = required_str(args, 0)?;
            if from.is_empty() {
                return Err("the string to replace is empty (ArgumentException)".into());
            }
            Value::from(text()?.replace(from, str_arg(args, 1)?.unwrap_or("")))
        }
        Method::Trim | Method::TrimStart | Method::TrimEnd => {
            let s = text()?;
            let set: Option<Vec<char>> = str_arg(args, 0)?.map(|c| c.chars().collect());
            let strip = |c: char| {
                set.as_ref()
                    .map_or(c.is_whitespace(), |set| set.contains(&c))
            };
            Value::str(match method {
                Method::Trim => s.trim_matches(strip),
                Method::TrimStart => s.trim_start_matches(strip),
                _ => s.trim_end_matches(strip),
            })
        }
        Method::Split => {
            let sep = required_str(args, 0)?;
            Value::StrArray(text()?.split(sep).map(str::to_string).collect())
        }
    })
}

fn static_call(func: Static, args: &[Value]) -> Result<Value, String> {
    Ok(match func {
        Static::IsNullOrEmpty => Value::Bool(str_arg(args, 0)?.is_none_or(str::is_empty)),
        Static::IsNullOrWhiteSpace => {
            Value::Bool(str_arg(args, 0)?.is_none_or(|s| s.trim().is_empty()))
        }
        Static::Format => {
            let fmt = required_str(args, 0)?;
            let mut out = String::new();
            let mut rest = fmt;
            while let Some(i) = rest.find(['{', '}']) {
                out.push_str(&rest[..i]);
                let tail = &rest[i..];
                if tail.starts_with("{{") || tail.starts_with("}}") {
                    out.push_str(&tail[..1]);
                    rest = &tail[2..];
                    continue;
                }
                let close = tail
                    .find('}')
                    .filter(|_| tail.starts_with('{'))
                    .ok_or("string.Format: bad format string (FormatException)")?;
                let n: usize = tail[1..close]
                    .parse()
                    .map_err(|_| "string.Format: only {0}, {1}, … are supported".to_string())?;
                let arg = args
                    .get(n + 1)
                    .ok_or("string.Format: an index is beyond the arguments (FormatException)")?;
                out.push_str(&arg.to_text());
                rest = &tail[close + 1..];
            }
            out.push_str(rest);
            Value::from(out)
        }
        Static::UtcNow => Value::DateTime(time::OffsetDateTime::now_utc()),
        Static::NewGuid => Value::Guid(new_guid()),
        Static::IntParse => {
            let s = required_str(args, 0)?;
            Value::Int(
                s.trim()
                    .parse()
                    .map_err(|_| format!("int.Parse(\"{s}\"): not a number (FormatException)"))?,
            )
        }
        Static::ToBase64String => match args.first() {
            Some(Value::Bytes(b)) => {
                Value::from(base64::engine::general_purpose::STANDARD.encode(b))
            }
            other => {
                return Err(format!(
                    "Convert.ToBase64String needs bytes (Encoding.UTF8.GetBytes(…)), not {}",
                    other.map_or("nothing", Value::type_name)
                ));
            }
        },
        Static::Utf8 => Value::Obj(Obj::Encoding),
    })
}

fn binary(op: BinOp, a: Value, b: Value) -> Result<Value, String> {
    use Value::{Double, Int, Str};
    let num = |v: &Value| match v {
        Int(i) => Some(*i as f64),
        Double(d) => Some(*d),
        _ => None,
    };
    Ok(match op {
        BinOp::Eq => Value::Bool(equal(&a, &b)),
        BinOp::Ne => Value::Bool(!equal(&a, &b)),
        BinOp::Add if matches!(a, Str(_)) || matches!(b, Str(_)) => {
            Value::from(a.to_text() + &b.to_text())
        }
        _ => match (&a, &b) {
            (Int(x), Int(y)) => {
                let (x, y) = (*x, *y);
                let overflow = || "integer overflow (OverflowException)".to_string();
                match op {
                    BinOp::Add => Int(x.checked_add(y).ok_or_else(overflow)?),
                    BinOp::Sub => Int(x.checked_sub(y).ok_or_else(overflow)?),
                    BinOp::Mul => Int(x.checked_mul(y).ok_or_else(overflow)?),
                    BinOp::Div | BinOp::Rem if y == 0 => {
                        return Err("division by zero (DivideByZeroException)".into());
                    }
                    BinOp::Div => Int(x.checked_div(y).ok_or_else(overflow)?),
                    BinOp::Rem => Int(x.checked_rem(y).ok_or_else(overflow)?),
                    _ => Value::Bool(compare(op, x.cmp(&y))),
                }
            }
            _ => {
                let (Some(x), Some(y)) = (num(&a), num(&b)) else {
                    return Err(format!(
                        "operator {op:?} does not apply to {} and {}",
                        a.type_name(),
                        b.type_name()
                    ));
                };
                match op {
                    BinOp::Add => Double(x + y),
                    BinOp::Sub => Double(x - y),
                    BinOp::Mul => Double(x * y),
                    BinOp::Div => Double(x / y),
                    BinOp::Rem => Double(x % y),
                    _ => Value::Bool(x.partial_cmp(&y).is_some_and(|o| compare(op, o))),
                }
            }
        },
    })
}

fn compare(op: BinOp, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        BinOp::Lt => o == Less,
        BinOp::Le => o != Greater,
        BinOp::Gt => o == Greater,
        BinOp::Ge => o != Less,
        _ => false,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Double(y)) | (Value::Double(y), Value::Int(x)) => *x as f64 == *y,
        _ => a == b,
    }
}

fn cast(to: CastTy, v: Value) -> Result<Value, String> {
    let fail = |v: &Value| {
        format!(
            "cannot cast {} to {} (InvalidCastException)",
            v.type_name(),
            match to {
                CastTy::Str => "string",
                CastTy::Int => "int",
                CastTy::Bool => "bool",
            }
        )
    };
    Ok(match (to, v) {
        (CastTy::Str, v @ (Value::Str(_) | Value::Null)) => v,
        (CastTy::Int, v @ Value::Int(_)) => v,
        (CastTy::Int, Value::Double(d)) if d.is_finite() => Value::Int(d.trunc() as i64),
        (CastTy::Bool, v @ Value::Bool(_)) => v,
        (_, v) => return Err(fail(&v)),
    })
}
