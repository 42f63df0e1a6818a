//! The `cors` policy at run time: answering preflight requests and deciding which
//! cross-origin requests get CORS headers (cors-policy.md).
//!
//! Owns the matching of `Origin`, the requested method and headers against the policy,
//! and the headers of the answers. Parsing lives in `policy`, the request flow in
//! `pipeline`.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// A parsed `cors` policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Cors {
    pub allow_credentials: bool,
    /// Unmatched preflights and simple GET/HEAD requests end at once with an empty 200.
    pub terminate_unmatched_request: bool,
    /// `*` or exact origins (`https://app.example`).
    pub origins: Vec<String>,
    /// Empty: GET and POST (the documented default); `*`: any.
    pub methods: Vec<String>,
    pub preflight_max_age: Option<u64>,
    /// `*` or header names, compared case-insensitively.
    pub headers: Vec<String>,
    pub expose_headers: Vec<String>,
}

/// What the policy makes of a request.
#[derive(Debug, PartialEq)]
pub enum CorsDecision {
    /// Not cross-origin (no `Origin`), or unmatched with `terminate-unmatched-request="false"`:
    /// on as usual, no CORS headers.
    Pass,
    /// Answer now with an empty 200 and these headers (a preflight, or an unmatched request
    /// terminated).
    Answer(Vec<(HeaderName, HeaderValue)>),
    /// On as usual; add these headers to the response.
    Decorate(Vec<(HeaderName, HeaderValue)>),
}

fn lists(list: &[String], value: &str) -> bool {
    list.iter()
        .any(|v| v == "*" || v.eq_ignore_ascii_case(value))
}

fn pair(name: &'static str, value: &str) -> Option<(HeaderName, HeaderValue)> {
    Some((
        HeaderName::from_static(name),
        HeaderValue::from_str(value).ok()?,
    ))
}

impl Cors {
    fn method_allowed(&self, method: &str) -> bool {
        if self.methods.is_empty() {
            return method == "GET" || method == "POST";
        }
        lists(&self.methods, method)
    }

    /// `Access-Control-Allow-Origin` (and `-Credentials`) for a matched `origin`.
    fn allow_origin(&self, origin: &str) -> Vec<(HeaderName, HeaderValue)> {
        // A credentialed answer may not use `*`: echo the origin instead.
        let value = if self.origins.iter().any(|o| o == "*") && !self.allow_credentials {
            "*"
        } else {
            origin
        };
        let mut out: Vec<_> = pair("access-control-allow-origin", value)
            .into_iter()
            .collect();
        if self.allow_credentials {
            out.extend(pair("access-control-allow-credentials", "true"));
        }
        out
    }

