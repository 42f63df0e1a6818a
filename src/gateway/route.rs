//! Which API operation a request target names: dot segments resolved as a URL resolver
//! does (RFC 3986 §5.2.4, percent-encoded dots included), then matched against the API
//! prefix and the operations of `deploy/apim/storage-api.openapi.yaml`.
//!
//! Owns the guarantee that a forwarded path names exactly the bucket and key of its
//! resolved form below the API prefix: no dot segment, plain or percent-encoded, and no
//! segment that decodes to one (`..%2F`, `..%5C`, `..\`) reaches the backend. It does not
//! look at credentials or policies.

use http::Method;
use percent_encoding::percent_decode_str;

/// Why a request target names no operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrouted {
    /// A segment decodes to a path with dot segments (`..%2F`, `..\`): no resolution
    /// makes it unambiguous, so it is refused with 400.
    AmbiguousPath,
    /// Outside the API, or no operation for this method and path: APIM's 404
    /// `Resource not found` (APIM answers 404, not 405, for an undefined method).
    NoOperation,
}

/// The path below `api_prefix` that `method raw_path` names, dot segments resolved and
/// still percent-encoded: `/bucket` or `/bucket/key`.
pub fn route(method: &Method, raw_path: &str, api_prefix: &str) -> Result<String, Unrouted> {
    let resolved = resolve_dot_segments(raw_path)?;
    let below = resolved
        .strip_prefix(api_prefix)
        .filter(|rest| rest.starts_with('/'))
        .ok_or(Unrouted::NoOperation)?;
    let (bucket, key) = below[1..].split_once('/').unwrap_or((&below[1..], ""));
    let defined = if bucket.is_empty() {
        false
    } else if key.is_empty() {
        // listObjects, createBucket
        [Method::GET, Method::PUT].contains(method)
    } else {
        // getObject, headObject, putObject, deleteObject
        [Method::GET, Method::HEAD, Method::PUT, Method::DELETE].contains(method)
    };
    if defined {
        Ok(below.to_string())
    } else {
        Err(Unrouted::NoOperation)
    }
}

/// `raw_path` with `.` and `..` segments (also `%2e`, `%2E%2e`, …) removed as RFC 3986
/// §5.2.4 does; `..` at the root is dropped. Other segments stay as sent.
fn resolve_dot_segments(raw_path: &str) -> Result<String, Unrouted> {
    let Some(rest) = raw_path.strip_prefix('/') else {
        return Err(Unrouted::NoOperation);
    };
    let mut kept: Vec<&str> = Vec::new();
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let decoded: Vec<u8> = percent_decode_str(segment).collect();
        let is_dot = match decoded.as_slice() {
            b"." => true,
            b".." => {
                kept.pop();
                true
            }
            other
                if other
                    .split(|b| *b == b'/' || *b == b'\\')
                    .any(is_dot_segment) =>
            {
                return Err(Unrouted::AmbiguousPath);
            }
            _ => false,
        };
        if !is_dot {
            kept.push(segment);
        } else if segments.peek().is_none() {
            // `/a/b/..` names the folder `/a/`.
            kept.push("");
        }
    }
    Ok(format!("/{}", kept.join("/")))
}

fn is_dot_segment(decoded: &[u8]) -> bool {
    decoded == b"." || decoded == b".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_plain_and_encoded_dot_segments() {
        for (raw, resolved) in [
            ("/a/b", "/a/b"),
            ("/a/../b", "/b"),
            ("/a/%2e%2E/b", "/b"),
            ("/a/.%2e/b/./c", "/b/c"),
            ("/a/b/..", "/a/"),
            ("/../../x", "/x"),
            ("/a//b", "/a//b"),
            ("/a/.../b", "/a/.../b"),
            ("/a/%2e%2e%2e", "/a/%2e%2e%2e"),
        ] {
            assert_eq!(resolve_dot_segments(raw), Ok(resolved.to_string()), "{raw}");
        }
        for raw in ["/a/..%2fb", "/a/%2E%2E%5Cb", "/a/..\\b", "/a/x%2f.%2fy"] {
            assert_eq!(
                resolve_dot_segments(raw),
                Err(Unrouted::AmbiguousPath),
                "{raw}"
            );
        }
    }

    #[test]
    fn matches_only_the_operations_the_api_defines() {
        let put = Method::PUT;
        assert_eq!(route(&put, "/api/b/k", "/api"), Ok("/b/k".into()));
        assert_eq!(route(&put, "/api/x/../b", "/api"), Ok("/b".into()));
        assert_eq!(route(&put, "/b/k", ""), Ok("/b/k".into()));
        for (method, path) in [
            (Method::PATCH, "/api/b/k"),
            (Method::DELETE, "/api/b"),
            (Method::GET, "/api/"),
            (Method::GET, "/api"),
            (Method::GET, "/apix/b"),
            (Method::GET, "/api/b/../../api2/b"),
            (Method::GET, "*"),
        ] {
            assert_eq!(
                route(&method, path, "/api"),
                Err(Unrouted::NoOperation),
                "{method} {path}"
            );
        }
    }
}
