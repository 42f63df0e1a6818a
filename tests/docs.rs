//! The documentation stays true to the repository: every scenario file is listed in
//! docs/scenarios.md's table and validates, every relative link of every Markdown file
//! resolves (to a file, and for `#anchor`s to a heading of it), and the README's first
//! screen holds the two commands.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use common::*;

/// Lines of the README's first screen.
const FIRST_SCREEN: usize = 60;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Files below `dir` whose name ends with `suffix`, without build output, git's folder
/// and run folders under `results/`.
fn files_below(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                let name = path.file_name().unwrap();
                let run_folder = d == root().join("results");
                if name != "target" && name != ".git" && !run_folder {
                    dirs.push(path);
                }
            } else if path.to_string_lossy().ends_with(suffix) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// A link of a Markdown file: where it points, and whether it sits in a table.
struct Link {
    dest: String,
    in_table: bool,
}

/// The links and images of a Markdown document, code blocks and inline code left out.
fn links(markdown: &str) -> Vec<Link> {
    let mut out = Vec::new();
    let mut in_table = false;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Table(_)) => in_table = true,
            Event::End(TagEnd::Table) => in_table = false,
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                out.push(Link {
                    dest: dest_url.to_string(),
                    in_table,
                })
            }
            _ => {}
        }
    }
    out
}

/// GitHub's anchor of each heading: lower case, punctuation dropped, spaces to `-`,
/// repeats numbered `-1`, `-2`, ….
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut heading: Option<String> = None;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let text = heading.take().unwrap_or_default();
                let slug: String = text
                    .trim()
                    .to_lowercase()
                    .chars()
                    .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                    .map(|c| if c == ' ' { '-' } else { c })
                    .collect();
                let mut unique = slug.clone();
                let mut n = 0;
                while out.contains(&unique) {
                    n += 1;
                    unique = format!("{slug}-{n}");
                }
                out.insert(unique);
            }
            _ => {}
        }
    }
    out
}

/// Whether `dest` points inside the repository (not a URL, not mail).
fn is_relative(dest: &str) -> bool {
    !dest.contains("://") && !dest.starts_with("mailto:")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What is wrong with the relative links of the Markdown file `file`, one line each.
fn broken_links(file: &Path) -> Vec<String> {
    let text = read(file);
    let dir = file.parent().unwrap();
    let mut broken = Vec::new();
    for link in links(&text).iter().filter(|l| is_relative(&l.dest)) {
        let (path, anchor) = match link.dest.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (link.dest.as_str(), None),
        };
        let target = if path.is_empty() {
            file.to_path_buf()
        } else {
            dir.join(path)
        };
        if !target.exists() {
            broken.push(format!("{}: {}: no such file", file.display(), link.dest));
            continue;
        }
        let is_markdown = target.extension().is_some_and(|e| e == "md");
        if let (Some(anchor), true) = (anchor, is_markdown)
            && !anchors(&read(&target)).contains(anchor)
        {
            broken.push(format!(
                "{}: {}: no heading with anchor #{anchor} in {}",
                file.display(),
                link.dest,
                target.display()
            ));
        }
    }
    broken
}

#[test]
fn every_relative_markdown_link_resolves() {
    let files = files_below(root(), ".md");
    for expected in ["README.md", "docs/scenarios.md", "deploy/apim/README.md"] {
        assert!(
            files.contains(&root().join(expected)),
            "{expected} not found"
        );
    }
    let broken: Vec<String> = files.iter().flat_map(|f| broken_links(f)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_scenario_file_is_listed_in_docs_and_validates() {
    let docs = root().join("docs/scenarios.md");
    let listed: BTreeSet<PathBuf> = links(&read(&docs))
        .into_iter()
        .filter(|l| l.in_table && is_relative(&l.dest))
        .filter_map(|l| docs.parent().unwrap().join(&l.dest).canonicalize().ok())
        .collect();
    let scenarios = files_below(&root().join("scenarios"), ".toml");
    assert!(scenarios.contains(&root().join("scenarios/quickstart.toml")));
    let missing: Vec<String> = scenarios
        .iter()
        .filter(|s| !listed.contains(&s.canonicalize().unwrap()))
        .map(|s| s.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/scenarios.md's table of scenarios: {missing:?}"
    );

    let out = gatebench()
        .arg("validate")
        .args(&scenarios)
        .env("RGW_ENDPOINT", "http://127.0.0.1:7480")
        .env("RGW_ACCESS_KEY", "a")
        .env("RGW_SECRET_KEY", "b")
        .env("GATEWAY_BASE_URL", "http://127.0.0.1:8080/storage")
        .env("GATEWAY_URL", "http://127.0.0.1:8080/storage")
        .env("APIM_SUBSCRIPTION_KEY", "k")
        .env("TOKEN_URL", "http://127.0.0.1:8081/token")
        .env("CLIENT_ID", "bench")
        .env("CLIENT_SECRET", "s")
        .env("SCOPE", "storage/.default")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn readme_first_screen_has_the_two_commands() {
    let readme = read(&root().join("README.md"));
    let first_screen: Vec<&str> = readme.lines().take(FIRST_SCREEN).collect();
    for command in [
        "cargo run --release -- run scenarios/quickstart.toml",
        "cargo test --release",
    ] {
        assert!(
            first_screen.iter().any(|l| l.contains(command)),
            "README.md's first {FIRST_SCREEN} lines do not show `{command}`"
        );
    }
}

#[test]
fn anchors_follow_github() {
    let doc = "# A `summary.json` (v1)\n## Several targets: `[run] compare`\n## Notes\n## Notes\n```\n# not a heading\n```\n";
    let expected = [
        "a-summaryjson-v1",
        "several-targets-run-compare",
        "notes",
        "notes-1",
    ];
    assert_eq!(
        anchors(doc),
        expected.into_iter().map(String::from).collect()
    );
}
