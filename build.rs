//! Records the git commit gatebench was built from, for run provenance.

use std::path::PathBuf;

/// `git ARGS`, trimmed, if git answers.
fn git(args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    if let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) {
        println!("cargo:rustc-env=GATEBENCH_GIT_COMMIT={commit}");
    }
    // Watch only files that exist: a missing path makes cargo rerun this on every build.
    // In a worktree `.git` is a file; git says where HEAD and the refs really are.
    println!("cargo:rerun-if-changed=build.rs");
    let dirs = [
        git(&["rev-parse", "--git-dir"]).map(|d| PathBuf::from(d).join("HEAD")),
        git(&["rev-parse", "--git-common-dir"]).map(|d| PathBuf::from(d).join("refs/heads")),
    ];
    for path in dirs.into_iter().flatten().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
