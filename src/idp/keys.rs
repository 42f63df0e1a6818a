//! The idp's RSA signing key: generated at startup or loaded from a PEM file, published
//! as a JWKS, and used to sign RS256 tokens.

use anyhow::Context;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// An RSA key pair with its key id.
pub struct SigningKey {
    /// `kid`: derived from the modulus, so a reloaded PEM keeps its id.
    pub kid: String,
    encoding: EncodingKey,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl SigningKey {
    /// A fresh 2048-bit key.
    pub fn generate() -> anyhow::Result<Self> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| anyhow::anyhow!("cannot generate an RSA key"))?;
        let der = pair
            .as_der()
            .map_err(|_| anyhow::anyhow!("cannot encode the RSA key"))?;
        let pem = to_pem("PRIVATE KEY", der.as_ref());
        Self::from_pair(&pair, pem.as_bytes())
    }

    /// A key from a PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM.
    pub fn from_pem(pem: &str) -> anyhow::Result<Self> {
        let (label, der) = from_pem(pem).context("not a PEM file")?;
        let pair = match label.as_str() {
            "PRIVATE KEY" => KeyPair::from_pkcs8(&der),
            "RSA PRIVATE KEY" => KeyPair::from_der(&der),
            other => anyhow::bail!("expected an RSA private key PEM, found `{other}`"),
        }
        .map_err(|e| anyhow::anyhow!("RSA key rejected: {e}"))?;
        Self::from_pair(&pair, pem.as_bytes())
    }

    fn from_pair(pair: &KeyPair, pem: &[u8]) -> anyhow::Result<Self> {
        let public: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &public.n);
        Ok(SigningKey {
            kid: digest.as_ref()[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            encoding: EncodingKey::from_rsa_pem(pem)?,
            n: public.n,
            e: public.e,
        })
    }

    /// The public key as a JWK set (`/jwks`).
    pub fn jwks(&self) -> Value {
        json!({ "keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.n),
            "e": URL_SAFE_NO_PAD.encode(&self.e),
        }]})
    }

    /// `claims` as an RS256 JWT with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        self.sign_with(Algorithm::RS256, claims)
    }

    /// `claims` as a JWT signed with `alg` (an RSA algorithm: RS* or PS*).
    pub fn sign_with(&self, alg: Algorithm, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(alg);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The label and bytes of the first PEM block.
fn from_pem(pem: &str) -> Option<(String, Vec<u8>)> {
    let start = pem.find("-----BEGIN ")? + "-----BEGIN ".len();
    let label_end = start + pem[start..].find("-----")?;
    let label = pem[start..label_end].to_string();
    let end = pem.find(&format!("-----END {label}-----"))?;
    let body: String = pem[label_end + 5..end].split_whitespace().collect();
    Some((label, STANDARD.decode(body).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_through_pem() {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let pem = to_pem("PRIVATE KEY", pair.as_der().unwrap().as_ref());
        let a = SigningKey::from_pem(&pem).unwrap();
        let b = SigningKey::from_pem(&pem).unwrap();
        assert_eq!(a.kid, b.kid);
        let token = a
            .sign(&json!({"sub": "x", "exp": 4_000_000_000u64}))
            .unwrap();
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(b.jwks()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwks.keys[0]).unwrap();
        let data = jsonwebtoken::decode::<Value>(
            &token,
            &key,
            &jsonwebtoken::Validation::new(Algorithm::RS256),
        )
        .unwrap();
        assert_eq!(data.claims["sub"], "x");
        assert!(SigningKey::from_pem("nonsense").is_err());
    }
}
