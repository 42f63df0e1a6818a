//! The deployment files stay valid: docker-compose.yml passes `docker-compose config -q`
//! (Debian's docker-compose; no Docker engine is needed to validate) and every shipped
//! scenario validates.

mod common;

use std::process::Command;

use common::*;

fn has(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn docker_compose_file_is_valid() {
    if !has("docker-compose") {
        let install = Command::new("sh")
            .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose"])
            .output()
            .expect("apt-get runs");
        assert!(
            install.status.success(),
            "cannot install docker-compose: {}",
            text(&install)
        );
    }
    let out = Command::new("docker-compose")
        .args(["config", "-q"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn every_shipped_scenario_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let out = gatebench()
            .arg("validate")
            .arg(&path)
            .env("RGW_ENDPOINT", "http://127.0.0.1:7480")
            .env("RGW_ACCESS_KEY", "a")
            .env("RGW_SECRET_KEY", "b")
            .env("GATEWAY_BASE_URL", "http://127.0.0.1:8080/storage")
            .env("APIM_SUBSCRIPTION_KEY", "k")
            .env("TOKEN_URL", "http://127.0.0.1:8081/token")
            .env("CLIENT_ID", "bench")
            .env("CLIENT_SECRET", "s")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {}", path.display(), text(&out));
        n += 1;
    }
    assert!(n >= 4, "{n} scenarios");
}
