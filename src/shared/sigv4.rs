//! SigV4 signing of S3 requests (`UNSIGNED-PAYLOAD`, or a body's SHA-256 when given).
//!
//! Two signers share one set of keys and rules:
//! - [`Signer`] signs gatebench's own load requests: method, already-encoded path and
//!   query, `host`. It derives the signing key once per day (an HMAC state keyed with it,
//!   cloned per signature), formats the date once per second and hashes the canonical
//!   request in place, so the per-request cost is one SHA-256 and one HMAC;
//!   [`Signer::sign_head`] hands the headers over as byte parts, for the HTTP/1.1 path's
//!   reused buffers.
//! - [`ProxySigner`] signs any client's request (every header it carries, any query): the
//!   usual shapes as [`Signer`] does, the others with `aws-sigv4`; the gateway stand-in
//!   uses it to re-sign what it forwards.
//!
//! The tests check that both produce the same `authorization` for gatebench's requests.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::date_time::{DateTime, Format};
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderValue;
use http::header::{AUTHORIZATION, HOST};
use sha2::{Digest, Sha256};

use crate::shared::{S3Endpoint, Secret};

/// The payload hash gatebench sends: bodies are generated and streamed, never hashed.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The headers [`Signer`] signs, in canonical order.
const SIGNED_HEADERS: &str = "host;x-amz-content-sha256;x-amz-date";
const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// Signs gatebench's own requests with a signing key derived once per day.
pub struct Signer {
    access_key: String,
    secret_key: Secret,
    region: String,
    /// The current second's date header and the day's key.
    stamp: Mutex<Arc<Stamp>>,
}

/// What every request signed in one second shares.
struct Stamp {
    /// Seconds since the epoch this stamp is for.
    second: u64,
    /// `x-amz-date`: `YYYYMMDD'T'HHMMSS'Z'`.
    amz_date: HeaderValue,
    day: Arc<SigningDay>,
}

/// What every request signed in one UTC day shares.
struct SigningDay {
    /// `YYYYMMDD`.
    date: String,
    /// `YYYYMMDD/region/s3/aws4_request`.
    scope: String,
    /// HMAC-SHA256 keyed with the day's signing key, cloned for every signature.
    key: Hmac<Sha256>,
}

impl Signer {
    /// A signer for `endpoint`'s keys.
    pub fn new(endpoint: &S3Endpoint) -> Self {
        Signer {
            access_key: endpoint.access_key.clone(),
            secret_key: endpoint.secret_key.clone(),
            region: endpoint.region.clone(),
            stamp: Mutex::new(Arc::new(Stamp {
                second: u64::MAX,
                amz_date: HeaderValue::from_static(""),
                day: Arc::new(SigningDay {
                    date: String::new(),
                    scope: String::new(),
                    key: Hmac::new_from_slice(b"").expect("HMAC takes a key of any length"),
                }),
            })),
        }
    }

    /// Adds `x-amz-date`, `x-amz-content-sha256: UNSIGNED-PAYLOAD` and `authorization`,
    /// signing the method, the URI's path and query (already percent-encoded, as
    /// gatebench builds them) and the `host` header, which the request must carry.
    pub fn sign<B>(&self, req: &mut http::Request<B>) -> Result<(), String> {
        self.sign_at(req, SystemTime::now(), None)
    }

    /// [`sign`](Self::sign) with the body's hex SHA-256 as the payload hash (signed, and
    /// sent in `x-amz-content-sha256`), so the server checks the body against it.
    pub fn sign_with_payload_hash<B>(
        &self,
        req: &mut http::Request<B>,
        sha256_hex: &HeaderValue,
    ) -> Result<(), String> {
        self.sign_at(req, SystemTime::now(), Some(sha256_hex.as_bytes()))
    }

