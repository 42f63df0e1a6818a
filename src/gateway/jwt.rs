//! `validate-jwt`: the checks of one policy element and the signing keys it trusts.
//!
//! Owns token extraction, signature (RS256/384/512, PS256/384/512) and claim validation,
//! why a token was refused, and when the keys of its OpenID discovery documents
//! (`openid_keys`, fetched over `http://`, or `https://` trusting `--openid-ca` or the
//! platform's roots) are fetched: in the background from startup, retried with backoff
//! until known (the idp may start later), refreshed every `KEY_REFRESH` as APIM caches
//! its metadata, and again when a token names an unknown `kid` (at most every
//! `OpenIdKeys::refetch_floor`). It does not build error responses; the pipeline does.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http::HeaderMap;
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::openid_keys::{OpenIdKeys, Published};
use super::pipeline::Gateway;
use super::verified_tokens::{Remembered, VerifiedTokens};
use crate::shared::TlsSpec;

/// Least time between two fetches of the openid-config keys for an unknown `kid`, unless
/// `--jwks-refetch-floor` says otherwise: APIM caches the metadata (validate-jwt builds on
/// IdentityModel's configuration manager, which refreshes at most every 5 minutes).
pub const DEFAULT_REFETCH_FLOOR: Duration = Duration::from_secs(300);

/// The algorithms `validate-jwt` accepts (validate-jwt-policy.md: RSA and RSA-PSS).
const ACCEPTED_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];
/// How long fetched keys are used before they are fetched again.
const KEY_REFRESH: Duration = Duration::from_secs(300);
/// The first and the longest wait before retrying a failed fetch.
const RETRY_BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(10));

/// Failures already logged by `fetch_all`, so each distinct one is logged once.
pub type ReportedFailures = HashSet<String>;

/// Fetches the keys of every `openid-config` URL once; whether all were fetched. Each
/// distinct failure is logged once; a failed fetch keeps the keys already known.
pub async fn fetch_all(
    key_sets: &[Arc<OpenIdKeys>],
    openid: &OpenIdClient,
    reported: &mut ReportedFailures,
) -> bool {
    let mut all = true;
    for k in key_sets {
        if let Err(e) = k.fetch(openid).await {
            all = false;
            let message = format!("{e:#}");
            if reported.insert(message.clone()) {
                eprintln!(
                    "warning: signing keys: {message}; retrying in the background \
                     (tokens are refused as `Invalid JWT.` until keys are known)"
                );
            }
        }
    }
    all
}

/// Keeps the keys of every `openid-config` of `gateway` fresh for as long as it runs:
/// after a failed fetch (`fetched` false) retried with doubling backoff, after a
/// successful one fetched again in `KEY_REFRESH`.
pub async fn keep_keys_fresh(
    gateway: Arc<Gateway>,
    mut reported: ReportedFailures,
    mut fetched: bool,
) {
    let key_sets = &gateway.policy.openid_keys;
    if key_sets.is_empty() {
        return;
    }
    let mut backoff = RETRY_BACKOFF.0;
    loop {
        if fetched {
            backoff = RETRY_BACKOFF.0;
            tokio::time::sleep(KEY_REFRESH).await;
        } else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(RETRY_BACKOFF.1);
        }
        fetched = fetch_all(key_sets, &gateway.openid, &mut reported).await;
    }
}

/// A public key that may have signed tokens.
#[derive(Clone)]
pub struct VerifyKey {
    /// The JWKS `kid`, if known.
    pub kid: Option<String>,
    pub key: DecodingKey,
}

/// One `required-claims/claim`.
#[derive(Debug, Clone)]
pub struct ClaimRule {
    pub name: String,
    /// `match="all"` (every value present) or `"any"` (at least one).
    pub all: bool,
    /// Splits a string claim into values.
    pub separator: Option<String>,
    pub values: Vec<String>,
}

