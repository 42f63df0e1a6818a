//! The requests of one multipart upload and what their answers must carry: create
//! (`POST ?uploads`, an `UploadId` in the XML answer), parts (`PUT ?partNumber=N&uploadId=`,
//! an `ETag` header each), complete (`POST ?uploadId=` with the part list), and abort
//! (`DELETE ?uploadId=`).
//!
//! Owns request shapes and answer parsing; sending, timing and recording are the engine's.

use std::fmt::Write;

use bytes::Bytes;
use http::{HeaderValue, Method};

use super::s3::Response;
use super::{KeySpace, S3Call, uri_encode};
use crate::plan::multipart::{Part, part, part_count};
use crate::plan::s3_options::Checksum;
use crate::plan::sequence::PlannedOp;

/// One upload of a planned `multipart` op: its object and how it is cut into parts.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The create request (`POST /bucket/key?uploads`).
    pub create: S3Call,
    /// `/bucket/key`.
    object: String,
    index: u64,
    size: u64,
    part_size: u64,
    /// Parts in flight at once.
    pub parallel_parts: usize,
}

impl KeySpace {
    /// The upload `op` starts (`None` if its mix entry is not a multipart upload).
    pub fn upload(&self, op: &PlannedOp) -> Option<Upload> {
        let spec = self.uploads.get(op.mix_entry)?.as_ref()?;
        let create = self.call(op);
        let object = create.path_and_query.split_once('?')?.0.to_string();
        Some(Upload {
            create,
            object,
            index: op.index,
            size: op.size,
            part_size: spec.part_size,
            parallel_parts: spec.parallel_parts as usize,
        })
    }
}

impl Upload {
    /// How many parts the object has.
    pub fn parts(&self) -> u64 {
        part_count(self.size, self.part_size)
    }

    /// Part `number` (from 1), `None` past the last.
    pub fn part(&self, number: u32) -> Option<Part> {
        part(self.size, self.part_size, number)
    }

    /// The request that uploads `part` of upload `upload_id`.
    pub fn part_call(&self, part: Part, upload_id: &str) -> S3Call {
        let mut path = String::with_capacity(self.object.len() + 48 + upload_id.len());
        let _ = write!(
            path,
            "{}?partNumber={}&uploadId={}",
            self.object,
            part.number,
            uri_encode(upload_id)
        );
        self.call(Method::PUT, path, part.len)
    }

    /// The request that completes upload `upload_id` from its parts' `(number, ETag)`,
    /// with its XML body.
    pub fn complete_call(&self, upload_id: &str, etags: &[(u32, HeaderValue)]) -> (S3Call, Bytes) {
        let body = complete_body(etags);
        let call = self.call(
            Method::POST,
            self.with_upload_id(upload_id),
            body.len() as u64,
        );
        (call, body)
    }

    /// The request that aborts upload `upload_id`.
    pub fn abort_call(&self, upload_id: &str) -> S3Call {
        self.call(Method::DELETE, self.with_upload_id(upload_id), 0)
    }

    fn with_upload_id(&self, upload_id: &str) -> String {
        format!("{}?uploadId={}", self.object, uri_encode(upload_id))
    }

    fn call(&self, method: Method, path_and_query: String, body_len: u64) -> S3Call {
        S3Call {
            method,
            path_and_query,
            body_len,
            index: Some(self.index),
            range: None,
            checksum: Checksum::None,
        }
    }
}

/// The `CompleteMultipartUpload` document for parts `(number, ETag)`, in the order given
/// (S3 wants ascending part numbers).
fn complete_body(etags: &[(u32, HeaderValue)]) -> Bytes {
    let mut xml = String::with_capacity(64 + etags.len() * 80);
    xml.push_str("<CompleteMultipartUpload>");
    for (number, etag) in etags {
        let _ = write!(xml, "<Part><PartNumber>{number}</PartNumber><ETag>");
        escape_into(&mut xml, &String::from_utf8_lossy(etag.as_bytes()));
        xml.push_str("</ETag></Part>");
    }
    xml.push_str("</CompleteMultipartUpload>");
    Bytes::from(xml)
}

/// `text` with XML's markup characters escaped, appended to `out`.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// The start of a control answer's body (empty if none was kept).
fn body(resp: &Response) -> &[u8] {
    resp.details
        .as_ref()
        .map_or(&[], |d| d.error_body.as_slice())
}

