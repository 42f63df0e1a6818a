//! What happened to one request: its outcome class and, for failures, the kind.
//!
//! The classes are the same everywhere in gatebench (ARCHITECTURE.md, "Outcome classes").

use serde::{Deserialize, Serialize};

/// The outcome classes every report groups requests by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeClass {
    /// 2xx or 3xx.
    Ok,
    /// 4xx other than the classes below (e.g. 404).
    ClientError,
    /// 401, or 403 that is not a quota refusal.
    AuthFailure,
    /// 429, or 503 `SlowDown`.
    Throttled,
    /// 403 "Out of call volume quota".
    Quota,
    /// Any other 5xx.
    ServerError,
    /// No HTTP answer: connect failure, reset, timeout.
    Transport,
}

impl OutcomeClass {
    /// The snake_case name used in files.
    pub fn name(self) -> &'static str {
        match self {
            OutcomeClass::Ok => "ok",
            OutcomeClass::ClientError => "client_error",
            OutcomeClass::AuthFailure => "auth_failure",
            OutcomeClass::Throttled => "throttled",
            OutcomeClass::Quota => "quota",
            OutcomeClass::ServerError => "server_error",
            OutcomeClass::Transport => "transport",
        }
    }

    /// Classifies an HTTP answer from its status and the start of its body.
    pub fn of_status(status: u16, body_start: &[u8]) -> OutcomeClass {
        let body_has = |needle: &str| {
            body_start
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
        };
        match status {
            200..=399 => OutcomeClass::Ok,
            429 => OutcomeClass::Throttled,
            403 if body_has("out of call volume quota") => OutcomeClass::Quota,
            401 | 403 => OutcomeClass::AuthFailure,
            400..=499 => OutcomeClass::ClientError,
            503 if body_has("slowdown") => OutcomeClass::Throttled,
            _ => OutcomeClass::ServerError,
        }
    }
}

/// What a cache did for a response, by the target's cache rule (e.g. `X-Cache: HIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheClass {
    /// Served from the cache.
    Hit,
    /// Cacheable but fetched from the backend.
    Miss,
    /// Not a cacheable response (not a GET, not 200, or no cache header at all).
    Uncacheable,
    /// The target has no cache rule.
    None,
}

impl CacheClass {
    /// The snake_case name used in files.
    pub fn name(self) -> &'static str {
        match self {
            CacheClass::Hit => "hit",
            CacheClass::Miss => "miss",
            CacheClass::Uncacheable => "uncacheable",
            CacheClass::None => "none",
        }
    }
}

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportError {
    /// The connection could not be made (refused, unreachable).
    Connect,
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection broke while sending or receiving.
    Reset,
    /// The TLS handshake failed, or TLS refused the connection after it (e.g. a
    /// required client certificate was missing).
    Tls,
}

impl TransportError {
    /// The snake_case name used in files.
    pub fn name(self) -> &'static str {
        match self {
            TransportError::Connect => "connect",
            TransportError::Timeout => "timeout",
            TransportError::Reset => "reset",
            TransportError::Tls => "tls",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OutcomeClass::*;
    use super::*;

    #[test]
    fn statuses_map_to_classes() {
        assert_eq!(OutcomeClass::of_status(200, b""), Ok);
        assert_eq!(OutcomeClass::of_status(304, b""), Ok);
        assert_eq!(
            OutcomeClass::of_status(404, b"<Code>NoSuchKey</Code>"),
            ClientError
        );
        assert_eq!(OutcomeClass::of_status(401, b""), AuthFailure);
        assert_eq!(
            OutcomeClass::of_status(403, b"<Code>AccessDenied</Code>"),
            AuthFailure
        );
        assert_eq!(
            OutcomeClass::of_status(403, br#"{"statusCode":403,"message":"Out of call volume quota. Quota will be replenished in 00:00:10."}"#),
            Quota
        );
        assert_eq!(OutcomeClass::of_status(429, b""), Throttled);
        assert_eq!(
            OutcomeClass::of_status(503, b"<Error><Code>SlowDown</Code>"),
            Throttled
        );
        assert_eq!(OutcomeClass::of_status(503, b"unavailable"), ServerError);
        assert_eq!(OutcomeClass::of_status(500, b""), ServerError);
    }
}
