//! The signing keys and issuer an `openid-config` URL publishes, one copy per URL for
//! all `validate-jwt` policies of a gateway that name it.
//!
//! Owns fetching the discovery document and its JWKS, replacing what is known in one
//! step (keys and issuer together), counting the replacements (`generation`, so
//! remembered acceptances made under older keys are not trusted) and the least time
//! between two fetches for an unknown `kid`. Because the policies share one copy, a
//! fetch is made and rate-limited once, and no policy knows a key another does not.
//! Whether a token is valid is `jwt`'s to decide.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;

use super::jwt::{OpenIdClient, VerifyKey};

/// What one fetch of an `openid-config` found.
#[derive(Default)]
pub struct Published {
    pub keys: Vec<VerifyKey>,
    /// The discovery document's `issuer`.
    pub issuer: Option<String>,
}

/// The keys of one `openid-config` URL, shared by the policies naming it.
pub struct OpenIdKeys {
    pub url: String,
    /// Least time between two fetches for an unknown `kid`.
    pub refetch_floor: Duration,
    current: RwLock<Arc<Published>>,
    /// Bumped after each replacement of `current`.
    generation: AtomicU64,
    /// When the last fetch started.
    fetched_at: Mutex<Option<Instant>>,
}

impl OpenIdKeys {
    /// Nothing known yet of `url`.
    pub fn new(url: String, refetch_floor: Duration) -> Self {
        OpenIdKeys {
            url,
            refetch_floor,
            current: RwLock::default(),
            generation: AtomicU64::new(0),
            fetched_at: Mutex::default(),
        }
    }

    /// What is known now.
    pub fn published(&self) -> Arc<Published> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many times the keys were replaced. Read it before `published`: an answer
    /// computed from those keys is good while the generation stays the same.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Whether a key with `kid` is known.
    pub fn knows(&self, kid: &str) -> bool {
        let published = self.published();
        published.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Whether the floor since the last fetch has passed (or nothing was fetched).
    pub fn refetch_due(&self) -> bool {
        self.fetched_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|t| t.elapsed() >= self.refetch_floor)
    }

    /// Fetches the discovery document and its JWKS and replaces what is known; a failed
    /// fetch keeps it.
    pub async fn fetch(&self, openid: &OpenIdClient) -> anyhow::Result<()> {
        *self.fetched_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let url = &self.url;
        let discovery = openid
            .get_json(url)
            .await
            .with_context(|| format!("openid-config {url}"))?;
        let issuer = discovery
            .get("issuer")
            .and_then(Value::as_str)
            .map(str::to_string);
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(Value::as_str)
            .with_context(|| format!("openid-config {url}: no jwks_uri"))?;
        let jwks: JwkSet = serde_json::from_value(
            openid
                .get_json(jwks_uri)
                .await
                .with_context(|| format!("jwks_uri {jwks_uri}"))?,
        )
        .with_context(|| format!("jwks_uri {jwks_uri}: not a JWK set"))?;
        let keys: Vec<VerifyKey> = jwks
            .keys
            .iter()
            .filter_map(|jwk| {
                Some(VerifyKey {
                    kid: jwk.common.key_id.clone(),
                    key: DecodingKey::from_jwk(jwk).ok()?,
                })
            })
            .collect();
        anyhow::ensure!(!keys.is_empty(), "jwks_uri {jwks_uri}: no usable RSA keys");
        *self.current.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(Published { keys, issuer });
        // After the replacement: an acceptance computed from the old keys carries the
        // old generation and is not trusted any more.
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// One shared copy per URL while a policy file is parsed.
#[derive(Default)]
pub struct KeyRegistry {
    by_url: RefCell<Vec<Arc<OpenIdKeys>>>,
}

impl KeyRegistry {
    /// The keys of `url`, the same for every policy asking.
    pub fn keys_of(&self, url: &str, refetch_floor: Duration) -> Arc<OpenIdKeys> {
        let mut by_url = self.by_url.borrow_mut();
        if let Some(k) = by_url.iter().find(|k| k.url == url) {
            return k.clone();
        }
        let k = Arc::new(OpenIdKeys::new(url.to_string(), refetch_floor));
        by_url.push(k.clone());
        k
    }

    /// Every URL's keys, once each.
    pub fn into_all(self) -> Vec<Arc<OpenIdKeys>> {
        self.by_url.into_inner()
    }
}
