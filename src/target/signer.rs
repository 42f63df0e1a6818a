//! SigV4 signing of S3 requests with `aws-sigv4` (path-style, UNSIGNED-PAYLOAD).

use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::plan::S3Endpoint;

/// Signs requests for one endpoint's credentials and region.
pub struct Signer {
    identity: Identity,
    region: String,
}

impl Signer {
    /// A signer for `endpoint`'s keys.
    pub fn new(endpoint: &S3Endpoint) -> Self {
        let creds = super::credentials(endpoint);
        Signer {
            identity: creds.into(),
            region: endpoint.region.clone(),
        }
    }

    /// Adds `x-amz-date`, `x-amz-content-sha256: UNSIGNED-PAYLOAD` and `authorization`.
    /// The request must already carry its `host` header.
    pub fn sign<B>(&self, req: &mut http::Request<B>) -> Result<(), String> {
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
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
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }
}
