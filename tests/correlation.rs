//! Request correlation: against a server that delays exactly five known requests by
//! 200 ms, those five head the target's `slowest_requests`, each with the id gatebench
//! sent (`<run id>-<target index>-<op index>`) and the server's `x-amz-request-id`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::servers::{Behaviour, TestServer};
use common::*;

/// Op indexes of the delayed requests: PUTs write key `w/<index, 10 digits>`, one key
/// per request, so each path names exactly one request.
const SLOW_INDEXES: [u64; 5] = [20, 60, 100, 140, 180];
const SLOW_PATHS: &[&str] = &[
    "w/server-0000000020",
    "w/server-0000000060",
    "w/server-0000000100",
    "w/server-0000000140",
    "w/server-0000000180",
];

#[test]
fn the_delayed_requests_head_the_slowest_requests_with_their_ids() {
    let server = TestServer::start(Behaviour {
        slow_paths: SLOW_PATHS,
        slow_delay: Duration::from_millis(200),
        ..Behaviour::default()
    });
    let tmp = tempdir();
    let scenario_text = format!(
        r#"name = "correlation"
[run]
ops = 200
[load]
executor = "closed-loop"
concurrency = 4
[data]
buckets = ["correlation"]
objects = 1
size = "2B"
[mix]
put = 1
[targets.server]
kind = "s3"
endpoint = "{}"
access_key = "test"
secret_key = "test"
"#,
        server.endpoint()
    );
    let path = write_scenario(tmp.path(), "correlation.toml", &scenario_text);
    let out_dir = tmp.path().join("out");
    let out = run_scenario(&path, &out_dir, &["--keep-data"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = summary(&out_dir);
    let run_id = s["run_id"].as_str().unwrap();
    let slowest = target(&s, "server")["slowest_requests"]
        .as_array()
        .unwrap_or_else(|| panic!("slowest_requests in {s:#}"));
    assert_eq!(slowest.len(), 10, "ten PUTs kept: {slowest:#?}");

    let (head, rest) = slowest.split_at(5);
    let mut indexes = BTreeSet::new();
    let mut amz_ids = BTreeSet::new();
    for r in head {
        let path = r["path"].as_str().unwrap();
        let index: u64 = path.rsplit('-').next().unwrap().parse().unwrap();
        assert!(
            SLOW_INDEXES.contains(&index),
            "{path} was not delayed: {r:#}"
        );
        assert!(indexes.insert(index), "{path} twice");
        assert!(r["latency_us"].as_u64().unwrap() >= 200_000, "{r:#}");
        assert_eq!(r["op"], "put");
        assert_eq!(r["status"], 200);
        assert_eq!(r["class"], "ok");
        assert!(!path.contains('?'), "{path}");
        assert_eq!(
            r["ids"]["client"].as_str().unwrap(),
            format!("{run_id}-0-{index}"),
            "{r:#}"
        );
        let amz = r["ids"]["amz"].as_str().unwrap();
        assert!(
            amz.starts_with("tx") && amz_ids.insert(amz.to_string()),
            "{r:#}"
        );
        assert!(r["ids"]["gateway"].is_null(), "{r:#}");
        assert!(r["due"].as_str().unwrap().ends_with('Z'), "{r:#}");
        assert!(r["due_offset_ms"].as_u64().is_some(), "{r:#}");
    }
    for r in rest {
        assert!(r["latency_us"].as_u64().unwrap() < 150_000, "{r:#}");
    }
}
