//! The boundaries DESIGN.md draws, checked on the source: `domain/` is pure (no drivers, no
//! I/O, no runtime) and `tui/` reaches the databases only through the worker.

use std::path::Path;

/// Every `.rs` file under `dir` with its text.
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    out
}

/// The files under `dir` that mention any of `forbidden`, with what they mention.
fn offenders(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let files = sources(&root);
    assert!(!files.is_empty(), "no sources under {dir}");
    files
        .iter()
        .flat_map(|(path, text)| {
            forbidden
                .iter()
                .filter(|f| text.contains(*f))
                .map(move |f| format!("{path} uses {f}"))
        })
        .collect()
}

#[test]
fn the_domain_is_pure() {
    let found = offenders(
        "src/domain",
        &[
            "crate::db",
            "crate::flows",
            "crate::worker",
            "crate::tui",
            "crate::journal",
            "crate::audit",
            "crate::cli",
            "tokio",
            "rusqlite",
            "tiberius",
            "std::fs",
            "std::net",
            "std::process",
            "std::env",
        ],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_tui_talks_only_to_the_worker() {
    let found = offenders(
        "src/tui",
        &[
            "crate::db",
            "crate::flows",
            "crate::journal",
            "crate::cli",
            "rusqlite",
            "tiberius",
        ],
    );
    assert!(found.is_empty(), "{found:#?}");
}