    /// Signs a request of `method` to `target` (origin form: path and query, already
    /// percent-encoded) for `host`, with `payload_hash` (hex SHA-256 of the body) or
    /// `UNSIGNED-PAYLOAD`: hands `x-amz-date`, `x-amz-content-sha256` and
    /// `authorization` to `header` as (name, value in parts). Nothing is allocated for a
    /// target without a query.
    pub fn sign_head(
        &self,
        method: &str,
        target: &str,
        host: &[u8],
        payload_hash: Option<&[u8]>,
        header: impl FnMut(&'static str, &[&[u8]]),
    ) -> Result<(), String> {
        self.sign_head_at(
            method,
            target,
            host,
            payload_hash,
            SystemTime::now(),
            header,
        )
    }

    fn sign_head_at(
        &self,
        method: &str,
        target: &str,
        host: &[u8],
        payload_hash: Option<&[u8]>,
        now: SystemTime,
        mut header: impl FnMut(&'static str, &[&[u8]]),
    ) -> Result<(), String> {
        let payload = payload_hash.unwrap_or(UNSIGNED_PAYLOAD.as_bytes());
        let stamp = self.stamp(now)?;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut canonical = Sha256::new();
        for part in [method.as_bytes(), b"\n", path.as_bytes(), b"\n"] {
            canonical.update(part);
        }
        canonical_query(query, |part| canonical.update(part.as_bytes()));
        for part in [
            b"\nhost:".as_slice(),
            host,
            b"\nx-amz-content-sha256:",
            payload,
            b"\nx-amz-date:",
            stamp.amz_date.as_bytes(),
            b"\n\nhost;x-amz-content-sha256;x-amz-date\n",
            payload,
        ] {
            canonical.update(part);
        }
        let signature = self.signature(&stamp, &canonical.finalize());
        header(X_AMZ_DATE, &[stamp.amz_date.as_bytes()]);
        header(X_AMZ_CONTENT_SHA256, &[payload]);
        header(
            AUTHORIZATION.as_str(),
            &self.authorization_parts(&stamp, SIGNED_HEADERS, &signature),
        );
        Ok(())
    }

    fn sign_at<B>(
        &self,
        req: &mut http::Request<B>,
        now: SystemTime,
        payload_hash: Option<&[u8]>,
    ) -> Result<(), String> {
        let host = req
            .headers()
            .get(HOST)
            .ok_or("request has no host header")?;
        let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let mut signed = Vec::with_capacity(3);
        self.sign_head_at(
            req.method().as_str(),
            target,
            host.as_bytes(),
            payload_hash,
            now,
            |name, parts| signed.push((name, HeaderValue::from_bytes(&parts.concat()))),
        )?;
        for (name, value) in signed {
            req.headers_mut()
                .insert(name, value.map_err(|e| e.to_string())?);
        }
        Ok(())
    }

    /// The hex signature of a canonical request whose SHA-256 is `canonical_sha256`.
    fn signature(&self, stamp: &Stamp, canonical_sha256: &[u8]) -> [u8; 64] {
        let mut canonical_hex = [0u8; 64];
        hex::encode_to_slice(canonical_sha256, &mut canonical_hex).expect("a SHA-256 is 32 bytes");
        let mut to_sign = stamp.day.key.clone();
        for part in [
            b"AWS4-HMAC-SHA256\n".as_slice(),
            stamp.amz_date.as_bytes(),
            b"\n",
            stamp.day.scope.as_bytes(),
            b"\n",
            &canonical_hex,
        ] {
            to_sign.update(part);
        }
        let mut signature = [0u8; 64];
        hex::encode_to_slice(to_sign.finalize().into_bytes(), &mut signature)
            .expect("an HMAC-SHA256 is 32 bytes");
        signature
    }

    /// The `authorization` header's value in parts, for `signature` over headers
    /// `signed_headers` (`;`-separated, sorted).
    fn authorization_parts<'a>(
        &'a self,
        stamp: &'a Stamp,
        signed_headers: &'a str,
        signature: &'a [u8; 64],
    ) -> [&'a [u8]; 8] {
        [
            b"AWS4-HMAC-SHA256 Credential=".as_slice(),
            self.access_key.as_bytes(),
            b"/",
            stamp.day.scope.as_bytes(),
            b", SignedHeaders=",
            signed_headers.as_bytes(),
            b", Signature=",
            signature,
        ]
    }

    /// The `authorization` header for a canonical request whose SHA-256 is
    /// `canonical_sha256`, signing `signed_headers` (`;`-separated, sorted).
    fn authorization(
        &self,
        stamp: &Stamp,
        canonical_sha256: &[u8],
        signed_headers: &str,
    ) -> Result<HeaderValue, String> {
        let signature = self.signature(stamp, canonical_sha256);
        HeaderValue::from_bytes(
            &self
                .authorization_parts(stamp, signed_headers, &signature)
                .concat(),
        )
        .map_err(|e| e.to_string())
    }

    /// The stamp for `now`'s second, made anew at most once a second (and its key at
    /// most once a day).
    fn stamp(&self, now: SystemTime) -> Result<Arc<Stamp>, String> {
        let second = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the clock is before 1970".to_string())?
            .as_secs();
        let mut current = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
        if current.second == second {
            return Ok(current.clone());
        }
        // RFC 3339 `2026-11-26T06:10:00Z` without its separators.
        let amz_date: String = DateTime::from_secs(second as i64)
            .fmt(Format::DateTime)
            .map_err(|e| e.to_string())?
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .collect();
        let date = &amz_date[..8];
        let day = if current.day.date == date {
            current.day.clone()
        } else {
            let key = v4::generate_signing_key(self.secret_key.expose(), now, &self.region, "s3");
            Arc::new(SigningDay {
                date: date.to_string(),
                scope: format!("{date}/{}/s3/aws4_request", self.region),
                key: Hmac::new_from_slice(key.as_ref()).map_err(|e| e.to_string())?,
            })
        };
        *current = Arc::new(Stamp {
            second,
            amz_date: HeaderValue::try_from(amz_date).map_err(|e| e.to_string())?,
            day,
        });
        Ok(current.clone())
    }
}

/// Feeds the canonical form of an already-encoded query to `out`: parameters sorted by
/// name then value, a bare name given an empty value (`uploads` → `uploads=`).
fn canonical_query(query: &str, mut out: impl FnMut(&str)) {
    if query.is_empty() {
        return;
    }
    let mut params: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    params.sort_unstable();
    for (i, (name, value)) in params.into_iter().enumerate() {
        if i > 0 {
            out("&");
        }
        out(name);
        out("=");
        out(value);
    }
}

/// Headers `aws-sigv4` never signs (its default `excluded_headers`).
const UNSIGNED_HEADERS: [&str; 4] = [
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "transfer-encoding",
];

/// Signs any client's request: every header it carries, any query. Requests whose
/// canonical form is their own text (the usual case: plain header values, a query of
/// unreserved characters and upper-case `%XX` escapes of ASCII) are signed like
/// [`Signer`] does, with the day's key and the second's date; any other request by
/// `aws-sigv4`. The tests check both give the same headers.
pub struct ProxySigner {
    fast: Signer,
    identity: Identity,
    region: String,
}

impl ProxySigner {
    /// A signer for `endpoint`'s keys.
    pub fn new(endpoint: &S3Endpoint) -> Self {
        ProxySigner {
            fast: Signer::new(endpoint),
            identity: endpoint.credentials().into(),
            region: endpoint.region.clone(),
        }
    }

