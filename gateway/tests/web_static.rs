//! The web client served at `/` from `server.web_dir`: files with their types, hashed assets
//! cached for a year, precompressed copies by Accept-Encoding (never by their own names, nor
//! source maps), `index.html` revalidated, client-side routes answered with `index.html`,
//! security headers (CSP, frame and referrer policy) on every page, and the API's own 404s
//! untouched.

use parley_testkit::TestGateway;
use parley_testkit::http;

#[tokio::test]
async fn serves_the_built_client_with_cache_headers_and_fallback() -> anyhow::Result<()> {
    let dir = parley_testkit::cluster::scratch_dir("web")?;
    std::fs::create_dir_all(dir.join("assets"))?;
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>Parley</title>",
    )?;
    std::fs::write(dir.join("assets/index-1a2b.js"), "console.log(1)")?;
    std::fs::write(dir.join("assets/index-1a2b.js.map"), "{}")?;
    std::fs::write(dir.join("assets/big-1a2b.js"), "x".repeat(4000))?;
    std::fs::write(dir.join("assets/big-1a2b.js.br"), "brotli bytes")?;
    std::fs::write(dir.join("assets/big-1a2b.js.gz"), "gzip bytes")?;
    let web_dir = dir.clone();
    let gw = TestGateway::start_with(move |c| {
        c.server.web_client = true;
        c.server.web_dir = web_dir;
    })
    .await?;

    let index = http::get(gw.addr(), "/").await?;
    assert_eq!(index.status, 200);
    assert_eq!(index.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(index.headers["cache-control"], "no-cache");
    assert!(String::from_utf8_lossy(&index.raw).contains("<title>Parley</title>"));
    // Hardened: a strict policy (no inline script, no framing), no sniffing, no referrer.
    let csp = index.headers["content-security-policy"].to_str()?;
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(index.headers["x-frame-options"], "DENY");
    assert_eq!(index.headers["referrer-policy"], "no-referrer");
    assert_eq!(index.headers["x-content-type-options"], "nosniff");

    let asset = http::get(gw.addr(), "/assets/index-1a2b.js").await?;
    assert_eq!(asset.status, 200);
    assert_eq!(
        asset.headers["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        asset.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(asset.headers["x-content-type-options"], "nosniff");

    // A precompressed copy goes out when the client takes it, brotli first; never by its name.
    let accept = |value: &'static str| {
        let addr = gw.addr();
        async move {
            http::request(
                addr,
                hyper::Method::GET,
                "/assets/big-1a2b.js",
                &[("accept-encoding", value)],
                None,
            )
            .await
        }
    };
    let br = accept("gzip, deflate, br").await?;
    assert_eq!(br.headers["content-encoding"], "br");
    assert_eq!(br.headers["vary"], "accept-encoding");
    assert_eq!(br.headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(&br.raw[..], b"brotli bytes");
    let gz = accept("gzip").await?;
    assert_eq!(gz.headers["content-encoding"], "gzip");
    assert_eq!(&gz.raw[..], b"gzip bytes");
    let plain = accept("br;q=0, identity").await?;
    assert!(plain.headers.get("content-encoding").is_none());
    assert_eq!(plain.raw.len(), 4000);
    for path in [
        "/assets/big-1a2b.js.br",
        "/assets/big-1a2b.js.gz",
        "/assets/index-1a2b.js.map",
    ] {
        let page = http::get(gw.addr(), path).await?;
        assert!(
            String::from_utf8_lossy(&page.raw).contains("<title>Parley</title>"),
            "{path} served by its own name"
        );
    }

    // A client-side route is the app; so is a path that tries to climb out of the directory.
    for path in [
        "/conversations/conv_1",
        "/../Cargo.toml",
        "/assets/../../etc/passwd",
    ] {
        let page = http::get(gw.addr(), path).await?;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            String::from_utf8_lossy(&page.raw).contains("<title>Parley</title>"),
            "{path}"
        );
    }
    // The API keeps its JSON errors.
    let api = http::get(gw.addr(), "/api/nope").await?;
    assert_eq!(api.status, 404);
    assert_eq!(api.body["error"]["code"], "NOT_FOUND");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test]
async fn the_build_inside_the_binary_is_served_from_any_working_directory() -> anyhow::Result<()> {
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/dist/index.html");
    let gw = TestGateway::start_with(|c| c.server.web_client = true).await?;
    let index = http::get(gw.addr(), "/").await?;
    match std::fs::read(&built) {
        // `make test` builds the web client before the tests are compiled: it is embedded.
        Ok(expected) => {
            assert_eq!(index.status, 200);
            assert_eq!(
                index.raw.as_ref(),
                expected.as_slice(),
                "the embedded build"
            );
            assert!(index.headers.contains_key("content-security-policy"));
            let route = http::get(gw.addr(), "/conversations/conv_1").await?;
            assert_eq!(
                route.raw.as_ref(),
                expected.as_slice(),
                "client routes get the app"
            );
        }
        // Compiled without a web build: the API only.
        Err(_) => assert_eq!(index.status, 404),
    }
    Ok(())
}

#[tokio::test]
async fn without_a_web_client_the_root_is_a_plain_404() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.server.web_client = false).await?;
    let root = http::get(gw.addr(), "/").await?;
    assert_eq!(root.status, 404);
    assert_eq!(root.body["error"]["code"], "NOT_FOUND");
    Ok(())
}