/// The configuration of one `validate-jwt` element, with its keys once fetched.
pub struct JwtPolicy {
    pub header_name: String,
    /// `failed-validation-httpcode`.
    pub status: u16,
    /// `failed-validation-error-message`: replaces both default messages.
    pub message: Option<String>,
    pub require_expiration: bool,
    /// `require-scheme`: the header must start with this scheme (e.g. `Bearer`).
    pub require_scheme: Option<String>,
    pub clock_skew: Duration,
    /// The keys of each `openid-config url`, shared with the gateway's other policies
    /// naming the same URL; each document's `issuer` is valid besides `issuers`.
    pub openid_configs: Vec<Arc<OpenIdKeys>>,
    /// `issuer-signing-keys`.
    pub keys: Vec<VerifyKey>,
    pub audiences: Vec<String>,
    pub issuers: Vec<String>,
    pub claims: Vec<ClaimRule>,
    /// `validate-azure-ad-token`'s client application ids: the token's `azp` (v2) or
    /// `appid` (v1) must be one of them. Empty: not checked.
    pub client_applications: Vec<String>,
    /// Tokens this policy accepted under its current keys, so they are not verified again.
    pub verified: VerifiedTokens,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtFailure {
    /// No token in the header: `JWT not present.`
    Missing,
    /// Any other failure: `Invalid JWT.`
    Invalid(Refusal),
}

/// What was wrong with a present token (logged and counted, never sent to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// Not a JWT, or not the required scheme.
    Malformed,
    /// An algorithm outside `ACCEPTED_ALGORITHMS` (`none`, HS256, …).
    Algorithm,
    /// No key is known for it (none fetched yet, or an unknown `kid`).
    UnknownKey,
    /// No trusted key verifies the signature.
    Signature,
    Expired,
    NotYetValid,
    Audience,
    Issuer,
    /// A claim required by `require-expiration-time`, `<audiences>` or `<issuers>` is absent.
    MissingClaim,
    /// A `required-claims` claim is absent or has none of the required values.
    RequiredClaim,
    /// `validate-azure-ad-token`: the caller (`azp` or `appid`) is not a listed client
    /// application.
    ClientApplication,
}

impl Refusal {
    /// The name used in logs and in `/__gatebench/stats`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Algorithm => "algorithm",
            Refusal::UnknownKey => "unknown_key",
            Refusal::Signature => "signature",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::Audience => "audience",
            Refusal::Issuer => "issuer",
            Refusal::MissingClaim => "missing_claim",
            Refusal::RequiredClaim => "required_claim",
            Refusal::ClientApplication => "client_application",
        }
    }

    fn of(e: &jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidSignature => Refusal::Signature,
            ErrorKind::ExpiredSignature => Refusal::Expired,
            ErrorKind::ImmatureSignature => Refusal::NotYetValid,
            ErrorKind::InvalidAudience => Refusal::Audience,
            ErrorKind::InvalidIssuer => Refusal::Issuer,
            ErrorKind::MissingRequiredClaim(_) => Refusal::MissingClaim,
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => Refusal::Algorithm,
            _ => Refusal::Malformed,
        }
    }
}

impl JwtFailure {
    /// APIM's default message for this failure.
    pub fn default_message(self) -> &'static str {
        match self {
            JwtFailure::Missing => "JWT not present.",
            JwtFailure::Invalid(_) => "Invalid JWT.",
        }
    }

    /// The name used in logs and in `/__gatebench/stats`.
    pub fn reason(self) -> &'static str {
        match self {
            JwtFailure::Missing => "missing_token",
            JwtFailure::Invalid(r) => r.as_str(),
        }
    }
}

impl JwtPolicy {
    /// Fetches the keys of every `openid-config` of this policy (for all policies
    /// sharing them).
    pub async fn fetch_keys(&self, openid: &OpenIdClient) -> anyhow::Result<()> {
        for k in &self.openid_configs {
            k.fetch(openid).await?;
        }
        Ok(())
    }

    /// Changes whenever the keys of an `openid-config` of this policy are replaced: an
    /// acceptance remembered under another value is not trusted.
    fn key_generation(&self) -> u64 {
        self.openid_configs.iter().map(|k| k.generation()).sum()
    }

