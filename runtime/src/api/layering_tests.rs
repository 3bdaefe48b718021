//! The API reaches the store only through the services: no handler file
//! (test code aside) mentions `state.db` or names a store module or
//! function. Store *types* (`crate::store::status::JobStatus`, an error, a
//! row a response is made of) may still be named; a module (`use
//! crate::store::jobs;`), `self` or a function (`crate::store::now_ms()`)
//! may not. Like [`super::access_tests`], this reads the API's own source,
//! so a file added to `api/` is checked without being listed.

use std::path::{Path, PathBuf};

/// Non-test source files of the API, with their text.
fn api_sources() -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join("api");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the api folder")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| {
            !p.file_stem()
                .and_then(|s| s.to_str())
                .is_some_and(|s| s.ends_with("_tests"))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable source");
            (p, text)
        })
        .collect()
}

/// `source` with comments and `#[cfg(test)]` items blanked out, line for
/// line (so line numbers stay right).
fn without_tests_and_comments(source: &str) -> String {
    let mut out = Vec::new();
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            out.push("");
            // Blank the item the attribute is on: up to its `;`, or to the
            // brace that closes it.
            let mut depth = 0i64;
            for item in lines.by_ref() {
                out.push("");
                depth += item.matches('{').count() as i64 - item.matches('}').count() as i64;
                let done = depth <= 0 && (item.trim_end().ends_with(';') || item.trim_end().ends_with('}'));
                if done {
                    break;
                }
            }
            continue;
        }
        out.push(if trimmed.starts_with("//") { "" } else { line });
    }
    out.join("\n")
}

/// The last segments of every path in the `use`-tree or expression path
/// that starts at `text` (just after `crate::store`): `::a::{B, c::D}` gives
/// `B`, `D`; nothing after it gives `store` itself.
fn leaves(text: &str) -> Vec<String> {
    fn ident(text: &str) -> (&str, &str) {
        if let Some(rest) = text.strip_prefix('*') {
            return ("*", rest);
        }
        let end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        text.split_at(end)
    }
    fn tree(text: &str, last: &str, out: &mut Vec<String>) -> usize {
        let start = text.len();
        let rest = text.trim_start();
        let Some(rest) = rest.strip_prefix("::") else {
            out.push(last.to_string());
            return 0;
        };
        let rest = rest.trim_start();
        if let Some(mut rest) = rest.strip_prefix('{') {
            loop {
                rest = rest.trim_start();
                if let Some(after) = rest.strip_prefix('}') {
                    return start - after.len();
                }
                if let Some(after) = rest.strip_prefix(',') {
                    rest = after;
                    continue;
                }
                let (name, after) = ident(rest);
                if name.is_empty() {
                    return start - rest.len();
                }
                let used = tree(after, name, out);
                rest = &after[used..];
                // `x as y`: the alias is not a path.
                if let Some(alias) = rest.trim_start().strip_prefix("as ") {
                    rest = ident(alias.trim_start()).1;
                }
            }
        }
        let (name, after) = ident(rest);
        let used = tree(after, name, out);
        start - after[used..].len()
    }
    let mut out = Vec::new();
    tree(text, "store", &mut out);
    out
}

/// Where `source` reaches the store directly: (line, what).
fn violations(source: &str) -> Vec<(usize, String)> {
    let code = without_tests_and_comments(source);
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    for (at, _) in code.match_indices("state.db") {
        let next = code[at + "state.db".len()..].chars().next();
        if !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            found.push((line_of(at), "uses `state.db`".to_string()));
        }
    }
    for (at, _) in code.match_indices("crate::store") {
        let tail = &code[at + "crate::store".len()..];
        if tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let names: Vec<String> = leaves(tail)
            .into_iter()
            .filter(|name| matches!(name.as_str(), "self" | "*") || name.starts_with(|c: char| c.is_ascii_lowercase()))
            .collect();
        if !names.is_empty() {
            found.push((
                line_of(at),
                format!("names the store module or function `{}`", names.join("`, `")),
            ));
        }
    }
    for (at, _) in code.match_indices("crate::{") {
        let group = code[at..].split('}').next().unwrap_or_default();
        if group.split([',', '{', ' ', '\n']).any(|name| name == "store") {
            found.push((line_of(at), "imports the store module".to_string()));
        }
    }
    found.sort();
    found
}

#[test]
fn the_api_reaches_the_store_only_through_services() {
    let sources = api_sources();
    assert!(
        sources.len() > 15,
        "the api's sources were not found: {}",
        sources.len()
    );
    let mut wrong = Vec::new();
    for (path, text) in &sources {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        for (line, what) in violations(text) {
            let shown = text.lines().nth(line - 1).unwrap_or_default().trim();
            wrong.push(format!("runtime/src/api/{name}:{line}: {what}: {shown}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "the API must call a service (accounts, chat, registry, payments, webapps, signing, queue), \
         not the store:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_store_guard_tells_types_from_modules_and_calls() {
    let source = r#"
//! Docs may mention [`crate::store::jobs`].
use crate::store::status::JobStatus;
use crate::store::ledger::CURRENCY;
use crate::store::{Db, StoreError};
use crate::store::{accounts, now_ms};
use crate::store::tokens::{self, Session};
use crate::store;
use crate::{
    config,
    store,
};
use crate::store::{
    apps::App,
    chats,
};
use crate::store_of_something::now;
use crate::store::status::*;
async fn handler(state: AppState) {
    let n = crate::store::jobs::counts(&state.db).await;
    let x = state.dbx;
}
#[cfg(test)]
mod tests {
    fn t() {
        crate::store::now_ms();
        let _ = host.state.db;
    }
}
"#;
    let lines: Vec<usize> = violations(source).iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [6, 7, 8, 9, 13, 18, 20, 20], "{:?}", violations(source));
    let whats = violations(source);
    assert!(whats[0].1.contains("`accounts`, `now_ms`"), "{whats:?}");
    assert!(whats[1].1.contains("`self`"), "{whats:?}");
    assert!(
        whats[4].1.contains("`chats`") && !whats[4].1.contains("App"),
        "{whats:?}"
    );
    assert!(whats[5].1.contains("`*`"), "{whats:?}");
}
