//! docs/ARCHITECTURE.md states each crate's dependencies among ours; this reads the crate graph
//! with `cargo metadata` and fails when the document and the graph differ, in either direction.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The workspace's crates by directory name (`crates/<name>`), each with its normal
/// dependencies among them (what tests or builds alone use does not count).
fn actual_graph(root: &Path) -> Graph {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let directory = |manifest: &str| {
        Path::new(manifest)
            .parent()
            .and_then(Path::file_name)
            .and_then(|name| name.to_str())
            .unwrap()
            .to_owned()
    };
    let by_package: BTreeMap<&str, String> = packages
        .iter()
        .map(|package| {
            (
                package["name"].as_str().unwrap(),
                directory(package["manifest_path"].as_str().unwrap()),
            )
        })
        .collect();
    packages
        .iter()
        .map(|package| {
            let deps = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dep| dep["kind"].is_null())
                .filter_map(|dep| by_package.get(dep["name"].as_str().unwrap()).cloned())
                .collect();
            (by_package[package["name"].as_str().unwrap()].clone(), deps)
        })
        .collect()
}

/// The graph as the document's `<!-- crate graph -->` block states it.
fn documented_graph(document: &str) -> Graph {
    let (_, after) = document
        .split_once("<!-- crate graph -->")
        .expect("docs/ARCHITECTURE.md has a `<!-- crate graph -->` block");
    let block = after
        .split_once("```text\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("the crate graph is a ```text block");
    block
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (name, deps) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("`{line}` is not `crate: dependencies`"));
            let deps = deps
                .split_whitespace()
                .filter(|dep| *dep != "(none)")
                .map(str::to_owned)
                .collect();
            (name.trim().to_owned(), deps)
        })
        .collect()
}

#[test]
fn the_architecture_document_states_the_crate_graph_as_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let document = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let documented = documented_graph(&document);
    let actual = actual_graph(&root);
    let crates: BTreeSet<&String> = documented.keys().chain(actual.keys()).collect();
    let mut wrong = Vec::new();
    for name in crates {
        match (documented.get(name), actual.get(name)) {
            (None, _) => wrong.push(format!("{name} is a crate the document leaves out")),
            (_, None) => wrong.push(format!("{name} is in the document but is no crate")),
            (Some(said), Some(is)) if said != is => {
                let missing: Vec<_> = is.difference(said).collect();
                let extra: Vec<_> = said.difference(is).collect();
                wrong.push(format!(
                    "{name}: the document leaves out {missing:?} and names {extra:?} that it does not use"
                ));
            }
            _ => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/ARCHITECTURE.md's crate graph is not the crate graph:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_graph_reader_sees_a_missing_edge() {
    let document = "<!-- crate graph -->\n```text\ncore: (none)\nstore: core clock\n```\n";
    let graph = documented_graph(document);
    assert_eq!(graph["core"], BTreeSet::new());
    assert_eq!(
        graph["store"],
        ["clock", "core"].map(str::to_owned).into_iter().collect()
    );
}
