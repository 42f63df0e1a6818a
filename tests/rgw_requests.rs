//! Range GETs, PUT checksums and virtual-hosted-style addressing against a real RGW: a
//! range returns exactly its bytes, RGW checks the checksums gatebench sends (a wrong
//! one is refused, directly and behind the stand-in gateway), and every op works with
//! `addressing = "virtual"`.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::http::{HeaderName, HeaderValue, Method, Request};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use common::ceph::rgw;
use common::*;
use gatebench::client::body::frames;
use gatebench::client::checksum::{X_AMZ_CHECKSUM_CRC32C, header_value};
use gatebench::client::{Admin, KeySpace, OpenTarget, S3Client};
use gatebench::plan::s3_options::Checksum;
use gatebench::plan::sequence::{ObjectKey, OpSequence};
use gatebench::plan::{ConnectionPolicy, OpKind, Plan, TargetSpec};
use gatebench::record::OutcomeClass;
use gatebench::shared::S3Endpoint;
use gatebench::shared::sigv4::Signer;

const BUCKET: &str = "gatebench-requests";
const TIMEOUT: Duration = Duration::from_secs(30);

/// The RGW as a target's fields.
const RGW_TARGET: &str = r#"kind = "s3"
endpoint = "${RGW_ENDPOINT}"
access_key = "${RGW_ACCESS_KEY}"
secret_key = "${RGW_SECRET_KEY}""#;

/// A plan of `mix` (TOML lines) over 12 seeded objects of 100 B to 2000 B, against the
/// target of `direct_target` (its fields) directly (`direct`) and through the embedded
/// stand-in gateway (`apim`).
fn plan(env: &[(&str, String)], direct_target: &str, mix: &str) -> Plan {
    let text = format!(
        r#"name = "requests"
[run]
ops = 10
seed = 5
[load]
executor = "closed-loop"
concurrency = 1
[data]
buckets = ["{BUCKET}"]
objects = 12
size = {{ uniform = {{ min = "100", max = "2000" }} }}
[mix]
{mix}
[targets.direct]
{direct_target}
[targets.apim]
kind = "embedded-gateway"
setup_via = "direct"
"#
    );
    let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
    gatebench::scenario::parse(Path::new("requests.toml"), &text, &lookup).unwrap()
}

fn target<'p>(plan: &'p Plan, name: &str) -> &'p TargetSpec {
    plan.targets.iter().find(|t| t.name == name).unwrap()
}

/// A prefix of this test's own.
fn run_prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("gatebench-test/{test}-{}-{nanos}/", std::process::id())
}

/// The direct target, opened, with its admin client.
async fn open_direct(plan: &Plan) -> (OpenTarget, S3Endpoint, Admin) {
    let direct = OpenTarget::open(target(plan, "direct"), None)
        .await
        .unwrap();
    let endpoint = direct.storage.clone().unwrap();
    let admin = Admin::new(&endpoint, TIMEOUT).unwrap();
    admin.ensure_buckets(&plan.data.buckets).await.unwrap();
    (direct, endpoint, admin)
}

fn client(open: &OpenTarget, spec: &TargetSpec) -> S3Client {
    open.client(spec, TIMEOUT, ConnectionPolicy::default())
        .unwrap()
}

/// Sends `req` on a fresh connection: (status, body).
async fn send(req: Request<Full<Bytes>>) -> (u16, Bytes) {
    let resp = Client::builder(TokioExecutor::new())
        .build_http()
        .request(req)
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

/// A request to `url` with `headers` and `body`, not yet signed.
fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Request<Full<Bytes>> {
    let host = url
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .unwrap();
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .header("host", host);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Full::new(body)).unwrap()
}

