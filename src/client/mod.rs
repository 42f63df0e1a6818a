//! How requests reach storage: keys and request shapes, the hyper client (SigV4 for
//! direct targets, bearer token + subscription key for gateways), OAuth2 tokens, the SDK
//! admin client, and the embedded server.
//!
//! Owns turning a `PlannedOp` into an S3 request and sending it. Knows nothing of
//! timing or recording.

pub mod admin;
pub mod body;
pub mod checksum;
pub mod connect;
mod embedded_gateway;
pub mod h1;
pub mod listing;
pub mod multipart;
pub mod request_head;
pub mod request_ids;
pub mod s3;
pub mod server_timing;
pub mod token;

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use http::Method;

use crate::plan::s3_options::Checksum;
use crate::plan::sequence::{ObjectKey, PlannedOp, seeded_bucket, seeded_size};
use crate::plan::{
    ConnectionPolicy, GatewayTarget, Kind, OpKind, Plan, TargetKind, TargetSpec, check_key_prefix,
};
use crate::shared::S3Endpoint;
use crate::shared::embedded_s3::EmbeddedS3;
pub use admin::Admin;
use embedded_gateway::RunningEmbeddedGateway;
use request_head::decimal;
pub use s3::{ClientOptions, Connection, Protocol, S3Call, S3Client};
use token::TokenSource;

/// A target made ready: its address, its token source, and whatever runs in-process
/// for it (embedded S3 server, embedded gateway and idp).
pub struct OpenTarget {
    /// What results record it as.
    pub kind: Kind,
    /// The endpoint or gateway base URL.
    pub address: String,
    /// Direct targets: where setup and clean-up go (gateways use their `setup_via`).
    pub storage: Option<S3Endpoint>,
    /// Gateway targets: how to reach the gateway.
    pub gateway: Option<GatewayTarget>,
    /// Gateway targets with OAuth2: the token source (of the first identity that has
    /// one, when there are several).
    pub token: Option<Arc<TokenSource>>,
    /// Gateway targets: each identity's token source, in identity order.
    pub tokens: Vec<Option<Arc<TokenSource>>>,
    _embedded: Option<EmbeddedS3>,
    _embedded_gateway: Option<RunningEmbeddedGateway>,
}

impl OpenTarget {
    /// Resolves a target spec: starts the embedded server, or an embedded gateway in
    /// front of `storage` (its `setup_via` target's endpoint), or fetches a first token.
    pub async fn open(spec: &TargetSpec, storage: Option<&S3Endpoint>) -> anyhow::Result<Self> {
        let mut open = OpenTarget {
            kind: spec.kind.kind(),
            address: String::new(),
            storage: None,
            gateway: None,
            token: None,
            tokens: Vec::new(),
            _embedded: None,
            _embedded_gateway: None,
        };
        match &spec.kind {
            TargetKind::Embedded => {
                let server = EmbeddedS3::start().await?;
                open.address = server.endpoint.endpoint.clone();
                open.storage = Some(server.endpoint.clone());
                open._embedded = Some(server);
            }
            TargetKind::S3(ep) => {
                open.address = ep.endpoint.clone();
                open.storage = Some(ep.clone());
            }
            TargetKind::Gateway(gw) => {
                open.gateway = Some(gw.clone());
            }
            TargetKind::EmbeddedGateway(eg) => {
                let backend =
                    storage.ok_or_else(|| anyhow::anyhow!("{} is not open", eg.setup_via))?;
                let (gw, running) = embedded_gateway::start(eg, backend).await?;
                open.gateway = Some(gw);
                open._embedded_gateway = Some(running);
            }
        }
        if let Some(gw) = &open.gateway {
            open.address = gw.base_url.clone();
            let grants: Vec<Option<&crate::plan::OAuth2Config>> = if gw.clients.is_empty() {
                vec![gw.oauth2.as_ref()]
            } else {
                gw.clients.iter().map(|c| c.oauth2.as_ref()).collect()
            };
            for grant in grants {
                let token = match grant {
                    Some(oauth2) => Some(TokenSource::start(oauth2.clone(), &gw.tls).await?),
                    None => None,
                };
                open.tokens.push(token);
            }
            open.token = open.tokens.iter().flatten().next().cloned();
        }
        Ok(open)
    }

