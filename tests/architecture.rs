//! The one-way rule, checked: the top-level modules of `src/` import each other without
//! a cycle, each imports only modules docs/architecture.md lists before it (leaves, then
//! servers, then the stages), and the dependency table there is the one read from the
//! code.
//!
//! Imports are read from the source text: every `crate::NAME` path and every name in a
//! `use crate::{…}` group. Test code (`#[cfg(test)]` items and the modules they declare,
//! `tests.rs`, `tests/` folders) is left out: a test may build on anything.
//! `GATEBENCH_BLESS=1 cargo test --release --test architecture` rewrites the table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules it imports.
type Graph = BTreeMap<String, BTreeSet<String>>;

const DOC: &str = "docs/architecture.md";
const BEGIN: &str = "<!-- module-deps begin";
const END: &str = "<!-- module-deps end -->";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Source text without comments, test items and string contents that could look like paths.
fn code_without_tests(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" {
            i = end_of_item(&lines, i + 1);
            continue;
        }
        out.push_str(lines[i]);
        out.push('\n');
        i += 1;
    }
    out
}

/// The index of the line after the item that starts at `start`: up to its `;` when that
/// comes before any `{`, else to the brace that closes its block.
fn end_of_item(lines: &[&str], start: usize) -> usize {
    let mut depth = 0i32;
    let mut opened = false;
    for (n, line) in lines.iter().enumerate().skip(start) {
        for c in line.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                ';' if !opened => return n + 1,
                _ => {}
            }
        }
        if opened && depth == 0 {
            return n + 1;
        }
    }
    lines.len()
}

/// Modules a file declares under `#[cfg(test)]` (`#[cfg(test)] mod fuzz;`).
fn test_modules(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| w[0] == "#[cfg(test)]")
        .filter_map(|w| {
            let decl = w[1]
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ");
            let name = decl.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.to_string())
        })
        .collect()
}

/// The top-level module names referenced as `crate::NAME` or inside `crate::{…}`.
fn referenced(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            names.insert(ident(rest));
            continue;
        };
        // The first name of each item at the group's own depth.
        let mut depth = 0;
        let mut item_start = true;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => item_start = true,
                c if item_start && !c.is_whitespace() => {
                    item_start = false;
                    names.insert(ident(&group[i..]));
                }
                _ => {}
            }
        }
    }
    names
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The graph of `src/`'s top-level modules, test code left out.
fn module_graph() -> Graph {
    let src = root().join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    files.sort();
    let top_of = |p: &Path| -> Option<String> {
        let rel = p.strip_prefix(&src).unwrap();
        let first = rel.components().next()?.as_os_str().to_str()?.to_string();
        let name = first.trim_end_matches(".rs").to_string();
        (name != "lib" && name != "main").then_some(name)
    };
    let modules: BTreeSet<String> = files.iter().filter_map(|p| top_of(p)).collect();
    let mut test_paths: Vec<PathBuf> = Vec::new();
    for f in &files {
        let dir = if f.file_name().unwrap() == "mod.rs" || f.parent() == Some(&src) {
            f.parent().unwrap().to_path_buf()
        } else {
            f.with_extension("")
        };
        for m in test_modules(&std::fs::read_to_string(f).unwrap()) {
            test_paths.push(dir.join(&m));
            test_paths.push(dir.join(format!("{m}.rs")));
        }
    }
    let is_test = |p: &Path| {
        p.components().any(|c| c.as_os_str() == "tests")
            || p.file_name().unwrap() == "tests.rs"
            || test_paths.iter().any(|t| p.starts_with(t))
    };
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for f in &files {
        let Some(top) = top_of(f) else { continue };
        if is_test(f.strip_prefix(&src).unwrap()) || is_test(f) {
            continue;
        }
        let code = code_without_tests(&std::fs::read_to_string(f).unwrap());
        for name in referenced(&code) {
            if name != top && modules.contains(&name) {
                graph.get_mut(&top).unwrap().insert(name);
            }
        }
    }
    graph
}

/// A cycle through `graph`, if there is one (depth-first search).
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in &graph[node] {
            if let Some(c) = visit(graph, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(graph, n, &mut Vec::new(), &mut done))
}

