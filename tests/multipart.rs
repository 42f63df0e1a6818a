//! Multipart uploads end to end against a real Ceph RGW (the dev RGW through
//! `GATEBENCH_RGW_*`, else the test cluster; see `common::ceph`): directly, through the
//! embedded gateway, and through a gateway that refuses complete (the upload is aborted).
//! Each run keeps its data (`--keep-data`), so what the engine left is what is checked:
//! complete objects of the right size (HEAD) and no incomplete upload.

mod common;

use std::path::Path;
use std::time::Duration;

use ::http::Method;
use common::ceph::{Rgw, rgw};
use common::*;
use gatebench::client::{Admin, ClientOptions, S3Call, S3Client};
use gatebench::plan::s3_options::Checksum;
use gatebench::shared::{S3Endpoint, Secret};
use serde_json::Value;

const MIB: u64 = 1024 * 1024;

/// Objects uploaded per target: 64 MiB each, in 8 parts of 8 MiB.
const OBJECTS: u64 = 4;

const BUCKET: &str = "gatebench-multipart";

fn endpoint(r: &Rgw) -> S3Endpoint {
    S3Endpoint {
        endpoint: r.endpoint.clone(),
        region: "us-east-1".into(),
        access_key: r.access_key.clone(),
        secret_key: Secret::new(r.secret_key.clone()),
        tls: Default::default(),
    }
}