    /// The measured-path client for this target.
    pub fn client(
        &self,
        spec: &TargetSpec,
        timeout: Duration,
        policy: ConnectionPolicy,
    ) -> anyhow::Result<S3Client> {
        let options = ClientOptions {
            cache_rule: spec.cache_rule.as_ref(),
            timeout,
            policy,
        };
        match (&self.gateway, &self.storage) {
            (Some(gw), _) => {
                // One identity: `token`, which a probe may set after opening.
                let tokens = match gw.clients.is_empty() {
                    true => vec![self.token.clone()],
                    false => self.tokens.clone(),
                };
                S3Client::gateway(gw, tokens, options)
            }
            (None, Some(ep)) => {
                S3Client::direct(ep, options).map(|c| c.with_addressing(spec.addressing))
            }
            (None, None) => anyhow::bail!("target {} has no endpoint", spec.name),
        }
    }
}

/// Everything but SigV4's unreserved characters (`A-Z a-z 0-9 - _ . ~`) is encoded.
const SIGV4_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `value` percent-encoded as a SigV4 canonical query value (`/` too).
fn uri_encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, SIGV4_ENCODE).to_string()
}

/// A LIST entry of the mix: its prefix below the run's, delimiter and page size.
#[derive(Debug, Clone)]
struct ListParams {
    prefix: String,
    delimiter: Option<String>,
    max_keys: u32,
}

/// Per mix entry, the LIST query string (parameters in sorted order) under `run_prefix`;
/// a prefix under `w/` is narrowed to the objects `written_by` wrote (`w/<target>-`).
fn list_queries(
    params: &[Option<ListParams>],
    run_prefix: &str,
    written_by: &str,
) -> Vec<Option<String>> {
    params
        .iter()
        .map(|p| {
            p.as_ref().map(|p| {
                let prefix = match p.prefix.strip_prefix("w/") {
                    Some(rest) => format!("{run_prefix}w/{written_by}{rest}"),
                    None => format!("{run_prefix}{}", p.prefix),
                };
                let delimiter = p
                    .delimiter
                    .as_deref()
                    .map_or(String::new(), |d| format!("delimiter={}&", uri_encode(d)));
                format!(
                    "{delimiter}list-type=2&max-keys={}&prefix={}",
                    p.max_keys,
                    uri_encode(&prefix)
                )
            })
        })
        .collect()
}

/// Object names and request shapes for one run: every key lives under the run's prefix.
#[derive(Debug, Clone)]
pub struct KeySpace {
    buckets: Vec<String>,
    run_prefix: String,
    /// Per mix entry, for LIST: the query string (parameters in sorted order).
    lists: Vec<Option<String>>,
    /// Per mix entry, for LIST: what the query is made of.
    list_params: Vec<Option<ListParams>>,
    /// Per mix entry: the checksum PUTs carry.
    checksums: Vec<Checksum>,
    /// Per mix entry, for multipart uploads: part size and parts in flight.
    uploads: Vec<Option<crate::plan::multipart::MultipartSpec>>,
    /// `<target>-` when the keys are one target's (`for_target`): what it writes is
    /// `w/<target>-<n>`, so targets of one storage never write or delete each other's.
    written_by: String,
}

impl KeySpace {
    /// Keys for `plan` under `run_prefix` (which ends with '/').
    pub fn new(plan: &Plan, run_prefix: &str) -> Self {
        debug_assert!(
            run_prefix.ends_with('/') && check_key_prefix(run_prefix).is_ok(),
            "run prefix {run_prefix:?} could let keys escape it"
        );
        let list_params: Vec<Option<ListParams>> = plan
            .mix
            .iter()
            .map(|m| {
                (m.op == OpKind::List).then(|| ListParams {
                    prefix: m.prefix.clone().unwrap_or_default(),
                    delimiter: m.delimiter.clone(),
                    max_keys: m.max_keys.unwrap_or(1000),
                })
            })
            .collect();
        KeySpace {
            buckets: plan.data.buckets.clone(),
            run_prefix: run_prefix.to_string(),
            lists: list_queries(&list_params, run_prefix, ""),
            list_params,
            checksums: plan.mix.iter().map(|m| m.checksum).collect(),
            uploads: plan.mix.iter().map(|m| m.multipart.clone()).collect(),
            written_by: String::new(),
        }
    }

