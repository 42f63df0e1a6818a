//! The tokens one `validate-jwt` has accepted, so a token sent again is not verified
//! again (an RSA signature check costs tens of µs, more than the rest of the request).
//!
//! Owns what a remembered acceptance is worth: it is keyed by the exact token string,
//! holds only tokens that passed every check, still expires with the token's `exp`
//! (plus the policy's clock skew) against the clock at each request, and is trusted only
//! under the key generation it was made under (the policy's `openid-config` keys count
//! their replacements), so after a key change a token signed by a removed key is
//! verified again and refused. It never decides whether a token is valid; `jwt` does,
//! once per token and key set.

use std::collections::HashMap;
use std::sync::Mutex;

/// How many accepted tokens are remembered per policy; when full, expired ones are
/// dropped, and all of them if none had expired.
pub const MAX_REMEMBERED: usize = 4096;

/// Accepted tokens of one policy and the key set generation they were accepted under.
#[derive(Default)]
pub struct VerifiedTokens {
    /// Token → under which keys and until when it was accepted.
    accepted: Mutex<HashMap<Box<str>, Acceptance>>,
}

/// One remembered token.
struct Acceptance {
    /// The key set generation it was accepted under.
    generation: u64,
    /// Its `exp`, seconds since the epoch (`None`: it has none).
    exp: Option<u64>,
}

/// What the cache knows about a token now.
#[derive(Debug, PartialEq, Eq)]
pub enum Remembered {
    /// Accepted under the given keys and not expired.
    Valid,
    /// Accepted under the given keys, but its `exp` has passed.
    Expired,
    /// Not accepted under the given keys (never seen, refused, or keys changed).
    Unknown,
}

impl VerifiedTokens {
    /// What is known of `token` under the key set `generation` at `now` (seconds since
    /// the epoch) with `skew` seconds of leeway, as `jsonwebtoken` counts it: expired
    /// once `exp + skew < now`.
    pub fn lookup(&self, token: &str, generation: u64, now: u64, skew: u64) -> Remembered {
        let accepted = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        match accepted.get(token) {
            Some(a) if a.generation != generation => Remembered::Unknown,
            Some(a) if a.exp.is_some_and(|exp| exp.saturating_add(skew) < now) => {
                Remembered::Expired
            }
            Some(_) => Remembered::Valid,
            None => Remembered::Unknown,
        }
    }

    /// Remembers `token` as accepted under the key set `generation` (read before the
    /// keys it was verified with) until `exp` (seconds since the epoch; `None`: the token
    /// has none). When full, acceptances under other generations or expired go first.
    pub fn remember(&self, token: &str, generation: u64, exp: Option<u64>, now: u64, skew: u64) {
        let mut accepted = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        if accepted.len() >= MAX_REMEMBERED && !accepted.contains_key(token) {
            accepted.retain(|_, a| {
                a.generation == generation
                    && a.exp.is_none_or(|exp| exp.saturating_add(skew) >= now)
            });
            if accepted.len() >= MAX_REMEMBERED {
                accepted.clear();
            }
        }
        accepted.insert(token.into(), Acceptance { generation, exp });
    }

    /// How many tokens are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acceptance_expires_with_the_token_and_its_skew() {
        let v = VerifiedTokens::default();
        v.remember("t", 0, Some(100), 50, 5);
        assert_eq!(v.lookup("t", 0, 100, 5), Remembered::Valid);
        assert_eq!(v.lookup("t", 0, 105, 5), Remembered::Valid);
        assert_eq!(v.lookup("t", 0, 106, 5), Remembered::Expired);
        assert_eq!(v.lookup("other", 0, 50, 5), Remembered::Unknown);
        v.remember("forever", 0, None, 50, 0);
        assert_eq!(v.lookup("forever", 0, u64::MAX, 0), Remembered::Valid);
    }

    #[test]
    fn an_acceptance_counts_only_under_the_keys_it_was_made_under() {
        let v = VerifiedTokens::default();
        v.remember("t", 3, Some(1000), 0, 0);
        assert_eq!(v.lookup("t", 3, 1, 0), Remembered::Valid);
        // The keys were replaced (generation 4), also while the check ran.
        assert_eq!(v.lookup("t", 4, 1, 0), Remembered::Unknown);
        v.remember("late", 3, Some(1000), 0, 0);
        assert_eq!(v.lookup("late", 4, 1, 0), Remembered::Unknown);
    }

    #[test]
    fn the_cache_stays_bounded_dropping_expired_tokens_first() {
        let v = VerifiedTokens::default();
        let g = 0;
        v.remember("long-lived", g, Some(10_000), 0, 0);
        v.remember("old-keys", g + 1, Some(10_000), 0, 0);
        for i in 2..MAX_REMEMBERED {
            v.remember(&format!("short-{i}"), g, Some(10), 0, 0);
        }
        assert_eq!(v.len(), MAX_REMEMBERED);
        v.remember("new", g, Some(10_000), 20, 0);
        assert_eq!(v.len(), 2, "only the unexpired tokens of these keys stay");
        assert_eq!(v.lookup("long-lived", g, 20, 0), Remembered::Valid);
        for i in 0..MAX_REMEMBERED {
            v.remember(&format!("live-{i}"), g, Some(10_000), 20, 0);
        }
        assert!(v.len() <= MAX_REMEMBERED);
    }
}
