//! A minimal HTTP/1.1 client for tests: one connection per request, JSON bodies, no redirects.

use std::net::SocketAddr;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A response with its body parsed as JSON (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct JsonResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub raw: Bytes,
}

/// Sends one request to `addr` and reads the whole response.
pub async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> anyhow::Result<JsonResponse> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    request_on(stream, addr, method, path, headers, body).await
}

/// Like [`request`], with a raw body (no `content-type` unless `headers` names one).
pub async fn request_bytes(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> anyhow::Result<JsonResponse> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    send_on(stream, addr, method, path, headers, Some(body)).await
}

/// Like [`request`], from the local address `source` (any of 127.0.0.0/8: a different client).
pub async fn request_from(
    source: std::net::IpAddr,
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> anyhow::Result<JsonResponse> {
    let stream = crate::raw::connect_from(source, addr)
        .await
        .with_context(|| format!("connecting to {addr} from {source}"))?;
    request_on(stream, addr, method, path, headers, body).await
}

/// Like [`request`], over TLS with `tls` (which decides what server certificate is trusted),
/// checking the certificate for `server_name`.
pub async fn request_tls(
    addr: SocketAddr,
    tls: std::sync::Arc<rustls::ClientConfig>,
    server_name: &str,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<JsonResponse> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, stream)
        .await
        .context("TLS handshake")?;
    request_on(stream, addr, method, path, &[], body).await
}

/// One request over a stream the caller opened (TLS, from a chosen source address, ...).
pub async fn request_on<S>(
    stream: S,
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> anyhow::Result<JsonResponse>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let payload = match body {
        Some(value) => Some(Bytes::from(serde_json::to_vec(value)?)),
        None => None,
    };
    let mut json = headers.to_vec();
    if payload.is_some() {
        json.push(("content-type", "application/json"));
    }
    send_on(stream, addr, method, path, &json, payload).await
}

async fn send_on<S>(
    stream: S,
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Bytes>,
) -> anyhow::Result<JsonResponse>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = sender
        .send_request(builder.body(Full::new(body.unwrap_or_default()))?)
        .await?;
    let status = response.status();
    let headers = response.headers().clone();
    let raw = response.into_body().collect().await?.to_bytes();
    let body = serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null);
    Ok(JsonResponse {
        status,
        headers,
        body,
        raw,
    })
}

/// `GET path`.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<JsonResponse> {
    request(addr, Method::GET, path, &[], None).await
}