#[test]
fn range_gets_return_206_with_exactly_the_requested_bytes() {
    let Some(r) = rgw() else { return };
    block_on(async {
        for range in ["first:1000", "random:1000"] {
            let mix = format!("get = {{ weight = 1, range = \"{range}\" }}");
            let plan = plan(&r.env(), RGW_TARGET, &mix);
            let (direct, endpoint, admin) = open_direct(&plan).await;
            let keys = KeySpace::new(&plan, &run_prefix("ranges"));
            let objects = keys.seed_objects(&plan).unwrap();
            admin.put_objects(objects.clone()).await.unwrap();
            let client = client(&direct, target(&plan, "direct"));
            let mut conn = client.connection(0);
            let mut ops = OpSequence::new(&plan).unwrap();
            let (mut clamped, mut offsets) = (0, std::collections::HashSet::new());
            for _ in 0..24 {
                let op = ops.next_op();
                let (ObjectKey::Seeded(n), Some(bytes)) = (op.key, op.range) else {
                    panic!("a GET of a seeded object with a range: {op:?}")
                };
                let (bucket, key, size) = &objects[n as usize];
                let resp = client.send(&mut conn, &keys.call(&op)).await;
                assert_eq!(
                    (resp.status, resp.class),
                    (Some(206), OutcomeClass::Ok),
                    "{range} {bytes:?} of {size} bytes"
                );
                assert_eq!(resp.bytes_down, bytes.len(), "{range} {bytes:?}");
                // The bytes RGW returns for this range are the object's bytes there.
                let whole = admin.get_bytes(bucket, key).await.unwrap().unwrap();
                assert_eq!(whole.len() as u64, *size);
                let asked = format!("bytes={}-{}", bytes.first, bytes.last);
                let mut req = request(
                    Method::GET,
                    &format!("{}/{bucket}/{key}", endpoint.endpoint),
                    &[("range", &asked)],
                    Bytes::new(),
                );
                Signer::new(&endpoint).sign(&mut req).unwrap();
                let (status, part) = send(req).await;
                assert_eq!(status, 206);
                assert_eq!(part, whole[bytes.first as usize..=bytes.last as usize]);
                if range.starts_with("first") {
                    assert_eq!(bytes.first, 0);
                }
                if *size < 1000 {
                    clamped += 1;
                    assert_eq!(bytes.len(), *size, "a small object is read whole");
                }
                offsets.insert(bytes.first);
            }
            assert!(
                clamped > 0,
                "{range}: some objects are smaller than the range"
            );
            if range.starts_with("random") {
                assert!(offsets.len() > 5, "random offsets vary: {offsets:?}");
            }
            admin
                .delete_prefix(&plan.data.buckets, keys.run_prefix())
                .await
                .unwrap();
        }
    });
}

/// PUTs with `checksum` succeed directly and through the stand-in gateway, store their
/// bodies whole, and (with `refusal`) the same request with another body's digest is
/// refused with that error code, directly and behind the gateway: the storage checks
/// what gatebench sends.
async fn check_checksum(plan: &Plan, checksum: Checksum, refusal: Option<&str>) {
    let (direct, endpoint, admin) = open_direct(plan).await;
    let apim = OpenTarget::open(target(plan, "apim"), Some(&endpoint))
        .await
        .unwrap();
    let keys = KeySpace::new(plan, &run_prefix("checksums"));
    let mut ops = OpSequence::new(plan).unwrap();
    for (name, open) in [("direct", &direct), ("apim", &apim)] {
        let client = client(open, target(plan, name));
        let mut conn = client.connection(0);
        for _ in 0..4 {
            let op = ops.next_op();
            assert_eq!(op.op, OpKind::Put);
            let resp = client.send(&mut conn, &keys.call(&op)).await;
            assert_eq!(resp.status, Some(200), "{name} {checksum:?} PUT");
            let stored = admin
                .get_bytes(&plan.data.buckets[op.bucket], &keys.key(op.key))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(stored.len() as u64, op.size);
        }
    }
    if let Some(refusal) = refusal {
        let body = Bytes::from(frames(1000).flatten().copied().collect::<Vec<u8>>());
        let right = header_value(checksum, std::iter::once(body.as_ref())).unwrap();
        let wrong = header_value(checksum, std::iter::once(&body[1..])).unwrap();
        let gateway = apim.gateway.clone().unwrap();
        let path = format!("/{BUCKET}/{}checked", keys.run_prefix());
        for (digest, expected) in [(&right, 200), (&wrong, 400)] {
            for base in [&endpoint.endpoint, &gateway.base_url] {
                let through_gateway = base == &gateway.base_url;
                let url = format!("{base}{path}");
                let mut req = request(Method::PUT, &url, &[], body.clone());
                let headers = req.headers_mut();
                match checksum {
                    Checksum::Crc32c => {
                        headers.insert(X_AMZ_CHECKSUM_CRC32C, digest.clone());
                    }
                    _ if through_gateway => {
                        headers.insert("x-amz-content-sha256", digest.clone());
                    }
                    _ => {}
                }
                if through_gateway {
                    headers.insert("authorization", apim.token.as_ref().unwrap().header());
                    let key = gateway.subscription_key.as_ref().unwrap().expose();
                    headers.insert(
                        HeaderName::from_bytes(gateway.subscription_header.as_bytes()).unwrap(),
                        HeaderValue::from_str(key).unwrap(),
                    );
                } else if checksum == Checksum::Sha256 {
                    Signer::new(&endpoint)
                        .sign_with_payload_hash(&mut req, digest)
                        .unwrap();
                } else {
                    Signer::new(&endpoint).sign(&mut req).unwrap();
                }
                let (status, answer) = send(req).await;
                let answer = String::from_utf8_lossy(&answer);
                assert_eq!(status, expected, "{checksum:?} via {url}: {answer}");
                if expected == 400 {
                    assert!(answer.contains(refusal), "{checksum:?} via {url}: {answer}");
                }
            }
        }
    }
    admin
        .delete_prefix(&plan.data.buckets, keys.run_prefix())
        .await
        .unwrap();
}

