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
    /// `<run id>-<target index>-`: visible ASCII, so any id is a header value.
    prefix: String,
}

impl ClientIds {
    /// Ids for target `target` of run `run_id` (`None` if the run id is not visible
    /// ASCII, so ids could not be header values).
    pub fn new(run_id: &str, target: usize) -> Option<Self> {
        let prefix = format!("{run_id}-{target}-");
        prefix
            .bytes()
            .all(|b| b.is_ascii_graphic())
            .then_some(ClientIds { prefix })
    }

    /// The id of op `index` in two parts, its digits written into `digits` (sent per
    /// request without allocating).
    pub fn parts<'a>(&'a self, index: u64, digits: &'a mut [u8; 20]) -> [&'a [u8]; 2] {
        [self.prefix.as_bytes(), decimal(index, digits)]
    }

    /// The id of op `index`.
    pub fn of(&self, index: u64) -> HeaderValue {
        let id = self.parts(index, &mut [0; 20]).concat();
        HeaderValue::from_maybe_shared(bytes::Bytes::from(id))
            .expect("visible ASCII is a header value")
    }
}

/// The servers' ids of an answer, taken out of its `headers` (moved, not copied: a
/// copy of a header value allocates); the id sent is added when it is needed.
pub fn answered(headers: &mut HeaderMap) -> RequestIds {
    RequestIds {
        client: None,
        amz: headers.remove(AMZ_REQUEST_ID),
        gateway: headers.remove(MS_REQUEST_ID),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_run_target_and_op_and_answers_keep_server_ids() {
        let ids = ClientIds::new("demo-20261206T160000Z-5f3a9c0e", 1).unwrap();
        assert_eq!(ids.of(42), "demo-20261206T160000Z-5f3a9c0e-1-42");
        let mut headers = HeaderMap::new();
        headers.insert(AMZ_REQUEST_ID, HeaderValue::from_static("tx0001"));
        let got = answered(&mut headers);
        assert_eq!(got.client, None);
        assert_eq!(got.amz.unwrap(), "tx0001");
        assert_eq!(got.gateway, None);
        assert!(headers.is_empty(), "the ids were taken out");
        assert_eq!(ids.of(7), "demo-20261206T160000Z-5f3a9c0e-1-7");
        for index in [0, 9, 10, 1_000_000_007, u64::MAX] {
            assert_eq!(
                ids.of(index),
                format!("demo-20261206T160000Z-5f3a9c0e-1-{index}")
            );
        }
        assert!(ClientIds::new("run with space", 0).is_none());
        assert!(ClientIds::new("run\r\nx", 0).is_none());
    }
}
