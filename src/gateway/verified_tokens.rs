//! The tokens one `validate-jwt` has accepted, so a token sent again is not verified
//! again (an RSA signature check costs tens of µs, more than the rest of the request).
//!
//! Owns what a remembered acceptance is worth: it is keyed by the exact token string,
//! holds only tokens that passed every check, still expires with the token's `exp`
//! (plus the policy's clock skew) against the clock at each request, and is forgotten
//! when the policy's signing keys or issuers change (`forget_all`), so a token signed by
//! a removed key is verified again and refused. It never decides whether a token is
//! valid; `jwt` does, once per token and key set.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many accepted tokens are remembered per policy; when full, expired ones are
/// dropped, and all of them if none had expired.
pub const MAX_REMEMBERED: usize = 4096;

/// Accepted tokens of one policy and the key set generation they were accepted under.
#[derive(Default)]
pub struct VerifiedTokens {
    /// Bumped by `forget_all`; an acceptance made under another generation is ignored.
    generation: AtomicU64,
    /// Token → when and until when it was accepted.
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
    /// Accepted under the current keys and not expired.
    Valid,
    /// Accepted under the current keys, but its `exp` has passed.
    Expired,
    /// Not accepted under the current keys (never seen, refused, or keys changed).
    Unknown,
}

impl VerifiedTokens {
    /// The current key set generation: read it before verifying, pass it to `remember`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// What is known of `token` at `now` (seconds since the epoch) with `skew` seconds
    /// of leeway, as `jsonwebtoken` counts it: expired once `exp + skew < now`.
    pub fn lookup(&self, token: &str, now: u64, skew: u64) -> Remembered {
        let generation = self.generation();
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

    /// Remembers `token` as accepted under `generation` until `exp` (seconds since the
    /// epoch; `None`: the token has none).
    pub fn remember(&self, token: &str, generation: u64, exp: Option<u64>, now: u64, skew: u64) {
        if generation != self.generation() {
            return;
        }
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

    /// Forgets every acceptance: the keys or issuers they were checked against changed.
    pub fn forget_all(&self) {
        let mut accepted = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        accepted.clear();
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
        let g = v.generation();
        v.remember("t", g, Some(100), 50, 5);
        assert_eq!(v.lookup("t", 100, 5), Remembered::Valid);
        assert_eq!(v.lookup("t", 105, 5), Remembered::Valid);
        assert_eq!(v.lookup("t", 106, 5), Remembered::Expired);
        assert_eq!(v.lookup("other", 50, 5), Remembered::Unknown);
        v.remember("forever", g, None, 50, 0);
        assert_eq!(v.lookup("forever", u64::MAX, 0), Remembered::Valid);
    }

    #[test]
    fn a_key_change_forgets_acceptances_even_those_made_while_it_happened() {
        let v = VerifiedTokens::default();
        let before = v.generation();
        v.remember("t", before, Some(1000), 0, 0);
        v.forget_all();
        assert_eq!(v.lookup("t", 1, 0), Remembered::Unknown);
        // A verification that started under the old keys finishes after the change.
        v.remember("late", before, Some(1000), 0, 0);
        assert_eq!(v.lookup("late", 1, 0), Remembered::Unknown);
        assert_eq!(v.len(), 0);
    }

    #[test]
    fn the_cache_stays_bounded_dropping_expired_tokens_first() {
        let v = VerifiedTokens::default();
        let g = v.generation();
        v.remember("long-lived", g, Some(10_000), 0, 0);
        for i in 1..MAX_REMEMBERED {
            v.remember(&format!("short-{i}"), g, Some(10), 0, 0);
        }
        assert_eq!(v.len(), MAX_REMEMBERED);
        v.remember("new", g, Some(10_000), 20, 0);
        assert_eq!(v.len(), 2, "only the unexpired tokens stay");
        assert_eq!(v.lookup("long-lived", 20, 0), Remembered::Valid);
        for i in 0..MAX_REMEMBERED {
            v.remember(&format!("live-{i}"), g, Some(10_000), 20, 0);
        }
        assert!(v.len() <= MAX_REMEMBERED);
    }
}
