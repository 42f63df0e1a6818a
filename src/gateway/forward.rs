//! The backend call as the `backend` section describes it: `forward-request`'s options,
//! `limit-concurrency` slots held around it and `retry` of it.
//!
//! Owns buffering the client's body when it must be sent more than once and the retry
//! loop; the network is `backend`, the arithmetic `traffic`, the answers `pipeline`.

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::backend::{Backend, BackendError, BaseUrl};
use super::connections::ResponseBody;
use super::policy::expr::{Condition, Facts, Text};
use super::policy::{ForwardRequest, Step};
use super::traffic::{ConcurrencyLimit, ConcurrencySlot, RetryDelays};

/// What the `backend` section asks for, gathered from its (possibly nested) steps.
pub struct Forwarding<'p> {
    pub options: ForwardRequest,
    limits: Vec<(&'p ConcurrencyLimit, &'p Text)>,
    retry: Option<(&'p Condition, &'p RetryDelays)>,
}

impl<'p> Forwarding<'p> {
    /// Reads the `backend` section (`policy::parse` admits one `forward-request` at most).
    pub fn of(steps: &'p [Step]) -> Self {
        let mut f = Forwarding {
            options: ForwardRequest::default(),
            limits: Vec::new(),
            retry: None,
        };
        f.gather(steps);
        f
    }

    fn gather(&mut self, steps: &'p [Step]) {
        for step in steps {
            match step {
                Step::ForwardRequest(o) => self.options = o.clone(),
                Step::LimitConcurrency { limit, key, steps } => {
                    self.limits.push((limit, key));
                    self.gather(steps);
                }
                Step::Retry {
                    condition,
                    delays,
                    steps,
                } => {
                    self.retry = Some((condition, delays));
                    self.gather(steps);
                }
                _ => {}
            }
        }
    }

    /// Slots of every `limit-concurrency`, `Ok(None)` when one is full (APIM answers
    /// 429), or the error of a key expression.
    pub fn enter(&self, facts: &Facts<'_>) -> Result<Option<Vec<ConcurrencySlot>>, String> {
        let mut slots = Vec::with_capacity(self.limits.len());
        for (limit, key) in &self.limits {
            match limit.enter(&key.eval_text(facts)?.unwrap_or_default()) {
                Some(slot) => slots.push(slot),
                None => return Ok(None),
            }
        }
        Ok(Some(slots))
    }

    /// Sends the request, again while `retry`'s condition holds for the answer (`again`
    /// evaluates it on the answer's status and headers).
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        backend: &Backend,
        base: &BaseUrl,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Incoming,
        again: impl Fn(&Condition, u16, &HeaderMap) -> bool,
    ) -> Result<Response<ResponseBody>, BackendError> {
        let timeout = self.options.timeout;
        let Some((condition, delays)) = self.retry else {
            let body = if self.options.buffer_request_body {
                buffered(collect(body).await?)
            } else {
                body.boxed()
            };
            return backend
                .send(base, method.clone(), path_and_query, headers, body, timeout)
                .await;
        };
        // retry-policy.md: the enclosed policies run once, then again while the condition
        // holds and retries are left; the body is kept to be sent again.
        let bytes = collect(body).await?;
        let mut retries = 0;
        loop {
            let resp = backend
                .send(
                    base,
                    method.clone(),
                    path_and_query,
                    headers,
                    buffered(bytes.clone()),
                    timeout,
                )
                .await?;
            if retries == delays.count || !again(condition, resp.status().as_u16(), resp.headers())
            {
                return Ok(resp);
            }
            drop(resp);
            retries += 1;
            tokio::time::sleep(delays.before(retries)).await;
        }
    }
}

async fn collect(body: Incoming) -> Result<Bytes, BackendError> {
    body.collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| BackendError::ClientBody)
}

fn buffered(bytes: Bytes) -> super::backend::ForwardedBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}