fn admin(r: &Rgw) -> Admin {
    Admin::new(&endpoint(r), Duration::from_secs(60)).unwrap()
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// `scenarios/rgw-multipart.toml` cut to `OBJECTS` uploads per target, with only the
/// targets named in `targets` (`rgw` stays: it is the gateway's `setup_via`), and
/// `policy` for the gateway.
fn scenario(targets: &[&str], policy: &Path) -> String {
    let text = std::fs::read_to_string("scenarios/rgw-multipart.toml")
        .unwrap()
        .replace("ops = 12", &format!("ops = {OBJECTS}"))
        .replace(
            "policy = \"deploy/apim/policy.local.xml\"",
            &format!("policy = {:?}", policy.to_str().unwrap()),
        );
    match targets {
        ["rgw"] => text[..text.find("[targets.apim]").unwrap()].to_string(),
        _ => text,
    }
}

/// Runs `scenario_text` keeping its data; the summary.
fn run_keeping_data(r: &Rgw, dir: &Path, scenario_text: &str) -> Value {
    let file = write_scenario(dir, "multipart.toml", scenario_text);
    let out = gatebench()
        .args([
            "run",
            file.to_str().unwrap(),
            "--keep-data",
            "--quiet",
            "--out",
        ])
        .arg(dir.join("run"))
        .envs(r.env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    summary(&dir.join("run"))
}

/// The run's peak resident memory, bytes (from its provenance.json).
fn peak_rss(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("run/provenance.json")).unwrap();
    let provenance: Value = serde_json::from_str(&text).unwrap();
    provenance["peak_rss_bytes"].as_u64().unwrap()
}

/// The prefix every object of the run lives under.
fn run_prefix(s: &Value) -> String {
    format!("gatebench/{}/", s["run_id"].as_str().unwrap())
}

/// `(key, size from HEAD)` of every object under `prefix`.
fn object_sizes(r: &Rgw, prefix: &str) -> Vec<(String, u64)> {
    let client = S3Client::direct(
        &endpoint(r),
        ClientOptions {
            cache_rule: None,
            timeout: Duration::from_secs(30),
            policy: Default::default(),
        },
    )
    .unwrap();
    block_on(async {
        let mut conn = client.connection(0);
        let mut out = Vec::new();
        for key in admin(r).list_keys(BUCKET, prefix).await.unwrap() {
            let head = S3Call {
                method: Method::HEAD,
                path_and_query: format!("/{BUCKET}/{key}"),
                body_len: 0,
                index: None,
                range: None,
                checksum: Checksum::None,
            };
            let resp = client.send_keeping_details(&mut conn, &head).await;
            assert_eq!(resp.status, Some(200), "HEAD {key}");
            let len = resp.details.unwrap().headers[::http::header::CONTENT_LENGTH]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            out.push((key, len));
        }
        out
    })
}

/// Incomplete uploads under `prefix`.
fn uploads_left(r: &Rgw, prefix: &str) -> usize {
    block_on(admin(r).list_uploads(BUCKET, prefix))
        .unwrap()
        .len()
}

/// Removes what a `--keep-data` run left.
fn clean(r: &Rgw, prefix: &str) {
    let admin = admin(r);
    let buckets = [BUCKET.to_string()];
    block_on(admin.abort_uploads(&buckets, prefix)).unwrap();
    block_on(admin.delete_prefix(&buckets, prefix)).unwrap();
}

/// Every upload of `target` complete and every part stored: `OBJECTS` ok `multipart`
/// samples with all parts' bytes, `OBJECTS` × 8 ok `part` samples, nothing else.
fn assert_uploaded(s: &Value, target: &str) {
    let whole = op(s, target, "multipart");
    assert_eq!(whole["requests"], OBJECTS, "{whole:#}");
    assert_eq!(ok_count(whole), OBJECTS, "{whole:#}");
    assert_eq!(whole["bytes_up"], OBJECTS * 64 * MIB, "{whole:#}");
    let parts = op(s, target, "part");
    assert_eq!(parts["requests"], OBJECTS * 8, "{parts:#}");
    assert_eq!(ok_count(parts), OBJECTS * 8, "{parts:#}");
    assert_eq!(parts["bytes_up"], OBJECTS * 64 * MIB, "{parts:#}");
}

/// Runs the scenario on `targets` (the first target's name first) and checks every
/// target's uploads: no failure, every object whole, no upload left, little memory.
fn uploads_complete_in_little_memory(targets: &[&str]) {
    let Some(r) = rgw() else { return };
    let tmp = tempdir();
    let policy = Path::new("deploy/apim/policy.local.xml");
    let s = run_keeping_data(&r, tmp.path(), &scenario(targets, policy));
    let prefix = run_prefix(&s);
    assert_eq!(s["status"], "complete", "{s:#}");
    for target in targets {
        assert_uploaded(&s, target);
    }
    let sizes = object_sizes(&r, &prefix);
    // Each target uploads objects of its own (`w/<target>-<n>`).
    assert_eq!(
        sizes.len() as u64,
        OBJECTS * targets.len() as u64,
        "{sizes:?}"
    );
    for target in targets {
        let own = sizes
            .iter()
            .filter(|(key, _)| key.contains(&format!("/w/{target}-")))
            .count();
        assert_eq!(own as u64, OBJECTS, "{target}: {sizes:?}");
    }
    assert!(sizes.iter().all(|(_, len)| *len == 64 * MIB), "{sizes:?}");
    assert_eq!(uploads_left(&r, &prefix), 0);
    let rss = peak_rss(tmp.path());
    eprintln!(
        "peak RSS with {targets:?}: {:.1} MiB",
        rss as f64 / MIB as f64
    );
    assert!(rss < 100 * MIB, "peak RSS {rss} B");
    clean(&r, &prefix);
}

#[test]
fn multipart_uploads_to_rgw_complete_with_the_right_size_in_little_memory() {
    uploads_complete_in_little_memory(&["rgw"]);
}

#[test]
fn multipart_uploads_through_the_embedded_gateway_are_streamed_and_re_signed() {
    uploads_complete_in_little_memory(&["rgw", "apim"]);
}

/// A gateway that answers every complete with 500: each upload is aborted by the engine
/// itself (the run keeps its data, so no clean-up aborts anything), nothing is left.
#[test]
fn a_refused_complete_aborts_the_upload_and_leaves_nothing() {
    let Some(r) = rgw() else { return };
    let tmp = tempdir();
    let local = std::fs::read_to_string("deploy/apim/policy.local.xml").unwrap();
    let refusing = local.replacen(
        "<inbound>\n        <base />",
        "<inbound>\n        <base />\n        <choose>\n            <when condition=\"@(context.Request.Method == &quot;POST&quot; &amp;&amp; context.Request.Url.Query.GetValueOrDefault(&quot;uploadId&quot;, &quot;&quot;) != &quot;&quot;)\">\n                <return-response>\n                    <set-status code=\"500\" reason=\"Refused\" />\n                </return-response>\n            </when>\n        </choose>",
        1,
    );
    assert_ne!(refusing, local, "the refusal is in the policy");
    let policy = tmp.path().join("refuse-complete.xml");
    std::fs::write(&policy, refusing).unwrap();
    let text = scenario(&["rgw", "apim"], &policy)
        .replace("ops = 4", "ops = 2")
        .replace("[run]", "[run]\nexpect_failures = true");
    // Only the gateway refuses; RGW directly is the control.
    let s = run_keeping_data(&r, tmp.path(), &text);
    let prefix = run_prefix(&s);
    let whole = op(&s, "apim", "multipart");
    assert_eq!(whole["requests"], 2, "{whole:#}");
    assert_eq!(whole["outcomes"]["server_error"], 2, "{whole:#}");
    assert_eq!(ok_count(whole), 0, "{whole:#}");
    let parts = op(&s, "apim", "part");
    assert_eq!(
        ok_count(parts),
        2 * 8,
        "parts went up before complete: {parts:#}"
    );
    assert_eq!(ok_count(op(&s, "rgw", "multipart")), 2);
    // Only the direct target's two objects exist; the gateway's uploads were aborted.
    assert_eq!(object_sizes(&r, &prefix).len(), 2);
    assert_eq!(uploads_left(&r, &prefix), 0);
    clean(&r, &prefix);
}

/// The clean-up's half for uploads cut short: an upload left incomplete under a prefix
/// is found and aborted.
#[test]
fn clean_up_aborts_incomplete_uploads_under_the_prefix() {
    let Some(r) = rgw() else { return };
    let prefix = format!("gatebench/cleanup-{}/", std::process::id());
    let client = S3Client::direct(
        &endpoint(&r),
        ClientOptions {
            cache_rule: None,
            timeout: Duration::from_secs(30),
            policy: Default::default(),
        },
    )
    .unwrap();
    let admin = admin(&r);
    let buckets = [BUCKET.to_string()];
    block_on(async {
        admin.ensure_buckets(&buckets).await.unwrap();
        let mut conn = client.connection(0);
        for n in 0..3 {
            let create = S3Call {
                method: Method::POST,
                path_and_query: format!("/{BUCKET}/{prefix}w/{n}?uploads"),
                body_len: 0,
                index: None,
                range: None,
                checksum: Checksum::None,
            };
            let resp = client.send_control(&mut conn, &create, None).await;
            assert_eq!(resp.status, Some(200));
        }
    });
    assert_eq!(uploads_left(&r, &prefix), 3);
    assert_eq!(block_on(admin.abort_uploads(&buckets, &prefix)).unwrap(), 3);
    assert_eq!(uploads_left(&r, &prefix), 0);
}
