//! Helpers shared by the end-to-end tests: running the CLI and reading its results.

#![allow(dead_code)]

pub mod ceph;
pub mod http;
pub mod procs;
pub mod servers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The gatebench binary built for these tests.
pub fn gatebench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatebench"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// Runs gatebench with `args`, returning its output.
pub fn run(args: &[&str]) -> Output {
    gatebench().args(args).output().expect("gatebench runs")
}

/// Runs `f` to completion on a fresh single-threaded runtime.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs scenario file `path` quietly into results folder `out`, with `extra` arguments.
pub fn run_scenario(path: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", path.to_str().unwrap(), "--quiet", "--out"];
    args.push(out.to_str().unwrap());
    args.extend_from_slice(extra);
    run(&args)
}

/// Stdout and stderr of `out`, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fresh temporary folder.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("gatebench-test-")
        .tempdir()
        .expect("tempdir")
}

/// Writes a scenario file into `dir` and returns its path.
pub fn write_scenario(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write scenario");
    p
}

/// Reads `summary.json` of a results folder.
pub fn summary(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json exists");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// The summary entry of target `name`.
pub fn target<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no target {name} in {summary:#}"))
}

/// The summary entry of `op` on target `target`.
pub fn op<'a>(summary: &'a Value, target: &str, op: &str) -> &'a Value {
    self::target(summary, target)["ops"]
        .as_array()
        .and_then(|ops| ops.iter().find(|o| o["op"] == op))
        .unwrap_or_else(|| panic!("no {op} on {target} in {summary:#}"))
}

/// `ok` count of an op entry.
pub fn ok_count(op: &Value) -> u64 {
    op["outcomes"]["ok"].as_u64().unwrap_or(0)
}

/// Decodes an interval log with the independent Python reader (HdrHistogram_py),
/// installing that package into the test's scratch folder if it is missing.
pub fn read_hlog(path: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/read_hlog.py");
    let pydeps = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pydeps");
    let python = || {
        let mut c = Command::new("python3");
        c.env("PYTHONPATH", &pydeps);
        c
    };
    let has_reader = python()
        .args(["-c", "import hdrh"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_reader {
        let out = python()
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&pydeps)
            .arg("hdrhistogram")
            .output()
            .expect("pip runs");
        assert!(
            out.status.success(),
            "cannot install the hdrhistogram Python package: {}",
            text(&out)
        );
    }
    let out = python()
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the independent hlog reader failed: {}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout).expect("reader prints JSON")
}

/// Open TCP connections (ESTABLISHED) from this host to loopback `port`, client side,
/// from any process: with one keep-alive connection per engine worker, the number of
/// workers still sending to that port.
pub fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let remote = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(2) == Some(&remote.as_str()) && fields.get(3) == Some(&"01")
        })
        .count()
}

/// A free loopback port (free when this returns; the caller binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}