    /// What to do with a request of `method` carrying `headers`.
    pub fn decide(&self, method: &Method, headers: &HeaderMap) -> CorsDecision {
        let Some(origin) = headers.get("origin").and_then(|o| o.to_str().ok()) else {
            return CorsDecision::Pass;
        };
        let requested_method = headers
            .get("access-control-request-method")
            .and_then(|m| m.to_str().ok());
        let origin_ok = lists(&self.origins, origin);
        match (method, requested_method) {
            (&Method::OPTIONS, Some(wanted)) => {
                let wanted_headers: Vec<&str> = headers
                    .get_all("access-control-request-headers")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .collect();
                let matched = origin_ok
                    && self.method_allowed(wanted)
                    && wanted_headers.iter().all(|h| lists(&self.headers, h));
                if !matched {
                    // Unmatched preflight: an empty 200 without CORS headers either way
                    // (with no other cors policy in scope to try).
                    return CorsDecision::Answer(Vec::new());
                }
                let mut out = self.allow_origin(origin);
                out.extend(pair("access-control-allow-methods", wanted));
                if !wanted_headers.is_empty() {
                    out.extend(pair(
                        "access-control-allow-headers",
                        &wanted_headers.join(","),
                    ));
                }
                if let Some(age) = self.preflight_max_age {
                    out.extend(pair("access-control-max-age", &age.to_string()));
                }
                CorsDecision::Answer(out)
            }
            _ if origin_ok && self.method_allowed(method.as_str()) => {
                let mut out = self.allow_origin(origin);
                if !self.expose_headers.is_empty() {
                    out.extend(pair(
                        "access-control-expose-headers",
                        &self.expose_headers.join(","),
                    ));
                }
                CorsDecision::Decorate(out)
            }
            (&Method::GET | &Method::HEAD, _) if self.terminate_unmatched_request => {
                CorsDecision::Answer(Vec::new())
            }
            _ => CorsDecision::Pass,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors() -> Cors {
        Cors {
            allow_credentials: false,
            terminate_unmatched_request: true,
            origins: vec!["https://app.example".into()],
            methods: vec!["GET".into(), "PUT".into()],
            preflight_max_age: Some(300),
            headers: vec!["authorization".into(), "content-type".into()],
            expose_headers: vec!["x-cache".into()],
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    fn names(d: CorsDecision) -> Vec<(String, String)> {
        let list = match d {
            CorsDecision::Answer(l) | CorsDecision::Decorate(l) => l,
            CorsDecision::Pass => Vec::new(),
        };
        list.into_iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect()
    }

    #[test]
    fn preflights_are_answered_with_what_was_asked_when_it_matches() {
        // cors-policy.md: a matched preflight gets the allow headers; an unmatched one an
        // empty 200.
        let c = cors();
        let pre = headers(&[
            ("origin", "https://app.example"),
            ("access-control-request-method", "PUT"),
            (
                "access-control-request-headers",
                "Authorization, Content-Type",
            ),
        ]);
        assert_eq!(
            names(c.decide(&Method::OPTIONS, &pre)),
            [
                ("access-control-allow-origin", "https://app.example"),
                ("access-control-allow-methods", "PUT"),
                ("access-control-allow-headers", "Authorization,Content-Type"),
                ("access-control-max-age", "300"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let mut other_origin = pre.clone();
        other_origin.insert("origin", HeaderValue::from_static("https://evil.example"));
        assert_eq!(
            c.decide(&Method::OPTIONS, &other_origin),
            CorsDecision::Answer(Vec::new())
        );
        let mut delete = pre;
        delete.insert(
            "access-control-request-method",
            HeaderValue::from_static("DELETE"),
        );
        assert_eq!(
            c.decide(&Method::OPTIONS, &delete),
            CorsDecision::Answer(Vec::new())
        );
    }

    #[test]
    fn actual_requests_are_decorated_passed_or_terminated() {
        let c = cors();
        let ok = headers(&[("origin", "https://app.example")]);
        assert_eq!(
            names(c.decide(&Method::GET, &ok)),
            [
                ("access-control-allow-origin", "https://app.example"),
                ("access-control-expose-headers", "x-cache"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(
            c.decide(&Method::GET, &HeaderMap::new()),
            CorsDecision::Pass
        );
        let bad = headers(&[("origin", "https://evil.example")]);
        // cors-policy.md: an unmatched simple GET/HEAD ends with an empty 200 unless
        // terminate-unmatched-request="false", which passes it without CORS headers.
        assert_eq!(
            c.decide(&Method::GET, &bad),
            CorsDecision::Answer(Vec::new())
        );
        let lenient = Cors {
            terminate_unmatched_request: false,
            ..cors()
        };
        assert_eq!(lenient.decide(&Method::GET, &bad), CorsDecision::Pass);
        let any = Cors {
            origins: vec!["*".into()],
            methods: Vec::new(),
            ..cors()
        };
        assert_eq!(
            names(any.decide(&Method::GET, &bad))[0],
            ("access-control-allow-origin".into(), "*".into())
        );
        assert_eq!(
            any.decide(&Method::PUT, &bad),
            CorsDecision::Pass,
            "GET, POST by default"
        );
    }
}
