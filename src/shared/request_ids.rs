//! The headers that name a request, for the client and the stand-in alike.

use http::HeaderName;

/// gatebench's own id of a request: `<run id>-<target index>-<op index>`.
pub const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-client-request-id");
/// S3's (and RGW's) id of a request.
pub const AMZ_REQUEST_ID: HeaderName = HeaderName::from_static("x-amz-request-id");
/// APIM's id of a request (`context.RequestId`; Azure Monitor's `CorrelationId`).
pub const MS_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-request-id");