/// The Markdown table docs/architecture.md carries between its markers.
fn table(graph: &Graph) -> String {
    let mut t = String::from("| module | imports |\n| --- | --- |\n");
    for (module, imports) in graph {
        let list = if imports.is_empty() {
            "—".to_string()
        } else {
            imports
                .iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        t.push_str(&format!("| `{module}` | {list} |\n"));
    }
    t
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let graph = module_graph();
    assert!(graph.len() > 10, "too few modules found: {graph:?}");
    if let Some(c) = cycle(&graph) {
        panic!("import cycle between top-level modules: {}", c.join(" → "));
    }
}

/// The layers docs/architecture.md lists under "## Modules", lowest first: each bullet
/// names one layer's modules (`- \`gateway/\`, \`idp/\`: …`).
fn documented_layers(doc: &str) -> Vec<Vec<String>> {
    let section = doc
        .split("\n## Modules\n")
        .nth(1)
        .expect("docs/architecture.md has no \"## Modules\" section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .map(|bullet| {
            let head = bullet.split(':').next().unwrap_or("");
            head.split(',')
                .filter_map(|m| {
                    let m = m.trim().strip_prefix('`')?.strip_suffix('`')?;
                    Some(m.trim_end_matches('/').to_string())
                })
                .collect::<Vec<_>>()
        })
        .filter(|layer| !layer.is_empty())
        .collect()
}

#[test]
fn every_module_imports_only_layers_listed_before_it() {
    let graph = module_graph();
    let doc = std::fs::read_to_string(root().join(DOC)).unwrap();
    let layers = documented_layers(&doc);
    let rank = |m: &str| layers.iter().position(|l| l.iter().any(|n| n == m));
    let mut wrong = Vec::new();
    for (module, imports) in &graph {
        let Some(own) = rank(module) else {
            wrong.push(format!("`{module}` is not listed under \"## Modules\""));
            continue;
        };
        for i in imports {
            if rank(i).is_none_or(|r| r >= own) {
                wrong.push(format!(
                    "`{module}` imports `{i}`, which is not listed before it"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{DOC}:\n{}", wrong.join("\n"));
}

#[test]
fn architecture_doc_lists_the_dependencies_read_from_the_code() {
    let path = root().join(DOC);
    let doc = std::fs::read_to_string(&path).unwrap();
    let begin = doc
        .find(BEGIN)
        .expect("docs/architecture.md lacks the module-deps markers");
    let body_start = begin + doc[begin..].find('\n').unwrap() + 1;
    let end = doc
        .find(END)
        .expect("docs/architecture.md lacks the module-deps end marker");
    let expected = table(&module_graph());
    if std::env::var_os("GATEBENCH_BLESS").is_some() {
        let updated = format!("{}{expected}{}", &doc[..body_start], &doc[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &doc[body_start..end],
        expected,
        "{DOC}'s dependency table differs from the code; \
         rerun with GATEBENCH_BLESS=1 to rewrite it"
    );
}

/// The reader itself: a `use crate::{…}` group yields each item's module, test items and
/// comments do not count.
#[test]
fn imports_are_read_from_groups_and_test_code_is_left_out() {
    let code = code_without_tests(
        "use crate::{plan::{A, B}, record, report::x};\n\
         // crate::comment\n\
         #[cfg(test)]\n\
         mod tests {\n    use crate::engine;\n}\n\
         fn f() { crate::results::open(); }\n",
    );
    let names: Vec<String> = referenced(&code).into_iter().collect();
    assert_eq!(names, ["plan", "record", "report", "results"]);
    assert_eq!(
        test_modules("#[cfg(test)]\npub(crate) mod fuzz;\nmod other;\n"),
        ["fuzz"]
    );
    let mut g = Graph::new();
    g.insert("a".into(), ["b".to_string()].into());
    g.insert("b".into(), ["a".to_string()].into());
    assert_eq!(cycle(&g).unwrap(), ["a", "b", "a"]);
    let layers = documented_layers(
        "\n## Modules\n\n- `shared/`: x\n- `gateway/`, `idp/`: y\n\n## Next\n- `z`\n",
    );
    assert_eq!(layers, [vec!["shared"], vec!["gateway", "idp"]]);
}
