//! Which API operation a request target names: dot segments resolved as a URL resolver
//! does (RFC 3986 §5.2.4, percent-encoded dots included), then matched against the API
//! prefix and the API's operations (`Operations`: loaded from the OpenAPI file,
//! `deploy/apim/storage-api.openapi.yaml`, or the built-in table equal to it).
//!
//! Owns the guarantee that a forwarded path names exactly the bucket and key of its
//! resolved form below the API prefix: no dot segment, plain or percent-encoded, and no
//! segment that decodes to one (`..%2F`, `..%5C`, `..\`) reaches the backend. It does not
//! look at credentials or policies.

use std::path::Path;

use anyhow::Context;
use http::Method;
use percent_encoding::percent_decode_str;

/// The OpenAPI file `gatebench gateway` loads when `--openapi` is not given and it exists.
pub const DEFAULT_OPENAPI: &str = "deploy/apim/storage-api.openapi.yaml";

/// The methods the API defines on `/{bucket}` and on `/{bucket}/{key}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operations {
    pub bucket: Vec<Method>,
    pub object: Vec<Method>,
}

impl Operations {
    /// The table `deploy/apim/storage-api.openapi.yaml` defines (a test keeps them equal).
    pub fn built_in() -> Self {
        Operations {
            // list, create, bucket HEAD, delete; multipart uploads of a bucket (GET ?uploads)
            bucket: vec![Method::GET, Method::PUT, Method::HEAD, Method::DELETE],
            // get (and range get), head, put (and upload part), delete (and abort),
            // post (create/complete multipart)
            object: vec![
                Method::GET,
                Method::PUT,
                Method::HEAD,
                Method::DELETE,
                Method::POST,
            ],
        }
    }

    /// The operations of an OpenAPI (YAML or JSON) file: its `paths` must be `/{bucket}`
    /// and `/{bucket}/{key}` (parameter names as in the file), with get, put, post,
    /// delete, head, patch or options operations.
    pub fn load(file: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read OpenAPI file {}", file.display()))?;
        Self::parse(&text).with_context(|| format!("OpenAPI file {}", file.display()))
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        let doc: serde_yaml::Value = serde_yaml::from_str(text)?;
        let paths = doc
            .get("paths")
            .and_then(serde_yaml::Value::as_mapping)
            .context("no `paths` mapping")?;
        let mut ops = Operations {
            bucket: Vec::new(),
            object: Vec::new(),
        };
        for (path, item) in paths {
            let path = path.as_str().context("a path that is not a string")?;
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            let is_param = |s: &str| s.starts_with('{') && s.ends_with('}');
            let target = match segments.as_slice() {
                [b] if is_param(b) => &mut ops.bucket,
                [b, k] if is_param(b) && is_param(k) => &mut ops.object,
                _ => anyhow::bail!(
                    "path `{path}`: the stand-in serves only /{{bucket}} and /{{bucket}}/{{key}}"
                ),
            };
            let item = item
                .as_mapping()
                .context("a path item that is not a mapping")?;
            for key in item.keys().filter_map(serde_yaml::Value::as_str) {
                let method = match key {
                    "get" => Method::GET,
                    "put" => Method::PUT,
                    "post" => Method::POST,
                    "delete" => Method::DELETE,
                    "head" => Method::HEAD,
                    "patch" => Method::PATCH,
                    "options" => Method::OPTIONS,
                    _ => continue, // parameters, summary, …
                };
                if !target.contains(&method) {
                    target.push(method);
                }
            }
        }
        Ok(ops)
    }
}

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

/// The path below `api_prefix` that `method raw_path` names among `ops`, dot segments
/// resolved and still percent-encoded: `/bucket` or `/bucket/key`.
pub fn route(
    ops: &Operations,
    method: &Method,
    raw_path: &str,
    api_prefix: &str,
) -> Result<String, Unrouted> {
    let resolved = resolve_dot_segments(raw_path)?;
    let below = resolved
        .strip_prefix(api_prefix)
        .filter(|rest| rest.starts_with('/'))
        .ok_or(Unrouted::NoOperation)?;
    let (bucket, key) = below[1..].split_once('/').unwrap_or((&below[1..], ""));
    let defined = if bucket.is_empty() {
        false
    } else if key.is_empty() {
        ops.bucket.contains(method)
    } else {
        ops.object.contains(method)
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
    fn the_shipped_openapi_file_equals_the_built_in_table() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_OPENAPI);
        let mut loaded = Operations::load(&file).unwrap();
        let mut built_in = Operations::built_in();
        for ops in [&mut loaded, &mut built_in] {
            ops.bucket.sort_by_key(|m| m.to_string());
            ops.object.sort_by_key(|m| m.to_string());
        }
        assert_eq!(loaded, built_in);
        let err = Operations::parse("paths:\n  /{bucket}/{key}/extra:\n    get: {}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/{bucket}/{key}/extra"), "{err}");
    }

    #[test]
    fn matches_only_the_operations_the_api_defines() {
        let ops = Operations {
            bucket: vec![Method::GET, Method::PUT],
            object: vec![Method::GET, Method::HEAD, Method::PUT, Method::DELETE],
        };
        let route = |m: &Method, p: &str, prefix: &str| route(&ops, m, p, prefix);
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
