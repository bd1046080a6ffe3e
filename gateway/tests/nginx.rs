//! The documented nginx configuration (`config/nginx-parley.conf`, Debian's nginx) in front of a
//! real Parley: TLS at nginx, HTTP and `wss://` proxied through, and the client's address passed
//! on and believed because nginx is a trusted proxy.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use parley_testkit::tls::{TestCa, free_port};
use parley_testkit::ws::WsClient;
use parley_testkit::{TestGateway, http, scratch_dir};
use serde_json::json;

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts nginx in the foreground, one process, everything under `dir`.
fn start_nginx(dir: &Path, site: &str) -> anyhow::Result<Nginx> {
    let conf = dir.join("nginx.conf");
    let prefix = dir.display();
    std::fs::write(dir.join("parley.conf"), site)?;
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log {prefix}/access.log;\n  client_body_temp_path {prefix}/body;\n\
               proxy_temp_path {prefix}/proxy;\n  include {prefix}/parley.conf;\n}}\n"
        ),
    )?;
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| {
            anyhow::anyhow!("nginx is not installed (scripts/setup.sh proxy installs it)")
        })?;
    let child = Command::new(nginx)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(Nginx(child))
}

#[tokio::test]
async fn nginx_terminates_tls_and_proxies_http_and_websockets() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1".parse().expect("cidr")];
    })
    .await?;
    let dir = scratch_dir("nginx")?;
    let ca = TestCa::new("Proxy CA")?;
    let files = ca.server(&["localhost"], &dir, "site", None)?;
    let port = free_port()?;
    let documented = include_str!("../../config/nginx-parley.conf");
    let site = documented
        .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"))
        .replace("server_name chat.example.com;", "server_name localhost;")
        .replace(
            "/etc/letsencrypt/live/chat.example.com/fullchain.pem",
            &files.cert.display().to_string(),
        )
        .replace(
            "/etc/letsencrypt/live/chat.example.com/privkey.pem",
            &files.key.display().to_string(),
        )
        .replace("server 127.0.0.1:8080;", &format!("server {};", gw.addr()));
    assert_ne!(site, documented, "the test runs the documented file");
    let _nginx = start_nginx(&dir, &site)?;
    let proxy: std::net::SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let tls: Arc<rustls::ClientConfig> = ca.client_config()?;

    let mut ready = 0;
    for _ in 0..100 {
        ready = http::request_tls(
            proxy,
            Arc::clone(&tls),
            "localhost",
            hyper::Method::GET,
            "/health/ready",
            None,
        )
        .await
        .map(|r| r.status.as_u16())
        .unwrap_or(0);
        if ready == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 200, "Parley ready through nginx");

    // A sign-up through nginx from a client at 127.0.0.7: Parley records that address.
    let client = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7));
    let stream = parley_testkit::raw::connect_from(client, proxy).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    let stream = tokio_rustls::TlsConnector::from(Arc::clone(&tls))
        .connect(name, stream)
        .await?;
    let body = json!({"username": "via_nginx", "password": "password123"});
    let signed = http::request_on(
        stream,
        proxy,
        hyper::Method::POST,
        "/api/auth/register",
        &[],
        Some(&body),
    )
    .await?;
    assert_eq!(signed.status, 201, "{}", signed.body);
    let token = signed.body["data"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let sessions = gw
        .api()
        .get_with_token("/api/auth/sessions", &token)
        .await?;
    assert_eq!(
        sessions.body["data"][0]["ipAddress"], "127.0.0.7",
        "the client's address, from a trusted proxy: {}",
        sessions.body
    );

    // A WebSocket through nginx: authenticated, answered, messages flow.
    let mut socket = WsClient::authed_tls("localhost", port, Arc::clone(&tls), &token).await?;
    let pong = socket.ask("ping", "p", json!({})).await?;
    assert_eq!(pong["event"], "pong");
    let other = gw.api().register("nginx_peer").await?;
    let me = parley_testkit::TestUser {
        id: signed.body["data"]["user"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        username: "via_nginx".to_owned(),
        access_token: token.clone(),
        refresh_token: String::new(),
    };
    let conv = gw.api().dm(&me, &other).await?;
    socket
        .send_message("m", &conv, "c1", "through the proxy")
        .await?;
    let sent = socket.expect("message:sent").await?;
    assert_eq!(sent["data"]["message"]["content"], "through the proxy");
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}
