//! Request ids at the stand-in, as APIM has them: every request gets a GUID
//! (`context.RequestId`) before the pipeline runs, the answer carries it as
//! `x-ms-request-id` (Azure Monitor's `CorrelationId`), and the audit log, when on,
//! gets one line per answer. The client's `x-client-request-id` reaches the backend
//! like any other header; the backend's `x-amz-request-id` comes back the same way.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;

use super::audit::Arrival;
use super::pipeline::{Gateway, STATS_PATH};
use super::policy::expr::{Value, new_guid};
use super::reply::GwBody;
use crate::shared::request_ids::MS_REQUEST_ID;

/// A request's `context.RequestId`, set as a request extension before the pipeline.
#[derive(Debug, Clone, Copy)]
pub struct RequestId(pub u128);

/// How long the backend took to answer with headers, set as a response extension by
/// the pipeline when it forwarded the request.
#[derive(Debug, Clone, Copy)]
pub struct BackendTime(pub Duration);

impl Gateway {
    /// Handles one request from `ip`: gives it its id, answers with `x-ms-request-id`
    /// and writes the audit line (not for the stats endpoint).
    pub async fn answer(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        ip: IpAddr,
    ) -> Response<GwBody> {
        let id = new_guid();
        req.extensions_mut().insert(RequestId(id));
        let arrival = match &self.audit {
            Some(_) if req.uri().path() != STATS_PATH => {
                Some(Arrival::of(&req, &self.api_prefix, &self.subscriptions))
            }
            _ => None,
        };
        let mut resp = self.clone().handle(req, ip).await;
        if let Ok(v) = HeaderValue::from_str(&Value::Guid(id).to_text()) {
            resp.headers_mut().insert(MS_REQUEST_ID, v);
        }
        if let (Some(audit), Some(arrival)) = (&self.audit, arrival) {
            audit.write(arrival, &resp);
        }
        resp
    }
}
