//! The deployment files stay valid: docker-compose.yml passes `docker-compose config -q`
//! (Debian's docker-compose; no Docker engine is needed to validate). That every shipped
//! scenario validates is checked in `docs.rs`, with the list of scenarios.

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
