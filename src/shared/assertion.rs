//! The vocabulary of JWT client assertions (RFC 7523, Entra ID's certificate credential)
//! shared by the token client that signs them and the development idp that checks them.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The base64url thumbprint of a certificate's DER, as JOSE's `x5t` headers carry it.
pub fn thumbprint(algorithm: &'static digest::Algorithm, certificate: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(algorithm, certificate))
}