    /// These keys as target `name` (a scenario target name: letters, digits, `-`, `_`)
    /// uses them: the same seeded read set, and objects of its own for what it writes.
    /// Every target of a run draws the same op sequence, so with shared written keys
    /// two targets of one storage (a gateway and the RGW behind it) would write the same
    /// objects: the second one's PUTs would be overwrites, its DELETEs of objects gone.
    /// A LIST of `w/` lists what this target wrote.
    pub fn for_target(&self, name: &str) -> KeySpace {
        let written_by = format!("{name}-");
        KeySpace {
            lists: list_queries(&self.list_params, &self.run_prefix, &written_by),
            written_by,
            ..self.clone()
        }
    }

    /// The prefix every object of this run is under.
    pub fn run_prefix(&self) -> &str {
        &self.run_prefix
    }

    /// The object key for `key` (empty for `ObjectKey::None`).
    pub fn key(&self, key: ObjectKey) -> String {
        let mut out = String::new();
        self.write_key(&mut out, key);
        out
    }

    /// Appends the object key for `key` to `out` (`s/` and 8 digits, `w/`, the target's
    /// tag and 10 digits: zero padded, without the formatting machinery, as this runs per
    /// request).
    fn write_key(&self, out: &mut String, key: ObjectKey) {
        let (kind, tag, n, width) = match key {
            ObjectKey::Seeded(n) => ("s/", "", n, 8),
            ObjectKey::Written(n) => ("w/", self.written_by.as_str(), n, 10),
            ObjectKey::None => return,
        };
        out.push_str(&self.run_prefix);
        out.push_str(kind);
        out.push_str(tag);
        let mut digits = [0; 20];
        let digits = decimal(n, &mut digits);
        for _ in digits.len()..width {
            out.push('0');
        }
        out.extend(digits.iter().map(|d| char::from(*d)));
    }

    /// The S3 request that carries out `op`.
    pub fn call(&self, op: &PlannedOp) -> S3Call {
        self.call_in(op, String::new())
    }

    /// [`KeySpace::call`] with its path written into `path` (cleared first): a worker
    /// lends its path buffer to every request, so a request allocates no path.
    pub fn call_in(&self, op: &PlannedOp, mut path: String) -> S3Call {
        let bucket = &self.buckets[op.bucket];
        path.clear();
        path.reserve(2 + bucket.len() + self.run_prefix.len() + 16);
        path.push('/');
        path.push_str(bucket);
        path.push('/');
        self.write_key(&mut path, op.key);
        let (method, body_len) = match op.op {
            OpKind::Put => (Method::PUT, op.size),
            OpKind::Get => (Method::GET, 0),
            OpKind::Head => (Method::HEAD, 0),
            OpKind::Delete => (Method::DELETE, 0),
            // The request that starts an upload (the rest are `multipart::Upload`'s).
            OpKind::Multipart => {
                path.push_str("?uploads");
                (Method::POST, 0)
            }
            OpKind::Part => (Method::PUT, op.size),
            // A journey is never sent: it has no request of its own.
            OpKind::List | OpKind::Journey => {
                let query = self.lists[op.mix_entry].as_deref();
                path.clear();
                let _ = write!(
                    path,
                    "/{bucket}?{}",
                    query.unwrap_or("list-type=2&max-keys=1000&prefix=")
                );
                (Method::GET, 0)
            }
        };
        S3Call {
            method,
            path_and_query: path,
            body_len,
            index: Some(op.index),
            range: op.range,
            checksum: self.checksums[op.mix_entry],
        }
    }