/// RGW checks a signed payload hash. Pacific (16.2) does not check
/// `x-amz-checksum-crc32c` (S3's additional checksums came with Squid, 19.2), so a
/// wrong CRC32C is shown refused by the embedded S3 server in the next test.
#[test]
fn checksummed_puts_succeed_on_rgw_and_a_wrong_sha256_is_refused_directly_and_behind_the_gateway() {
    let Some(r) = rgw() else { return };
    block_on(async {
        let crc32c = plan(
            &r.env(),
            RGW_TARGET,
            "put = { weight = 1, checksum = \"crc32c\" }",
        );
        check_checksum(&crc32c, Checksum::Crc32c, None).await;
        let sha256 = plan(
            &r.env(),
            RGW_TARGET,
            "put = { weight = 1, checksum = \"sha256\" }",
        );
        check_checksum(&sha256, Checksum::Sha256, Some("XAmzContentSHA256Mismatch")).await;
    });
}

#[test]
fn a_wrong_crc32c_is_refused_directly_and_behind_the_gateway() {
    let plan = plan(
        &[],
        "kind = \"embedded\"",
        "put = { weight = 1, checksum = \"crc32c\" }",
    );
    block_on(check_checksum(&plan, Checksum::Crc32c, Some("BadDigest")));
}

#[test]
fn virtual_addressing_puts_gets_heads_lists_and_deletes_on_rgw() {
    let Some(r) = rgw() else { return };
    let Some(dns_name) = r.dns_name.clone() else {
        eprintln!(
            "skipped: the RGW's rgw_dns_name is unknown (set GATEBENCH_RGW_DNS_NAME with \
             GATEBENCH_RGW_ENDPOINT); virtual-hosted-style requests need it"
        );
        return;
    };
    let port = r.endpoint.rsplit(':').next().unwrap();
    let tmp = tempdir();
    let scenario = write_scenario(
        tmp.path(),
        "virtual.toml",
        &format!(
            r#"name = "virtual"
[run]
ops = 150
seed = 3
[load]
executor = "closed-loop"
concurrency = 2
[data]
buckets = ["{BUCKET}"]
objects = 20
size = "4KiB"
[mix]
get = {{ weight = 30, range = "first:1KiB" }}
head = 20
list = {{ weight = 10, max_keys = 10 }}
put = {{ weight = 20, checksum = "crc32c" }}
delete = 10
[targets.virtual]
kind = "s3"
endpoint = "http://{dns_name}:{port}"
addressing = "virtual"
access_key = "${{RGW_ACCESS_KEY}}"
secret_key = "${{RGW_SECRET_KEY}}"
"#
        ),
    );
    let out_dir = tmp.path().join("out");
    let out = gatebench()
        .args(["run", scenario.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out_dir)
        .envs(r.env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let s = summary(&out_dir);
    for name in ["get", "head", "list", "put", "delete"] {
        let o = op(&s, "virtual", name);
        let requests = o["requests"].as_u64().unwrap();
        assert!(requests > 0, "{name}: {o:#}");
        assert_eq!(ok_count(o), requests, "{name} all ok: {o:#}");
    }
    // Every GET read exactly its first KiB (206), nothing more.
    let get = op(&s, "virtual", "get");
    assert_eq!(get["status_codes"]["206"], get["requests"], "{get:#}");
    assert_eq!(
        get["bytes_down"].as_u64().unwrap(),
        1024 * get["requests"].as_u64().unwrap()
    );
}