    /// Whether the token in `headers` names a `kid` no known key has, and the keys may
    /// be fetched again now.
    pub fn wants_refetch(&self, headers: &HeaderMap) -> bool {
        if self.openid_configs.is_empty() {
            return false;
        }
        let Ok(token) = self.token(headers) else {
            return false;
        };
        // A token accepted under the current keys names a known key, if any.
        let now = jsonwebtoken::get_current_timestamp();
        let remembered =
            self.verified
                .lookup(token, self.key_generation(), now, self.clock_skew.as_secs());
        if remembered != Remembered::Unknown {
            return false;
        }
        let Some(kid) = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid) else {
            return false;
        };
        let known = self
            .keys
            .iter()
            .any(|k| k.kid.as_deref() == Some(kid.as_str()))
            || self.openid_configs.iter().any(|k| k.knows(&kid));
        !known && self.openid_configs.iter().any(|k| k.refetch_due())
    }

    /// The raw token from `headers`, scheme removed.
    fn token<'h>(&self, headers: &'h HeaderMap) -> Result<&'h str, JwtFailure> {
        let raw = headers
            .get(&self.header_name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(JwtFailure::Missing)?;
        match raw.split_once(' ') {
            Some((scheme, token)) => {
                if self
                    .require_scheme
                    .as_deref()
                    .is_some_and(|s| !s.eq_ignore_ascii_case(scheme))
                {
                    return Err(JwtFailure::Invalid(Refusal::Malformed));
                }
                Ok(token.trim())
            }
            None if self.require_scheme.is_some() => Err(JwtFailure::Invalid(Refusal::Malformed)),
            None => Ok(raw),
        }
    }

    /// Checks the token in `headers`: verified once under the current keys, then
    /// remembered until it expires (`verified`).
    pub fn check(&self, headers: &HeaderMap) -> Result<(), JwtFailure> {
        let token = self.token(headers)?;
        let now = jsonwebtoken::get_current_timestamp();
        let skew = self.clock_skew.as_secs();
        // Read before the keys, so an acceptance racing a key change is not trusted.
        let generation = self.key_generation();
        match self.verified.lookup(token, generation, now, skew) {
            Remembered::Valid => return Ok(()),
            // What verifying it again would say: the signature holds, `exp` has passed.
            Remembered::Expired => return Err(JwtFailure::Invalid(Refusal::Expired)),
            Remembered::Unknown => {}
        }
        let claims = self.verify(token)?;
        let exp = match claims.get("exp").map(Value::as_u64) {
            None => None,
            Some(Some(exp)) => Some(exp),
            // Not a whole number (`jsonwebtoken` refuses those anyway): not remembered.
            Some(None) => return Ok(()),
        };
        self.verified.remember(token, generation, exp, now, skew);
        Ok(())
    }

    /// Verifies `token` with the current keys and checks every claim; its claims.
    fn verify(&self, token: &str) -> Result<Value, JwtFailure> {
        let invalid = JwtFailure::Invalid;
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid(Refusal::Malformed))?;
        if !ACCEPTED_ALGORITHMS.contains(&header.alg) {
            return Err(invalid(Refusal::Algorithm));
        }
        let published: Vec<Arc<Published>> =
            self.openid_configs.iter().map(|k| k.published()).collect();
        let validation = self.validation(header.alg, &published);
        let fetched = published.iter().flat_map(|p| p.keys.iter());
        let all: Vec<&VerifyKey> = self.keys.iter().chain(fetched).collect();
        let by_kid: Vec<&VerifyKey> = all
            .iter()
            .copied()
            .filter(|k| header.kid.is_some() && k.kid == header.kid)
            .collect();
        let unknown_kid = header.kid.is_some() && by_kid.is_empty();
        let candidates = if by_kid.is_empty() { all } else { by_kid };
        // The reason of the first key that verified the signature, else `signature`.
        let mut refusal = if candidates.is_empty() || unknown_kid {
            Refusal::UnknownKey
        } else {
            Refusal::Signature
        };
        let mut claims = None;
        for k in &candidates {
            match jsonwebtoken::decode::<Value>(token, &k.key, &validation) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(e) => match Refusal::of(&e) {
                    Refusal::Signature | Refusal::Algorithm => {}
                    other => {
                        refusal = other;
                        break;
                    }
                },
            }
        }
        let claims = claims.ok_or(invalid(refusal))?;
        if !self.client_applications.is_empty() {
            let caller = claims["azp"].as_str().or(claims["appid"].as_str());
            if !caller.is_some_and(|c| self.client_applications.iter().any(|a| a == c)) {
                return Err(invalid(Refusal::ClientApplication));
            }
        }
        if self.claims.iter().all(|rule| rule.satisfied_by(&claims)) {
            Ok(claims)
        } else {
            Err(invalid(Refusal::RequiredClaim))
        }
    }

    fn validation(&self, alg: Algorithm, published: &[Arc<Published>]) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = self.clock_skew.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        let mut required = HashSet::new();
        if self.require_expiration {
            required.insert("exp".to_string());
        }
        if self.audiences.is_empty() {
            v.validate_aud = false;
        } else {
            v.set_audience(&self.audiences);
            required.insert("aud".to_string());
        }
        // validate-jwt-policy.md: with <openid-config>, the metadata's issuer is valid
        // besides those in <issuers>.
        let discovered = published.iter().filter_map(|p| p.issuer.as_ref());
        let issuers: Vec<&String> = self.issuers.iter().chain(discovered).collect();
        if !issuers.is_empty() {
            v.set_issuer(&issuers);
            required.insert("iss".to_string());
        }
        v.required_spec_claims = required;
        v
    }
}

