//! The web client's files, built by Vite: the build embedded in the binary (`build.rs`), or
//! `server.web_dir` read into memory once at start; served at `/`: hashed assets cached for a year, `index.html` revalidated every time, and any
//! other path that is not a file (a client-side route) answered with `index.html`. A file the
//! build also compressed (`NAME.br`, `NAME.gz`, made by the web build) goes out compressed when
//! the request's `Accept-Encoding` takes it (brotli first), with `Vary: Accept-Encoding`; the
//! compressed copies and source maps are never served under their own names. Every file goes
//! out with a strict Content-Security-Policy (scripts and styles from this origin only, no inline
//! script, no framing), `nosniff`, no referrer and no opener sharing.

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;
use hyper::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY as CONTENT_SECURITY_POLICY_HEADER,
    CONTENT_TYPE, HeaderValue, REFERRER_POLICY, VARY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Response, StatusCode};

use crate::http::HttpResponse;

/// The policy of every page: only this origin's scripts, styles, images and sockets (`'self'`
/// covers `ws:`/`wss:` to the same host), no plugins, no `<base>`, never inside a frame.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; \
    manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Largest web client accepted (all files together); a bigger directory is refused at start.
const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug)]
struct File {
    body: Bytes,
    content_type: &'static str,
}

/// The files, by URL path (`/index.html`, `/assets/index-1a2b.js`).
#[derive(Debug, Default)]
pub struct WebAssets {
    files: HashMap<String, File>,
}

/// Why the web client could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("could not read the web client in {dir}: {source}")]
    Read {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the web client in {0} is larger than 64 MiB")]
    TooLarge(String),
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

impl WebAssets {
    /// The web client built into this binary (empty if it was built without one).
    pub fn embedded() -> Self {
        let files = embedded::EMBEDDED
            .iter()
            .map(|(url, body)| {
                let file = File {
                    body: Bytes::from_static(body),
                    content_type: content_type(Path::new(url)),
                };
                ((*url).to_owned(), file)
            })
            .collect();
        Self { files }
    }

    /// Reads every file under `dir`. A missing directory gives an empty set (no web client).
    pub fn load(dir: &Path) -> Result<Self, WebError> {
        let mut assets = Self::default();
        if dir.as_os_str().is_empty() || !dir.is_dir() {
            return Ok(assets);
        }
        let mut total = 0u64;
        let mut stack = vec![dir.to_path_buf()];
        let read_error = |source| WebError::Read {
            dir: dir.display().to_string(),
            source,
        };
        while let Some(current) = stack.pop() {
            for entry in std::fs::read_dir(&current).map_err(read_error)? {
                let path = entry.map_err(read_error)?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let body = std::fs::read(&path).map_err(read_error)?;
                total += body.len() as u64;
                if total > MAX_TOTAL_BYTES {
                    return Err(WebError::TooLarge(dir.display().to_string()));
                }
                let Ok(relative) = path.strip_prefix(dir) else {
                    continue;
                };
                let url = format!("/{}", relative.to_string_lossy().replace('\\', "/"));
                assets.files.insert(
                    url,
                    File {
                        body: Bytes::from(body),
                        content_type: content_type(&path),
                    },
                );
            }
        }
        Ok(assets)
    }

    /// Whether a web client was found.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The answer to `GET path` (compressed as `accept_encoding` allows), or `None` when there is
    /// no web client.
    pub(crate) fn serve(&self, path: &str, accept_encoding: Option<&str>) -> Option<HttpResponse> {
        self.files.get("/index.html")?;
        let hidden = path.ends_with(".br") || path.ends_with(".gz") || path.ends_with(".map");
        let (url, immutable) = match self.files.get(path) {
            Some(_) if path != "/index.html" && !hidden => (path, path.starts_with("/assets/")),
            _ => ("/index.html", false),
        };
        let file = self.files.get(url)?;
        let variants = [("br", ".br"), ("gzip", ".gz")];
        let compressed = variants.iter().find_map(|(coding, suffix)| {
            let copy = self.files.get(&format!("{url}{suffix}"))?;
            accepts(accept_encoding.unwrap_or_default(), coding).then_some((*coding, copy))
        });
        let has_variants = variants
            .iter()
            .any(|(_, suffix)| self.files.contains_key(&format!("{url}{suffix}")));
        let body = compressed.map_or(&file.body, |(_, copy)| &copy.body);
        let mut response = Response::new(crate::body::Body::full(body.clone()));
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(file.content_type));
        if let Some((coding, _)) = compressed {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        if has_variants {
            headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
        }
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(
            CONTENT_SECURITY_POLICY_HEADER,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(
            "cross-origin-opener-policy",
            HeaderValue::from_static("same-origin"),
        );
        headers.insert(
            "permissions-policy",
            HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
        );
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static(if immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            }),
        );
        Some(response)
    }
}

/// Whether an `Accept-Encoding` value takes `coding` (listed, or `*`, and not with `q=0`).
fn accepts(header: &str, coding: &str) -> bool {
    let mut star = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        if name.eq_ignore_ascii_case(coding) {
            return !refused;
        }
        if name == "*" {
            star = Some(!refused);
        }
    }
    star.unwrap_or(false)
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::accepts;

    #[test]
    fn accept_encoding_is_read_as_the_rfc_says() {
        for (header, coding, expected) in [
            ("gzip, deflate, br", "br", true),
            ("gzip, deflate, br", "gzip", true),
            ("gzip", "br", false),
            ("br;q=0, gzip", "br", false),
            ("br;q=0.5", "br", true),
            ("*", "br", true),
            ("*;q=0", "gzip", false),
            ("identity", "gzip", false),
            ("", "br", false),
            ("BR", "br", true),
        ] {
            assert_eq!(accepts(header, coding), expected, "{header} / {coding}");
        }
    }
}
