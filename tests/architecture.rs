//! ARCHITECTURE.md is a map a newcomer trusts (issue 22, item 7): at most 25 KB, and every
//! test it names as the proof of an invariant exists under that name, so a renamed or
//! removed test cannot leave the map pointing at nothing.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file of the repository's crates and tests, as paths relative to its root.
fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path.strip_prefix(repo()).unwrap().to_string_lossy().replace('\\', "/");
            out.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// `a{b,c}d` as `abd`, `acd` (one brace group at most, as the map writes them).
fn expand(text: &str) -> Vec<String> {
    match (text.find('{'), text.find('}')) {
        (Some(open), Some(close)) if open < close => text[open + 1..close]
            .split(',')
            .map(|part| format!("{}{part}{}", &text[..open], &text[close + 1..]))
            .collect(),
        _ => vec![text.to_string()],
    }
}

#[test]
fn the_map_is_at_most_25_kb_and_every_test_it_names_exists() {
    let map = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    assert!(map.len() <= 25_000, "ARCHITECTURE.md is {} bytes: a map is at most 25 000", map.len());
    let mut files = Vec::new();
    for dir in ["crates", "tests"] {
        sources(&repo().join(dir), &mut files);
    }
    let named: Vec<&str> = map.split('`').skip(1).step_by(2).filter(|s| s.contains(".rs::")).collect();
    assert!(named.len() >= 20, "the map names its tests: found {named:?}");
    let mut missing = Vec::new();
    for reference in named {
        let (path, test) = reference.split_once("::").unwrap();
        for path in expand(path) {
            for test in expand(test) {
                let found = files.iter().filter(|(name, _)| name == &path || name.ends_with(&format!("/{path}"))).any(
                    |(_, text)| match test.strip_suffix('*') {
                        Some(prefix) => text.contains(&format!("fn {prefix}")),
                        None => {
                            ["(", "<"].iter().any(|c| text.contains(&format!("fn {test}{c}")))
                                || text.contains(&format!("mod {test} "))
                        }
                    },
                );
                if !found {
                    missing.push(format!("{path}::{test}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "ARCHITECTURE.md names tests that do not exist: {missing:#?}");
}