    /// The seeded read set: (bucket, key, size) for each object.
    pub fn seed_objects(&self, plan: &Plan) -> anyhow::Result<Vec<(String, String, u64)>> {
        let sizes = plan.data.size.sampler().map_err(anyhow::Error::msg)?;
        Ok((0..plan.data.objects)
            .map(|n| {
                let bucket = self.buckets[seeded_bucket(n, self.buckets.len())].clone();
                (
                    bucket,
                    self.key(ObjectKey::Seeded(n)),
                    seeded_size(plan.seed, n, &sizes),
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sequence::OpSequence;

    /// The request of the first LIST of a run whose only op is `list = { … }`, sent by
    /// target `target` (`None`: keys of no target).
    fn first_list_of(list: &str, target: Option<&str>) -> String {
        let text = format!(
            "name = \"l\"\n[run]\nops = 1\n[load]\nexecutor = \"closed-loop\"\nconcurrency = 1\n\
             [data]\nbuckets = [\"bkt\"]\nobjects = 1\nsize = \"4KiB\"\n[mix]\nlist = {list}\n\
             [targets.local]\nkind = \"embedded\"\n"
        );
        let plan =
            crate::scenario::parse(std::path::Path::new("l.toml"), &text, &|_| None).unwrap();
        let op = OpSequence::new(&plan).unwrap().next_op();
        let keys = KeySpace::new(&plan, "run/");
        match target {
            Some(name) => keys.for_target(name).call(&op).path_and_query,
            None => keys.call(&op).path_and_query,
        }
    }

    fn first_list(list: &str) -> String {
        first_list_of(list, None)
    }

    #[test]
    fn a_target_lists_the_objects_it_wrote_and_the_shared_read_set() {
        assert_eq!(
            first_list_of("{ weight = 1, prefix = \"w/\" }", Some("gw")),
            "/bkt?list-type=2&max-keys=1000&prefix=run%2Fw%2Fgw-"
        );
        assert_eq!(
            first_list_of(
                "{ weight = 1, prefix = \"w/00\", delimiter = \"/\" }",
                Some("a_1")
            ),
            "/bkt?delimiter=%2F&list-type=2&max-keys=1000&prefix=run%2Fw%2Fa_1-00"
        );
        assert_eq!(
            first_list_of("{ weight = 1, prefix = \"s/\" }", Some("gw")),
            "/bkt?list-type=2&max-keys=1000&prefix=run%2Fs%2F"
        );
        assert_eq!(
            first_list_of("{ weight = 1 }", Some("gw")),
            "/bkt?list-type=2&max-keys=1000&prefix=run%2F"
        );
    }

    #[test]
    fn a_list_sends_its_prefix_page_size_and_delimiter() {
        assert_eq!(
            first_list("{ weight = 1, max_keys = 100, prefix = \"s/\" }"),
            "/bkt?list-type=2&max-keys=100&prefix=run%2Fs%2F"
        );
        assert_eq!(
            first_list("{ weight = 1, max_keys = 100, prefix = \"s/\", delimiter = \"/\" }"),
            "/bkt?delimiter=%2F&list-type=2&max-keys=100&prefix=run%2Fs%2F"
        );
    }

    #[test]
    fn keys_are_zero_padded_as_the_formatter_pads_them() {
        let text = "name = \"k\"\n[run]\nops = 1\n[load]\nexecutor = \"closed-loop\"\n\
                    concurrency = 1\n[data]\nbuckets = [\"bkt\"]\nobjects = 1\nsize = \"4KiB\"\n[mix]\nget = 1\n\
                    [targets.local]\nkind = \"embedded\"\n";
        let plan = crate::scenario::parse(std::path::Path::new("k.toml"), text, &|_| None).unwrap();
        let keys = KeySpace::new(&plan, "run/");
        for n in [0, 42, 99_999_999, 100_000_000, 12_345_678_901, u64::MAX] {
            assert_eq!(keys.key(ObjectKey::Seeded(n)), format!("run/s/{n:08}"));
            assert_eq!(keys.key(ObjectKey::Written(n)), format!("run/w/{n:010}"));
            let (a, b) = (keys.for_target("a"), keys.for_target("b-1"));
            assert_eq!(a.key(ObjectKey::Seeded(n)), format!("run/s/{n:08}"));
            assert_eq!(a.key(ObjectKey::Written(n)), format!("run/w/a-{n:010}"));
            assert_eq!(b.key(ObjectKey::Written(n)), format!("run/w/b-1-{n:010}"));
        }
        assert_eq!(keys.key(ObjectKey::None), "");
    }
}
