//! Responses the gateway makes itself: APIM's JSON error bodies, and the body type
//! shared by streamed and generated responses.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

/// Errors of streamed bodies (client or backend connection failures).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every gateway response.
pub type GwBody = BoxBody<Bytes, BoxError>;

/// A complete in-memory body.
pub fn full(bytes: impl Into<Bytes>) -> GwBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// APIM's error shape: `{"statusCode":N,"message":"…"}` with a JSON content type.
pub fn apim_error(status: u16, message: &str) -> Response<GwBody> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ApimError<'a> {
        status_code: u16,
        message: &'a str,
    }
    let body = serde_json::to_string(&ApimError {
        status_code: status,
        message,
    })
    .unwrap_or_default();
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}
