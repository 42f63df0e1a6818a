//! Reads a response's standard `Server-Timing` header (W3C Server Timing:
//! `name;dur=1.5;desc="x", other;dur=2`, durations in milliseconds) into the components
//! gatebench records: `gateway`, `backend` and `cache`.
//!
//! Runs on every response, so it does not allocate, and it never panics: whatever a
//! server sends, a malformed entry is skipped. Unknown names are ignored; several header
//! lines are read as one list; a name seen twice keeps its first duration.

use std::time::Duration;

use http::{HeaderMap, HeaderName};

use crate::record::ServerTiming;

/// The `Server-Timing` response header.
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The components named in every `Server-Timing` line of `headers`.
pub fn server_timing(headers: &HeaderMap) -> ServerTiming {
    let mut timing = ServerTiming::default();
    for line in headers.get_all(SERVER_TIMING) {
        // A line that is not visible ASCII (or UTF-8) is skipped whole.
        if let Ok(text) = std::str::from_utf8(line.as_bytes()) {
            read_line(text, &mut timing);
        }
    }
    timing
}

/// Adds the entries of one header line to `timing`.
fn read_line(line: &str, timing: &mut ServerTiming) {
    for entry in entries(line) {
        let mut params = entry.split(';');
        let name = params.next().unwrap_or("").trim();
        let slot = if name.eq_ignore_ascii_case("gateway") {
            &mut timing.gateway
        } else if name.eq_ignore_ascii_case("backend") {
            &mut timing.backend
        } else if name.eq_ignore_ascii_case("cache") {
            &mut timing.cache
        } else {
            continue;
        };
        if slot.is_some() {
            continue;
        }
        *slot = params.find_map(duration_param);
    }
}

/// The comma-separated entries of `line`; commas inside quoted strings do not separate.
fn entries(line: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let text = rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (i, b) in text.bytes().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    rest = Some(&text[i + 1..]);
                    return Some(&text[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(text)
    })
}

/// The duration of a `dur=<milliseconds>` parameter (optionally quoted); `None` for any
/// other parameter or a value that is not a finite, non-negative number.
fn duration_param(param: &str) -> Option<Duration> {
    let (key, value) = param.split_once('=')?;
    if !key.trim().eq_ignore_ascii_case("dur") {
        return None;
    }
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    let ms: f64 = value.parse().ok()?;
    if !ms.is_finite() || ms < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(ms / 1000.0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn parse(lines: &[&[u8]]) -> ServerTiming {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append(SERVER_TIMING, HeaderValue::from_bytes(line).unwrap());
        }
        server_timing(&h)
    }

    fn us(n: u64) -> Option<Duration> {
        Some(Duration::from_micros(n))
    }

    #[test]
    fn named_components_are_read_and_others_ignored() {
        let t = parse(&[
            b"db;dur=53, gateway;dur=1.5;desc=\"apim, west\", backend;desc=x;dur=20.25, app",
        ]);
        assert_eq!(t.gateway, us(1500));
        assert_eq!(t.backend, us(20250));
        assert_eq!(t.cache, None);
    }

    #[test]
    fn several_lines_combine_and_the_first_duration_of_a_name_wins() {
        let t = parse(&[
            b"gateway;dur=2",
            b"cache;dur=\"0.125\"",
            b"gateway;dur=9, BACKEND ; DUR = 3",
        ]);
        assert_eq!(t.gateway, us(2000));
        assert_eq!(t.cache, us(125));
        assert_eq!(t.backend, us(3000));
        assert!(parse(&[]).is_empty());
    }

    #[test]
    fn bad_durations_are_skipped() {
        for bad in [
            &b"gateway;dur=-1"[..],
            b"gateway;dur=NaN",
            b"gateway;dur=inf",
            b"gateway;dur=1e300",
            b"gateway;dur=",
            b"gateway;dur",
            b"gateway",
            b"gateway;desc=\"dur=3\"",
            b";dur=3",
            b"gateway\xff;dur=3",
        ] {
            let t = parse(&[bad]);
            assert!(t.is_empty(), "{:?}: {t:?}", String::from_utf8_lossy(bad));
        }
        // A bad entry does not spoil the others.
        let t = parse(&[b"gateway;dur=x, backend;dur=4"]);
        assert_eq!((t.gateway, t.backend), (None, us(4000)));
    }

    #[test]
    fn no_input_panics() {
        // Every header-valid byte string over a small hostile alphabet, up to 6 bytes,
        // plus long runs of quotes, escapes and separators.
        let alphabet: &[u8] = b"gatewy;dur=1.,\"\\ \t-e\x80";
        let mut line = Vec::new();
        let mut n = 0u64;
        fn walk(line: &mut Vec<u8>, alphabet: &[u8], depth: usize, n: &mut u64) {
            if let Ok(v) = HeaderValue::from_bytes(line) {
                let mut h = HeaderMap::new();
                h.append(SERVER_TIMING, v);
                let _ = server_timing(&h);
                *n += 1;
            }
            if depth == 0 {
                return;
            }
            for b in alphabet {
                line.push(*b);
                walk(line, alphabet, depth - 1, n);
                line.pop();
            }
        }
        walk(&mut line, alphabet, 4, &mut n);
        assert!(n > 50_000, "{n} inputs tried");
        for long in [
            "\"".repeat(10_000),
            "\\".repeat(10_000),
            "gateway;dur=1,".repeat(2_000),
            ";=,".repeat(5_000),
        ] {
            let _ = parse(&[long.as_bytes()]);
        }
    }
}
