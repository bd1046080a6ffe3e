//! TLS terminated by Parley itself: HTTPS and `wss://` with real clients, TLS 1.2 and 1.3, a
//! plain-HTTP client refused, and the certificate reloaded (in process, and on SIGHUP with the real
//! binary) for new connections while open ones live on.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parley_testkit::process::ParleyProcess;
use parley_testkit::tls::TestCa;
use parley_testkit::ws::WsClient;
use parley_testkit::{TestGateway, http, scratch_dir};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_parley");

async fn ready_over_tls(
    addr: std::net::SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> anyhow::Result<u16> {
    let response = http::request_tls(
        addr,
        tls,
        "localhost",
        hyper::Method::GET,
        "/health/ready",
        None,
    )
    .await?;
    Ok(response.status.as_u16())
}

fn tls12_only(ca: &TestCa) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca.pem().as_bytes()) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

#[tokio::test]
async fn https_and_wss_with_a_reloadable_certificate() -> anyhow::Result<()> {
    let dir = scratch_dir("tls-gateway")?;
    let first = TestCa::new("First CA")?;
    let files = first.server(&["localhost", "127.0.0.1"], &dir, "server", None)?;
    let (cert, key) = (files.cert.clone(), files.key.clone());
    let gw = TestGateway::start_with(move |c| {
        c.server.tls_cert = cert;
        c.server.tls_key = key;
    })
    .await?;
    let addr = gw.addr();
    let trust_first = first.client_config()?;
    assert_eq!(ready_over_tls(addr, Arc::clone(&trust_first)).await?, 200);
    assert_eq!(
        ready_over_tls(addr, tls12_only(&first)?).await?,
        200,
        "TLS 1.2 too"
    );

    // The whole path over TLS: sign up over HTTPS, then a message over wss://.
    let body = json!({"username": "tls_ann", "password": "password123"});
    let signed = http::request_tls(
        addr,
        Arc::clone(&trust_first),
        "localhost",
        hyper::Method::POST,
        "/api/auth/register",
        Some(&body),
    )
    .await?;
    assert_eq!(signed.status, 201, "{}", signed.body);
    let token = signed.body["data"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut socket =
        WsClient::authed_tls("localhost", addr.port(), Arc::clone(&trust_first), &token).await?;
    let pong = socket.ask("ping", "p1", json!({})).await?;
    assert_eq!(pong["event"], "pong");

    // A plain HTTP client on the TLS port gets nowhere.
    assert!(
        http::get(addr, "/health/live").await.is_err(),
        "plain HTTP is refused"
    );

    // A new certificate from another CA: new connections get it, the open socket lives on.
    let second = TestCa::new("Second CA")?;
    second.server(&["localhost"], &dir, "next", None)?;
    std::fs::rename(dir.join("next.crt"), &files.cert)?;
    std::fs::rename(dir.join("next.key"), &files.key)?;
    gw.gateway().reload_tls()?;
    assert_eq!(ready_over_tls(addr, second.client_config()?).await?, 200);
    // (A fresh client: one that resumes an earlier session is not shown a certificate again.)
    assert!(
        ready_over_tls(addr, first.client_config()?).await.is_err(),
        "the old CA no longer matches"
    );
    let pong = socket.ask("ping", "p2", json!({})).await?;
    assert_eq!(
        pong["event"], "pong",
        "the socket opened before the reload is untouched"
    );

    // A broken file is refused and the current certificate kept.
    std::fs::write(&files.cert, "not a certificate")?;
    assert!(gw.gateway().reload_tls().is_err());
    assert_eq!(ready_over_tls(addr, second.client_config()?).await?, 200);
    Ok(())
}

#[tokio::test]
async fn the_binary_reloads_its_certificate_on_sighup() -> anyhow::Result<()> {
    let dir = scratch_dir("tls-sighup")?;
    let first = TestCa::new("First CA")?;
    let files = first.server(&["localhost", "127.0.0.1"], &dir, "server", None)?;
    let data = dir.join("data").display().to_string();
    let (cert, key) = (
        files.cert.display().to_string(),
        files.key.display().to_string(),
    );
    let parley = ParleyProcess::serve(
        Path::new(BIN),
        &["--listen", "127.0.0.1:0", "--shards", "1"],
        &[
            ("PARLEY_DATA_DIR", data.as_str()),
            ("PARLEY_SERVER__TLS_CERT", cert.as_str()),
            ("PARLEY_SERVER__TLS_KEY", key.as_str()),
        ],
        Duration::from_secs(120),
    )?;
    let mut ready = 0;
    for _ in 0..100 {
        ready = ready_over_tls(parley.addr, first.client_config()?)
            .await
            .unwrap_or(0);
        if ready == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 200);
    let second = TestCa::new("Second CA")?;
    second.server(&["localhost"], &dir, "next", None)?;
    std::fs::rename(dir.join("next.crt"), &files.cert)?;
    std::fs::rename(dir.join("next.key"), &files.key)?;
    parley.signal("HUP")?;
    let mut reloaded = false;
    for _ in 0..50 {
        if ready_over_tls(parley.addr, second.client_config()?)
            .await
            .unwrap_or(0)
            == 200
        {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reloaded, "SIGHUP reloaded the certificate");
    parley.signal("TERM")?;
    let (status, stderr) = parley.wait(Duration::from_secs(60))?;
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("TLS certificate reloaded"), "{stderr}");
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