/// The `UploadId` of an `InitiateMultipartUploadResult` answer.
pub fn upload_id(resp: &Response) -> Option<String> {
    let text = std::str::from_utf8(body(resp)).ok()?;
    let doc = roxmltree::Document::parse(text).ok()?;
    let root = doc.root_element();
    if root.tag_name().name() != "InitiateMultipartUploadResult" {
        return None;
    }
    let id = root
        .children()
        .find(|n| n.tag_name().name() == "UploadId")?
        .text()?
        .trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// Whether a 2xx answer to complete is a `CompleteMultipartUploadResult`: S3 may answer
/// 200 and still fail, with an `<Error>` document in the body.
pub fn completed(resp: &Response) -> bool {
    std::str::from_utf8(body(resp))
        .ok()
        .and_then(|text| roxmltree::Document::parse(text).ok())
        .is_some_and(|doc| doc.root_element().tag_name().name() == "CompleteMultipartUploadResult")
}

/// The `ETag` a part's answer carries.
pub fn etag(resp: &Response) -> Option<HeaderValue> {
    resp.details
        .as_ref()?
        .headers
        .get(http::header::ETAG)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::s3::ResponseDetails;
    use crate::record::OutcomeClass;

    fn answer(body: &str, headers: &[(&'static str, &str)]) -> Response {
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        Response {
            class: OutcomeClass::Ok,
            cache: crate::record::CacheClass::None,
            status: Some(200),
            transport: None,
            retry_after: None,
            headers_at: None,
            bytes_up: 0,
            bytes_down: body.len() as u64,
            opened: None,
            server_timing: Default::default(),
            details: Some(Box::new(ResponseDetails {
                headers: map,
                error_body: body.as_bytes().to_vec(),
            })),
            ids: Default::default(),
        }
    }

    #[test]
    fn the_upload_id_is_read_from_the_create_answer() {
        let rgw = r#"<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>bench</Bucket><Key>run/w/0000000003</Key><UploadId>2~Zx9-aB_c.d</UploadId></InitiateMultipartUploadResult>"#;
        assert_eq!(
            upload_id(&answer(rgw, &[])).as_deref(),
            Some("2~Zx9-aB_c.d")
        );
        let spaced = "<InitiateMultipartUploadResult>\n  <UploadId>\n abc \n</UploadId>\n</InitiateMultipartUploadResult>";
        assert_eq!(upload_id(&answer(spaced, &[])).as_deref(), Some("abc"));
        for bad in [
            "",
            "ok",
            "<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>",
            "<InitiateMultipartUploadResult><Key>k</Key></InitiateMultipartUploadResult>",
            "<Error><Code>NoSuchBucket</Code><UploadId>x</UploadId></Error>",
            "<InitiateMultipartUploadResult><UploadId>x</UploadId>",
        ] {
            assert_eq!(upload_id(&answer(bad, &[])), None, "{bad:?}");
        }
    }

    #[test]
    fn a_complete_answer_is_a_result_not_an_error_document() {
        let ok = r#"<?xml version="1.0"?><CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Key>k</Key><ETag>"x-8"</ETag></CompleteMultipartUploadResult>"#;
        assert!(completed(&answer(ok, &[])));
        let err = "<Error><Code>InternalError</Code></Error>";
        assert!(!completed(&answer(err, &[])));
        assert!(!completed(&answer("", &[])));
    }

    #[test]
    fn parts_carry_their_number_and_upload_id_and_complete_lists_their_etags() {
        let plan = crate::scenario::parse(
            std::path::Path::new("m.toml"),
            "name = \"m\"\n[run]\nops = 1\n[load]\nexecutor = \"closed-loop\"\nconcurrency = 1\n\
             [data]\nbuckets = [\"bkt\"]\nobjects = 0\nsize = \"1KiB\"\n\
             [mix]\nmultipart = { weight = 1, size = \"20MiB\", part_size = \"8MiB\", parallel_parts = 2 }\n\
             [targets.local]\nkind = \"embedded\"\n",
            &|_| None,
        )
        .unwrap();
        let op = crate::plan::sequence::OpSequence::new(&plan)
            .unwrap()
            .next_op();
        let upload = KeySpace::new(&plan, "run/").upload(&op).unwrap();
        assert_eq!(upload.create.method, Method::POST);
        assert_eq!(
            upload.create.path_and_query,
            "/bkt/run/w/0000000000?uploads"
        );
        assert_eq!((upload.parts(), upload.parallel_parts), (3, 2));
        let last = upload.part(3).unwrap();
        assert_eq!(last.len, 4 << 20);
        let call = upload.part_call(last, "2~a/b");
        assert_eq!(call.method, Method::PUT);
        assert_eq!(call.body_len, 4 << 20);
        assert_eq!(
            call.path_and_query,
            "/bkt/run/w/0000000000?partNumber=3&uploadId=2~a%2Fb"
        );
        let etags = [
            (1, HeaderValue::from_static("\"e1\"")),
            (2, HeaderValue::from_static("\"a&b\"")),
        ];
        let (call, body) = upload.complete_call("id", &etags);
        assert_eq!(call.method, Method::POST);
        assert_eq!(call.path_and_query, "/bkt/run/w/0000000000?uploadId=id");
        assert_eq!(call.body_len, body.len() as u64);
        assert_eq!(
            &body[..],
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag></Part>\
              <Part><PartNumber>2</PartNumber><ETag>\"a&amp;b\"</ETag></Part></CompleteMultipartUpload>"
        );
        let abort = upload.abort_call("id");
        assert_eq!(
            (abort.method, abort.path_and_query.as_str()),
            (Method::DELETE, "/bkt/run/w/0000000000?uploadId=id")
        );
        let part_etag = answer("", &[("etag", "\"abc\"")]);
        assert_eq!(etag(&part_etag).unwrap(), "\"abc\"");
    }
}