    /// Adds `x-amz-date`, `x-amz-content-sha256` and `authorization`: the payload hash
    /// is `sha256_hex` when the client gave the body's SHA-256, else `UNSIGNED-PAYLOAD`.
    /// The request must already carry its `host` header.
    pub fn sign<B>(
        &self,
        req: &mut http::Request<B>,
        sha256_hex: Option<&str>,
    ) -> Result<(), String> {
        self.sign_at(req, SystemTime::now(), sha256_hex)
    }

    fn sign_at<B>(
        &self,
        req: &mut http::Request<B>,
        now: SystemTime,
        sha256_hex: Option<&str>,
    ) -> Result<(), String> {
        if !self.sign_plain_at(req, now, sha256_hex)? {
            self.sign_with_aws_sigv4_at(req, now, sha256_hex)?;
        }
        Ok(())
    }

    /// Signs `req` when its canonical form is its own text; `false` (nothing done) when
    /// it needs `aws-sigv4`'s canonicalization.
    fn sign_plain_at<B>(
        &self,
        req: &mut http::Request<B>,
        now: SystemTime,
        sha256_hex: Option<&str>,
    ) -> Result<bool, String> {
        let (path, query) = match req.uri().path_and_query() {
            Some(pq) => (pq.path(), pq.query().unwrap_or("")),
            None => ("/", ""),
        };
        if !query_is_canonical(query) || !req.headers().contains_key(HOST) {
            return Ok(false);
        }
        let mut signed: Vec<(&str, &[u8])> = Vec::with_capacity(req.headers().len() + 2);
        for (name, value) in req.headers() {
            let name = name.as_str();
            if name == X_AMZ_DATE || name == X_AMZ_CONTENT_SHA256 || !header_is_canonical(value) {
                return Ok(false);
            }
            if !UNSIGNED_HEADERS.contains(&name) {
                signed.push((name, value.as_bytes()));
            }
        }
        let stamp = self.fast.stamp(now)?;
        let payload = sha256_hex.unwrap_or(UNSIGNED_PAYLOAD);
        signed.push((X_AMZ_CONTENT_SHA256, payload.as_bytes()));
        signed.push((X_AMZ_DATE, stamp.amz_date.as_bytes()));
        // Stable: the values of one name keep their order, joined with `,`.
        signed.sort_by_key(|(name, _)| *name);

        let mut canonical = Sha256::new();
        for part in [req.method().as_str(), "\n", path, "\n"] {
            canonical.update(part.as_bytes());
        }
        canonical_query(query, |part| canonical.update(part.as_bytes()));
        canonical.update(b"\n");
        let mut names = String::with_capacity(16 * signed.len());
        for (i, (name, value)) in signed.iter().enumerate() {
            let same_name = i > 0 && signed[i - 1].0 == *name;
            if same_name {
                canonical.update(b",");
            } else {
                if i > 0 {
                    canonical.update(b"\n");
                    names.push(';');
                }
                canonical.update(name.as_bytes());
                canonical.update(b":");
                names.push_str(name);
            }
            canonical.update(value);
        }
        for part in ["\n\n", &names, "\n", payload] {
            canonical.update(part.as_bytes());
        }
        let authorization = self
            .fast
            .authorization(&stamp, &canonical.finalize(), &names)?;
        let payload = HeaderValue::try_from(payload).map_err(|e| e.to_string())?;
        let headers = req.headers_mut();
        headers.insert(X_AMZ_DATE, stamp.amz_date.clone());
        headers.insert(X_AMZ_CONTENT_SHA256, payload);
        headers.insert(AUTHORIZATION, authorization);
        Ok(true)
    }

