//! Request correlation: the `x-client-request-id` every measured request carries
//! (`<run id>-<target index>-<op index>`) and the ids servers answer with
//! (`x-amz-request-id` from S3/RGW, `x-ms-request-id` from APIM or the stand-in).
//!
//! The id is not signed (SigV4 signs `host` and its own headers only), so it changes
//! nothing a server checks. Ids are kept as header values, not parsed.

use http::{HeaderMap, HeaderValue};

use super::request_head::decimal;
use crate::record::slowest::RequestIds;
pub use crate::shared::request_ids::CLIENT_REQUEST_ID;
use crate::shared::request_ids::{AMZ_REQUEST_ID, MS_REQUEST_ID};

/// Makes the ids of one target's requests: `<run id>-<target index>-<op index>`.
#[derive(Debug, Clone)]
pub struct ClientIds {
    /// `<run id>-<target index>-`.
    prefix: String,
}

impl ClientIds {
    /// Ids for target `target` of run `run_id`.
    pub fn new(run_id: &str, target: usize) -> Self {
        ClientIds {
            prefix: format!("{run_id}-{target}-"),
        }
    }

    /// The id of op `index` (`None` if the run id cannot be a header value).
    pub fn of(&self, index: u64) -> Option<HeaderValue> {
        let mut digits = [0u8; 20];
        let digits = decimal(index, &mut digits);
        let mut id = Vec::with_capacity(self.prefix.len() + digits.len());
        id.extend_from_slice(self.prefix.as_bytes());
        id.extend_from_slice(digits);
        HeaderValue::from_maybe_shared(bytes::Bytes::from(id)).ok()
    }
}

/// The ids of an answer's `headers`, with `client` as sent.
pub fn answered(client: Option<HeaderValue>, headers: &HeaderMap) -> RequestIds {
    RequestIds {
        client,
        amz: headers.get(AMZ_REQUEST_ID).cloned(),
        gateway: headers.get(MS_REQUEST_ID).cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_run_target_and_op_and_answers_keep_server_ids() {
        let ids = ClientIds::new("demo-20261206T160000Z-5f3a9c0e", 1);
        assert_eq!(ids.of(42).unwrap(), "demo-20261206T160000Z-5f3a9c0e-1-42");
        let mut headers = HeaderMap::new();
        headers.insert(AMZ_REQUEST_ID, HeaderValue::from_static("tx0001"));
        let got = answered(ids.of(7), &headers);
        assert_eq!(got.client.unwrap(), "demo-20261206T160000Z-5f3a9c0e-1-7");
        assert_eq!(got.amz.unwrap(), "tx0001");
        assert_eq!(got.gateway, None);
        for index in [0, 9, 10, 1_000_000_007, u64::MAX] {
            assert_eq!(
                ids.of(index).unwrap(),
                format!("demo-20261206T160000Z-5f3a9c0e-1-{index}")
            );
        }
    }
}