impl ClaimRule {
    fn satisfied_by(&self, claims: &Value) -> bool {
        let present: Vec<String> = match claims.get(&self.name) {
            None | Some(Value::Null) => return false,
            Some(Value::Array(a)) => a.iter().filter_map(scalar).collect(),
            Some(Value::String(s)) => match &self.separator {
                Some(sep) => s.split(sep.as_str()).map(str::to_string).collect(),
                None => vec![s.clone()],
            },
            Some(v) => scalar(v).into_iter().collect(),
        };
        if self.values.is_empty() {
            return true;
        }
        let has = |v: &String| present.contains(v);
        if self.all {
            self.values.iter().all(has)
        } else {
            self.values.iter().any(has)
        }
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

/// Fetches `openid-config` and JWKS documents over http or https.
pub struct OpenIdClient {
    http: Client<HttpsConnector<HttpConnector>, Empty<bytes::Bytes>>,
}

impl OpenIdClient {
    /// A client trusting what `tls` says (platform roots without a `ca_file`).
    pub fn new(tls: &TlsSpec) -> anyhow::Result<Self> {
        Ok(OpenIdClient {
            http: Client::builder(TokioExecutor::new())
                .build(super::backend::https_connector(tls).context("openid-config TLS")?),
        })
    }

    /// GETs a JSON document, within 10 s.
    pub async fn get_json(&self, url: &str) -> anyhow::Result<Value> {
        let req = http::Request::get(url).body(Empty::new())?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.http.request(req))
            .await
            .context("timed out")?
            .map_err(describe_fetch_error)?;
        anyhow::ensure!(resp.status().is_success(), "HTTP {}", resp.status());
        let body = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
            .await
            .context("timed out")??
            .to_bytes();
        Ok(serde_json::from_slice(&body)?)
    }
}

/// A failed fetch in words: the TLS reason when the handshake failed.
fn describe_fetch_error(e: hyper_util::client::legacy::Error) -> anyhow::Error {
    match crate::tls::client::tls_error(&e) {
        Some(t) => anyhow::anyhow!("{} (--openid-ca)", crate::tls::client::describe(t)),
        None => anyhow::Error::new(e),
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::PublicKeyComponents;
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use serde_json::json;

    use super::*;
    use crate::gateway::policy::{LoadOptions, Step, parse};
    use crate::idp::keys::SigningKey;

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    /// A `validate-jwt` trusting `key_xml`, parsed from policy XML.
    fn policy(attrs: &str, key_xml: &str) -> JwtPolicy {
        let xml = format!(
            "<policies><inbound><validate-jwt {attrs}><issuer-signing-keys>{key_xml}\
             </issuer-signing-keys></validate-jwt></inbound></policies>"
        );
        match parse(&xml, "t.xml", &LoadOptions::default())
            .unwrap()
            .inbound
            .remove(0)
        {
            Step::ValidateJwt(p) => *p,
            _ => unreachable!(),
        }
    }

    /// `key`'s public half as an `issuer-signing-keys/key` element.
    fn key_xml(key: &SigningKey) -> String {
        let jwk = key.jwks()["keys"][0].clone();
        format!(
            "<key n=\"{}\" e=\"{}\" />",
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap()
        )
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", format!("Bearer {token}").parse().unwrap());
        h
    }

    // validate-jwt-policy.md (usage notes): RSA tokens are accepted as RS256, RS384,
    // RS512, PS256, PS384 and PS512, not RS256 only.
    #[test]
    fn rsa_and_rsa_pss_algorithms_are_accepted() {
        let key = SigningKey::generate().unwrap();
        let p = policy("", &key_xml(&key));
        let claims = json!({"sub": "x", "exp": now() + 60});
        for alg in [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ] {
            let token = key.sign_with(alg, &claims).unwrap();
            assert!(p.check(&bearer(&token)).is_ok(), "{alg:?}");
        }
    }

    #[test]
    fn refusals_name_their_reason() {
        let key = SigningKey::generate().unwrap();
        let jwk = key.jwks()["keys"][0].clone();
        let key_xml = format!(
            "<key n=\"{}\" e=\"{}\" />",
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap()
        );
        let p = policy(
            "require-scheme=\"Bearer\"",
            &format!(
                "{key_xml}</issuer-signing-keys><audiences><audience>api://a</audience></audiences>\
                 <issuers><issuer>http://i</issuer></issuers><required-claims>\
                 <claim name=\"roles\" match=\"any\"><value>r</value></claim>\
                 </required-claims><issuer-signing-keys>"
            ),
        );
        let good = json!({"iss": "http://i", "aud": "api://a", "roles": ["r"], "exp": now() + 60});
        let with = |edit: &dyn Fn(&mut Value)| {
            let mut c = good.clone();
            edit(&mut c);
            key.sign(&c).unwrap()
        };
        assert!(p.check(&bearer(&with(&|_| {}))).is_ok());
        let stranger = SigningKey::generate().unwrap().sign(&good).unwrap();
        let mut raw = HeaderMap::new();
        raw.insert("authorization", with(&|_| {}).parse().unwrap());
        for (token_headers, reason) in [
            (bearer(&with(&|c| c["exp"] = json!(now() - 60))), "expired"),
            (
                bearer(&with(&|c| c["nbf"] = json!(now() + 600))),
                "not_yet_valid",
            ),
            (bearer(&with(&|c| c["aud"] = json!("api://b"))), "audience"),
            (bearer(&with(&|c| c["iss"] = json!("http://j"))), "issuer"),
            (
                bearer(&with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                })),
                "missing_claim",
            ),
            (
                bearer(&with(&|c| c["roles"] = json!(["x"]))),
                "required_claim",
            ),
            (bearer(&stranger), "unknown_key"),
            (bearer("not.a.jwt"), "malformed"),
            (raw, "malformed"),
            (HeaderMap::new(), "missing_token"),
        ] {
            assert_eq!(p.check(&token_headers).unwrap_err().reason(), reason);
        }
    }