    fn sign_with_aws_sigv4_at<B>(
        &self,
        req: &mut http::Request<B>,
        now: SystemTime,
        sha256_hex: Option<&str>,
    ) -> Result<(), String> {
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let headers = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let uri = req.uri().to_string();
        let signable = SignableRequest::new(
            req.method().as_str(),
            uri,
            headers,
            match sha256_hex {
                Some(hash) => SignableBody::Precomputed(hash.to_string()),
                None => SignableBody::UnsignedPayload,
            },
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }
}

/// Whether `aws-sigv4` would sign `query` as [`canonical_query`] writes it: made of
/// unreserved characters, `&`, at most one `=` per parameter and upper-case `%XX` escapes
/// of ASCII characters that are not unreserved (decoding and encoding again, as
/// `aws-sigv4` does, gives the same text).
fn query_is_canonical(query: &str) -> bool {
    let b = query.as_bytes();
    let (mut i, mut equals) = (0, false);
    while i < b.len() {
        match b[i] {
            c if is_unreserved(c) => i += 1,
            b'&' => (i, equals) = (i + 1, false),
            b'=' if !equals => (i, equals) = (i + 1, true),
            b'%' => {
                let hex = |c: u8| matches!(c, b'0'..=b'9' | b'A'..=b'F');
                let Some(&[hi, lo]) = b.get(i + 1..i + 3) else {
                    return false;
                };
                // Two upper-case hex digits; below 0x80 (ASCII) and not unreserved.
                if !hex(hi) || !hex(lo) || hi > b'7' {
                    return false;
                }
                let byte = u8::from_str_radix(&query[i + 1..i + 3], 16).unwrap_or(b'a');
                if is_unreserved(byte) {
                    return false;
                }
                i += 3;
            }
            _ => return false,
        }
    }
    true
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// Whether `aws-sigv4` signs `value` as it is: visible ASCII and single inner spaces.
fn header_is_canonical(value: &HeaderValue) -> bool {
    let b = value.as_bytes();
    b.first() != Some(&b' ')
        && b.last() != Some(&b' ')
        && b.iter().all(|c| (b' '..=b'~').contains(c))
        && !b.windows(2).any(|w| w == b"  ")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn endpoint() -> S3Endpoint {
        S3Endpoint {
            endpoint: "http://127.0.0.1:7480".into(),
            access_key: "AKIDEXAMPLE".into(),
            secret_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            tls: Default::default(),
            region: "eu-west-1".into(),
        }
    }

    fn request(method: &str, path_and_query: &str) -> http::Request<()> {
        http::Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:7480{path_and_query}"))
            .header(HOST, "127.0.0.1:7480")
            .body(())
            .unwrap()
    }

    /// SHA-256 of "hello".
    const BODY_SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    /// Every request shape gatebench sends, signed by both signers at the same instant
    /// (on both sides of a day boundary), carries the same headers.
    #[test]
    fn the_load_signer_agrees_with_aws_sigv4() {
        let endpoint = endpoint();
        let (fast, reference) = (Signer::new(&endpoint), ProxySigner::new(&endpoint));
        let midnight = UNIX_EPOCH + Duration::from_secs(1_795_651_200); // 2026-11-26T00:00:00Z
        let shapes = [
            ("GET", "/bench/gatebench/run-1/s/00000042"),
            ("PUT", "/bench/gatebench/run-1/w/0000000007"),
            ("HEAD", "/b/k"),
            ("DELETE", "/b/gatebench/run-1/w/0000000001"),
            (
                "GET",
                "/bench?list-type=2&max-keys=100&prefix=gatebench%2Frun-1%2Fs%2F",
            ),
            ("GET", "/bench?prefix=a%20b&list-type=2&max-keys=5"),
            ("POST", "/b/k?uploads"),
            ("PUT", "/b/k?uploadId=2~abc&partNumber=3"),
        ];
        for at in [
            midnight - Duration::from_millis(1),
            midnight,
            midnight + Duration::from_secs(3601),
        ] {
            for (method, pq) in shapes {
                let (mut a, mut b) = (request(method, pq), request(method, pq));
                fast.sign_at(&mut a, at, None).unwrap();
                reference.sign_with_aws_sigv4_at(&mut b, at, None).unwrap();
                let (mut signed_a, mut signed_b) = (request(method, pq), request(method, pq));
                fast.sign_at(&mut signed_a, at, Some(BODY_SHA256.as_bytes()))
                    .unwrap();
                reference
                    .sign_with_aws_sigv4_at(&mut signed_b, at, Some(BODY_SHA256))
                    .unwrap();
                assert_eq!(signed_a.headers()[X_AMZ_CONTENT_SHA256], BODY_SHA256);
                assert_ne!(
                    signed_a.headers()[AUTHORIZATION],
                    a.headers()[AUTHORIZATION]
                );
                assert!(a.headers().contains_key(AUTHORIZATION));
                for h in [AUTHORIZATION.as_str(), X_AMZ_DATE, X_AMZ_CONTENT_SHA256] {
                    assert_eq!(
                        a.headers().get(h),
                        b.headers().get(h),
                        "{h} of {method} {pq} at {at:?}"
                    );
                    assert_eq!(
                        signed_a.headers().get(h),
                        signed_b.headers().get(h),
                        "{h} of {method} {pq} with a payload hash at {at:?}"
                    );
                }
            }
        }
    }

    /// What the gateway forwards, signed by `ProxySigner` and by `aws-sigv4` alone at the
    /// same instant, carries the same headers; the plain path signs the usual shapes and
    /// leaves the others to `aws-sigv4`.
    #[test]
    fn the_proxy_signer_agrees_with_aws_sigv4() {
        let signer = ProxySigner::new(&endpoint());
        let at = UNIX_EPOCH + Duration::from_secs(1_795_651_200 - 1);
        let plain_headers: &[(&str, &str)] = &[
            ("content-length", "4096"),
            ("content-type", "application/octet-stream"),
            ("x-amz-meta-owner", "gatebench run-1"),
            ("range", "bytes=0-99"),
            ("x-amz-checksum-crc32c", "yZRlqg=="),
            ("user-agent", "gatebench/0.1"),
            ("x-amzn-trace-id", "Root=1-2-3"),
            ("accept", "*/*"),
            ("x-amz-meta-list", "a"),
            ("x-amz-meta-list", "b"),
            ("x-amz-meta-list", "c d"),
            ("if-none-match", "\"etag\""),
            ("transfer-encoding", "chunked"),
        ];
        let queries = [
            "",
            "?list-type=2&max-keys=100&prefix=gatebench%2Frun-1%2Fs%2F",
            "?uploads",
            "?uploadId=2~abc&partNumber=3",
            "?b=2&a=1&a=0&=x&&c",
            "?prefix=a%20b%3Dc",
        ];
        let odd_queries = [
            "?prefix=a+b",
            "?prefix=a%2fb",
            "?prefix=%41",
            "?prefix=caf%C3%A9",
            "?prefix=a=b",
            "?prefix=%zz",
            "?prefix=a%2",
            "?p=a,b",
        ];
        let odd_headers = [" leading", "trailing ", "two  spaces", "tab\there"];
        let request = |method: &str, pq: &str, headers: &[(&str, &str)]| {
            let mut b = http::Request::builder()
                .method(method)
                .uri(format!("http://127.0.0.1:7480/bucket/k%20ey{pq}"))
                .header(HOST, "127.0.0.1:7480");
            for (name, value) in headers {
                b = b.header(*name, HeaderValue::from_bytes(value.as_bytes()).unwrap());
            }
            b.body(()).unwrap()
        };
        let check = |req: http::Request<()>, hash: Option<&str>, plain: bool| {
            let (mut ours, mut theirs) = (req.clone(), req);
            assert_eq!(
                signer.sign_plain_at(&mut ours.clone(), at, hash).unwrap(),
                plain,
                "{} {:?}",
                ours.uri(),
                ours.headers()
            );
            signer.sign_at(&mut ours, at, hash).unwrap();
            signer
                .sign_with_aws_sigv4_at(&mut theirs, at, hash)
                .unwrap();
            assert_eq!(ours.headers(), theirs.headers(), "{}", ours.uri());
        };
        for method in ["GET", "PUT", "HEAD", "POST", "DELETE"] {
            for q in queries {
                for hash in [None, Some(BODY_SHA256)] {
                    check(request(method, q, &[]), hash, true);
                    check(request(method, q, plain_headers), hash, true);
                }
            }
        }
        for q in odd_queries {
            check(request("GET", q, plain_headers), None, false);
        }
        for value in odd_headers {
            check(
                request("PUT", "", &[("x-amz-meta-odd", value)]),
                None,
                false,
            );
        }
    }

    #[test]
    fn the_signing_day_is_kept_within_a_day_and_renewed_after_it() {
        let signer = Signer::new(&endpoint());
        let t = UNIX_EPOCH + Duration::from_secs(1_795_651_200);
        let day = |at| signer.stamp(at).unwrap().day.clone();
        let first = day(t);
        assert!(Arc::ptr_eq(&first, &day(t + Duration::from_secs(86_399))));
        assert!(!Arc::ptr_eq(&first, &day(t + Duration::from_secs(86_400))));
        assert_eq!(signer.stamp(t).unwrap().amz_date, "20261126T000000Z");
    }
}
