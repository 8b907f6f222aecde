//! The code's own rules, checked on every run (as rust-analyzer's `tidy.rs` does): every
//! source file says what it owns in a `//!` header; only `src/server` knows HTTP (axum,
//! hyper, status codes); services never import the server; `media` never touches tokio,
//! the store or the catalog; only the SQLite module names rusqlite.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The file's lines with comments (`//…` to the end of the line) removed.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            let code = match l.find("//") {
                // A `//` inside a string literal (a URL) is code, not a comment.
                Some(at) if l[..at].matches('"').count() % 2 == 0 => &l[..at],
                _ => l,
            };
            (i + 1, code.to_string())
        })
        .collect()
}

fn rel(path: &Path) -> String {
    path.strip_prefix(src().parent().unwrap()).unwrap().display().to_string()
}

/// Every line under `dir` (except `allowed` files) that names one of `words` in code.
fn offenders(dir: &Path, words: &[&str], allowed: &[&str]) -> Vec<String> {
    let mut bad = Vec::new();
    for f in sources(dir) {
        let r = rel(&f);
        if allowed.iter().any(|a| r.starts_with(a)) {
            continue;
        }
        for (n, line) in code_lines(&f) {
            for w in words {
                if line.contains(w) {
                    bad.push(format!("{r}:{n}: {w}: {}", line.trim()));
                }
            }
        }
    }
    bad
}

#[test]
fn every_source_file_starts_with_its_module_header() {
    let missing: Vec<String> = sources(&src())
        .into_iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            !text.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| l.starts_with("//!"))
        })
        .map(|f| rel(&f))
        .collect();
    assert!(missing.is_empty(), "these files lack a `//!` header saying what they own: {missing:#?}");
}

#[test]
fn only_the_server_knows_http() {
    let bad = offenders(&src(), &["axum", "hyper", "StatusCode", "http::"], &["src/server/"]);
    assert!(bad.is_empty(), "HTTP outside src/server: {bad:#?}");
}

#[test]
fn services_never_import_the_server() {
    let bad = offenders(&src().join("service"), &["crate::server", "super::server", "server::"], &[]);
    assert!(bad.is_empty(), "a service depends on the HTTP adapter: {bad:#?}");
    let bad = offenders(&src(), &["crate::server", "server::"], &["src/server/", "src/app.rs", "src/cli.rs", "src/main.rs"]);
    assert!(bad.is_empty(), "below the adapters, nothing names the server: {bad:#?}");
}

#[test]
fn media_touches_no_runtime_store_or_catalog() {
    let bad = offenders(&src().join("media"), &["tokio", "crate::store", "crate::catalog", "crate::cache"], &[]);
    assert!(bad.is_empty(), "media must stay synchronous and storage-free: {bad:#?}");
}

#[test]
fn only_the_sqlite_module_names_rusqlite() {
    let bad = offenders(&src(), &["rusqlite"], &["src/catalog/sqlite", "src/catalog/schema.rs"]);
    assert!(bad.is_empty(), "rusqlite outside the SQLite module: {bad:#?}");
}