    /// An accepted token is remembered, but only as itself, only while it is valid,
    /// and a refused one is not remembered at all.
    #[test]
    fn remembered_tokens_still_expire_and_forgeries_are_still_refused() {
        let key = SigningKey::generate().unwrap();
        let p = policy("", &key_xml(&key));
        let refused = key.sign(&json!({"sub": "x", "exp": now() - 10})).unwrap();
        for _ in 0..2 {
            assert_eq!(
                p.check(&bearer(&refused)),
                Err(JwtFailure::Invalid(Refusal::Expired))
            );
        }
        assert_eq!(p.verified.len(), 0, "a refused token is not remembered");

        let exp = now() + 1;
        let token = key.sign(&json!({"sub": "x", "exp": exp})).unwrap();
        assert_eq!(p.check(&bearer(&token)), Ok(()));
        assert_eq!(p.verified.len(), 1);
        // Same header and claims, another signature: verified, and refused.
        let (signed, _) = token.rsplit_once('.').unwrap();
        let stranger = SigningKey::generate().unwrap();
        let other_sig = stranger.sign(&json!({"sub": "x", "exp": exp})).unwrap();
        let forged = format!("{signed}.{}", other_sig.rsplit_once('.').unwrap().1);
        assert!(matches!(
            p.check(&bearer(&forged)),
            Err(JwtFailure::Invalid(_))
        ));
        while now() <= exp {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            p.check(&bearer(&token)),
            Err(JwtFailure::Invalid(Refusal::Expired)),
            "the remembered token expires with its exp"
        );
    }

    #[test]
    fn pem_keys_and_clock_skew() {
        let key = SigningKey::generate().unwrap();
        let jwk = key.jwks()["keys"][0].clone();
        let b64 = |f: &str| URL_SAFE_NO_PAD.decode(jwk[f].as_str().unwrap()).unwrap();
        let spki = PublicKeyComponents {
            n: b64("n"),
            e: b64("e"),
        }
        .as_der()
        .unwrap();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(spki.as_ref())
        );
        let expired_30s = key.sign(&json!({"sub": "x", "exp": now() - 30})).unwrap();
        for key_xml in [
            format!("<key>{pem}</key>"),
            format!("<key>{}</key>", STANDARD.encode(&pem)),
        ] {
            let strict = policy("", &key_xml);
            assert_eq!(
                strict.check(&bearer(&expired_30s)),
                Err(JwtFailure::Invalid(Refusal::Expired))
            );
            let lenient = policy("clock-skew=\"60\"", &key_xml);
            assert!(lenient.check(&bearer(&expired_30s)).is_ok());
        }
        assert_eq!(
            policy("", &format!("<key>{pem}</key>")).check(&HeaderMap::new()),
            Err(JwtFailure::Missing)
        );
        let symmetric = format!(
            "<policies><inbound><validate-jwt><issuer-signing-keys><key>{}</key>\
             </issuer-signing-keys></validate-jwt></inbound></policies>",
            STANDARD.encode("a shared secret")
        );
        let err = parse(&symmetric, "t.xml", &LoadOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("symmetric"), "{err}");
    }
}
