//! House-style checks over the whole workspace: every Rust file opens with a `//!` line saying
//! what it owns, and stays a readable size.

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | "node_modules" | ".git")
                && !name.starts_with('.')
            {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_says_what_it_owns_and_stays_small() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 10, "found only {files:?}");
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        if !text.starts_with("//!") {
            problems.push(format!(
                "{}: does not open with a `//!` line",
                file.display()
            ));
        }
        let lines = text.lines().count();
        if lines > MAX_LINES {
            problems.push(format!(
                "{}: {lines} lines (split it; limit {MAX_LINES})",
                file.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The event names of `gateway/src/protocol/events.rs` (`const NAME: &str = "...";`).
fn event_names(root: &Path) -> Vec<String> {
    let table = std::fs::read_to_string(root.join("gateway/src/protocol/events.rs"))
        .expect("the event table exists");
    table
        .lines()
        .filter(|line| line.contains(": &str = \""))
        .filter_map(|line| line.split('"').nth(1).map(str::to_owned))
        .collect()
}

#[test]
fn event_names_are_declared_once_in_the_protocol_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let names = event_names(&root);
    assert!(names.len() > 30, "{names:?}");
    // Bare words like "auth" or "error" mean other things elsewhere (route tags, log fields);
    // every namespaced name, and the bare names that are only events, are checked.
    let checked: Vec<String> = names
        .into_iter()
        .filter(|n| n.contains(':') || matches!(n.as_str(), "pong" | "subscribed" | "unsubscribed"))
        .collect();
    let mut files = Vec::new();
    rust_files(&root.join("gateway/src"), &mut files);
    let mut problems = Vec::new();
    for file in files {
        if file.components().any(|c| c.as_os_str() == "protocol") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        for name in &checked {
            if text.contains(&format!("\"{name}\"")) {
                problems.push(format!(
                    "{}: the event name \"{name}\" belongs in protocol::events",
                    file.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
