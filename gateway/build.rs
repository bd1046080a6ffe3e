//! Embeds the built web client (`web/dist`, made by `scripts/web.sh build`) into the binary, so
//! `parley serve` serves it from any working directory. Without a build there, the binary embeds
//! nothing and serves the API only (or `server.web_dir`). Source maps stay out.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = manifest.join("../web");
    let dist = web.join("dist");
    // `web/` changes when dist appears or goes; dist itself when Vite rebuilds it.
    println!("cargo:rerun-if-changed={}", web.display());
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        println!("cargo:rerun-if-changed={}", dist.display());
        collect(&dist, &dist, &mut files);
    }
    files.sort();
    let mut code = String::from("/// The web client built into this binary: (URL path, bytes).\n");
    code.push_str("pub(crate) static EMBEDDED: &[(&str, &[u8])] = &[\n");
    for (url, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            code,
            "    ({url:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("web_assets.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(root, &path, out);
        } else if path.extension().is_none_or(|e| e != "map") {
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let url = format!("/{}", relative.to_string_lossy().replace('\\', "/"));
            out.push((url, path.canonicalize().unwrap_or(path.clone())));
        }
    }
}
