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

/// Runs `make(n)` for every `n` below `count` as tasks, `width` at a time (set-up calls and
/// handshakes: enough in flight to be quick, few enough not to swamp the server); results in
/// order, the first error ends it.
pub(crate) async fn in_batches<T, Fut>(
    count: usize,
    width: usize,
    mut make: impl FnMut(usize) -> Fut,
) -> anyhow::Result<Vec<T>>
where
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut out = Vec::with_capacity(count);
    let mut start = 0;
    while start < count {
        let end = (start + width.max(1)).min(count);
        let tasks: Vec<_> = (start..end).map(|n| tokio::spawn(make(n))).collect();
        for task in tasks {
            out.push(task.await??);
        }
        start = end;
    }
    Ok(out)
}

/// Signs up `count` users named `<prefix>_<n>`, 16 at a time (password hashing is the slow
/// part); returns (user id, access token) in order.
pub(crate) async fn register_many(
    addr: SocketAddr,
    prefix: &str,
    count: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    in_batches(count, 16, |n| {
        let name = format!("{prefix}_{n}");
        async move { register(addr, &name).await }
    })
    .await
}

/// A kept-alive HTTP/1.1 connection for repeated GETs.
pub(crate) struct Conn {
    addr: SocketAddr,
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    pub(crate) async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self { addr, sender })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// GET `path`: (status, JSON body or null).
    pub(crate) async fn get(&mut self, path: &str, token: &str) -> anyhow::Result<(u16, Value)> {
        self.request(hyper::Method::GET, path, token, None).await
    }

    /// Any method, with an optional JSON body: (status, JSON body or null).
    pub(crate) async fn request(
        &mut self,
        method: hyper::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        self.sender.ready().await?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        if !token.is_empty() {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        let response = self
            .sender
            .send_request(request.body(Full::new(body))?)
            .await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}
