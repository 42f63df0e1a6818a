//! What a LIST answered, for journeys that read "the keys the list returned": the
//! object keys of a ListObjectsV2 page, and the request for one of them.

use std::fmt::Write;

use http::Method;

use super::KeySpace;
use crate::plan::OpKind;
use crate::plan::sequence::PlannedOp;

/// The object keys (`Contents/Key`) of a ListObjectsV2 answer, in order; none if the
/// body is not such a page.
pub fn listed_keys(body: &[u8]) -> Vec<String> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Vec::new();
    };
    let Ok(doc) = roxmltree::Document::parse(text) else {
        return Vec::new();
    };
    doc.descendants()
        .filter(|n| n.has_tag_name("Key") && n.parent().is_some_and(|p| p.has_tag_name("Contents")))
        .filter_map(|n| n.text().map(str::to_string))
        .collect()
}

impl KeySpace {
    /// The request of `op` (a GET or HEAD) for `key`, a key a LIST of bucket
    /// `op.bucket` returned.
    pub fn listed_call(&self, op: &PlannedOp, key: &str) -> super::S3Call {
        let mut path = String::with_capacity(key.len() + 32);
        let _ = write!(path, "/{}/", self.buckets[op.bucket]);
        for (i, segment) in key.split('/').enumerate() {
            if i > 0 {
                path.push('/');
            }
            path.push_str(&super::uri_encode(segment));
        }
        super::S3Call {
            method: if op.op == OpKind::Head {
                Method::HEAD
            } else {
                Method::GET
            },
            path_and_query: path,
            body_len: 0,
            index: Some(op.index),
            range: None,
            checksum: crate::plan::s3_options::Checksum::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_a_list_page_and_not_its_prefixes() {
        let page = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bkt</Name><Prefix>run/</Prefix><KeyCount>2</KeyCount>
  <Contents><Key>run/s/00000001</Key><Size>4</Size></Contents>
  <Contents><Key>run/s/a b</Key><Size>4</Size></Contents>
  <CommonPrefixes><Prefix>run/w/</Prefix></CommonPrefixes>
</ListBucketResult>"#;
        assert_eq!(listed_keys(page), vec!["run/s/00000001", "run/s/a b"]);
        assert!(listed_keys(b"<Error><Code>AccessDenied</Code></Error>").is_empty());
        assert!(listed_keys(b"not xml").is_empty());
    }
}
