//! Set-up through the public REST API: sign-ups and groups.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

async fn post(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> anyhow::Result<Value> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = Request::post(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body.to_string())))?)
        .await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "POST {path}: {status} {value} (run Parley with PARLEY_LIMITS__ENABLED=false for load tests)"
        );
    }
    Ok(value)
}

/// Signs up `username`; returns (user id, access token).
pub(crate) async fn register(addr: SocketAddr, username: &str) -> anyhow::Result<(String, String)> {
    let body = post(
        addr,
        "/api/auth/register",
        None,
        &json!({"username": username, "password": "loadtest-password"}),
    )
    .await?;
    let id = body["data"]["user"]["id"]
        .as_str()
        .context("user id")?
        .to_owned();
    let token = body["data"]["accessToken"]
        .as_str()
        .context("token")?
        .to_owned();
    Ok((id, token))
}

/// Creates a group; returns its id.
pub(crate) async fn group(
    addr: SocketAddr,
    owner_token: &str,
    name: &str,
    members: &[&str],
) -> anyhow::Result<String> {
    let body = post(
        addr,
        "/api/conversations",
        Some(owner_token),
        &json!({"type": "group", "name": name, "memberIds": members}),
    )
    .await?;
    Ok(body["data"]["id"]
        .as_str()
        .context("conversation id")?
        .to_owned())
}
