//! A request's head as HTTP/1.1 sends it: method, origin-form target and header lines,
//! built into a worker's reused buffers. The HTTP/1.1 path writes these bytes as they
//! are (no `http::Request`, no header map per request: issue #17); HTTP/2 and the tests
//! turn the head into an `http::Request`.

use http::uri::{Authority, Scheme};
use http::{HeaderName, HeaderValue, Method, Request, Uri};

/// A request's method, target and header lines.
#[derive(Debug, Default)]
pub struct RequestHead {
    method: Method,
    /// Origin form, percent-encoded: `/bucket/key?query`.
    target: String,
    /// `name: value\r\n` lines, names in lower case, in the order added.
    lines: Vec<u8>,
}

/// The header lines of a [`RequestHead`] being built.
pub struct HeaderLines<'a>(&'a mut Vec<u8>);

impl HeaderLines<'_> {
    /// Adds header `name` (lower case) whose value is `parts` joined. Values come from
    /// header values or from gatebench's own ASCII, never from raw input.
    pub fn add(&mut self, name: &str, parts: &[&[u8]]) {
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b": ");
        for part in parts {
            self.0.extend_from_slice(part);
        }
        self.0.extend_from_slice(b"\r\n");
    }
}

impl RequestHead {
    /// Starts a request of `method` to `target` (origin form), keeping the buffers.
    /// Refuses a target that is not visible ASCII starting with `/` (a space or a line
    /// break would end the request line early).
    pub fn start(&mut self, method: Method, target: &[&str]) -> Result<(), String> {
        self.method = method;
        self.target.clear();
        for part in target {
            self.target.push_str(part);
        }
        self.lines.clear();
        match self.target.starts_with('/') && self.target.bytes().all(|b| b.is_ascii_graphic()) {
            true => Ok(()),
            false => Err(format!("not a request target: {:?}", self.target)),
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Adds a header (see [`HeaderLines::add`]).
    pub fn header(&mut self, name: &str, parts: &[&[u8]]) {
        self.target_and_headers().1.add(name, parts);
    }

    /// The target, beside the header lines to add to (to sign the one into the other).
    pub fn target_and_headers(&mut self) -> (&str, HeaderLines<'_>) {
        (&self.target, HeaderLines(&mut self.lines))
    }

    /// The headers added, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.lines
            .split(|b| *b == b'\n')
            .filter_map(|line| line.strip_suffix(b"\r"))
            .filter_map(|line| {
                let colon = line.iter().position(|b| *b == b':')?;
                let name = std::str::from_utf8(&line[..colon]).ok()?;
                Some((
                    name,
                    line[colon + 1..].strip_prefix(b" ").unwrap_or_default(),
                ))
            })
    }

    /// The first value of header `name`, if added.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.headers().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Appends the request line, the header lines and the empty line to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        out.extend_from_slice(&self.lines);
        out.extend_from_slice(b"\r\n");
    }

    /// The same request as an `http::Request` with `body`: origin form, or with
    /// `scheme` the absolute form HTTP/2 needs, its `host` moved into the URI (sent as
    /// `:authority`).
    pub fn to_request<B>(&self, body: B, scheme: Option<&Scheme>) -> Result<Request<B>, String> {
        let mut builder = Request::builder().method(self.method.clone());
        for (name, value) in self.headers() {
            if scheme.is_some() && name == "host" {
                continue;
            }
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
            let value = HeaderValue::from_bytes(value).map_err(|e| e.to_string())?;
            builder = builder.header(name, value);
        }
        let uri = match scheme {
            None => Uri::try_from(self.target.as_str()).map_err(|e| e.to_string())?,
            Some(scheme) => {
                let host = self.get("host").ok_or("a request without a host header")?;
                Uri::builder()
                    .scheme(scheme.clone())
                    .authority(Authority::try_from(host).map_err(|e| e.to_string())?)
                    .path_and_query(self.target.as_str())
                    .build()
                    .map_err(|e| e.to_string())?
            }
        };
        builder.uri(uri).body(body).map_err(|e| e.to_string())
    }
}

/// `n` in decimal digits, written into `digits` (no formatting machinery: this runs per
/// request).
pub fn decimal(n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut start = digits.len();
    let mut n = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_is_written_as_http_1_1_and_read_back_by_httparse() {
        let mut head = RequestHead::default();
        head.start(Method::PUT, &["/api", "/b/k?partNumber=2&uploadId=x"])
            .unwrap();
        head.header("host", &[b"127.0.0.1:8080"]);
        head.header("content-length", &[decimal(4096, &mut [0; 20])]);
        head.header("range", &[b"bytes=", b"0", b"-", b"99"]);
        let mut out = Vec::new();
        head.write_to(&mut out);
        let mut lines = [httparse::EMPTY_HEADER; 8];
        let mut parsed = httparse::Request::new(&mut lines);
        assert_eq!(
            parsed.parse(&out).unwrap(),
            httparse::Status::Complete(out.len())
        );
        assert_eq!(parsed.method, Some("PUT"));
        assert_eq!(parsed.path, Some("/api/b/k?partNumber=2&uploadId=x"));
        let read: Vec<(&str, &[u8])> = parsed.headers.iter().map(|h| (h.name, h.value)).collect();
        let added: Vec<(&str, &[u8])> = head.headers().collect();
        assert_eq!(read, added);
        assert_eq!(head.get("range"), Some(&b"bytes=0-99"[..]));
        assert_eq!(head.get("content-length"), Some(&b"4096"[..]));
        assert_eq!(head.get("authorization"), None);

        let origin = head.to_request((), None).unwrap();
        assert_eq!(origin.uri(), "/api/b/k?partNumber=2&uploadId=x");
        assert_eq!(origin.headers()["host"], "127.0.0.1:8080");
        let absolute = head.to_request((), Some(&Scheme::HTTPS)).unwrap();
        assert_eq!(
            absolute.uri(),
            "https://127.0.0.1:8080/api/b/k?partNumber=2&uploadId=x"
        );
        assert!(!absolute.headers().contains_key("host"));
        assert_eq!(absolute.headers()["content-length"], "4096");

        // Starting again keeps nothing of the last request.
        head.start(Method::GET, &["/b/k"]).unwrap();
        assert_eq!(head.headers().count(), 0);
        assert_eq!(head.target_and_headers().0, "/b/k");
    }

    #[test]
    fn a_target_that_would_break_the_request_line_is_refused() {
        let mut head = RequestHead::default();
        for bad in ["/a b", "/a\r\nx: y", "a", "", "/é"] {
            assert!(head.start(Method::GET, &[bad]).is_err(), "{bad:?}");
        }
        assert!(head.start(Method::GET, &["/b/k%20x?list-type=2"]).is_ok());
    }

    #[test]
    fn decimals_match_the_formatter() {
        for n in [0, 7, 10, 99, 4096, 1_000_000_007, u64::MAX] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string().as_bytes());
        }
    }
}
