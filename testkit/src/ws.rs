//! A WebSocket test client (tokio-tungstenite: an implementation independent of the server's):
//! connect with or without a token, send frames, and wait for the next frame with a given event.
//! Side-channel events (`notification:badge`, `presence:update`) are kept apart, so a test that
//! waits for quiet means "no other event"; `expect` and `side_events` still see them.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for an expected frame.
pub const WAIT: Duration = Duration::from_secs(10);

/// One client connection.
#[derive(Debug)]
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames read while waiting for another event, kept in order.
    backlog: Vec<Value>,
    /// Side-channel frames (badges), in order.
    side: Vec<Value>,
}

/// Events kept apart from the main stream.
const SIDE: &[&str] = &[
    "notification:badge",
    "notification:toast",
    "presence:update",
];

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub code: Option<u16>,
    pub reason: String,
}

impl WsClient {
    /// Connects to `/ws` with `Authorization: Bearer token` (or none) and extra headers.
    pub async fn connect(
        addr: SocketAddr,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut request = format!("ws://{addr}/ws").into_client_request()?;
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
        }
        for (name, value) in headers {
            let name: tokio_tungstenite::tungstenite::http::HeaderName = name.parse()?;
            request.headers_mut().insert(name, value.parse()?);
        }
        Self::open(request).await
    }

    /// Connects over TLS (`wss://host:port/ws`, `host` checked against the certificate, `tls`
    /// deciding what is trusted) with a token in the handshake, and waits for `auth:success`.
    pub async fn authed_tls(
        host: &str,
        port: u16,
        tls: std::sync::Arc<rustls::ClientConfig>,
        token: &str,
    ) -> anyhow::Result<Self> {
        let mut request = format!("wss://{host}:{port}/ws").into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let (stream, _) = tokio_tungstenite::connect_async_tls_with_config(
            request,
            None,
            false,
            Some(tokio_tungstenite::Connector::Rustls(tls)),
        )
        .await
        .context("wss connect")?;
        let mut client = Self {
            stream,
            backlog: Vec::new(),
            side: Vec::new(),
        };
        client.expect("auth:success").await?;
        Ok(client)
    }

    /// Connects to `path` (which may carry `?token=`).
    pub async fn connect_path(addr: SocketAddr, path: &str) -> anyhow::Result<Self> {
        Self::open(format!("ws://{addr}{path}").into_client_request()?).await
    }

    async fn open(
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> anyhow::Result<Self> {
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .context("websocket connect")?;
        Ok(Self {
            stream,
            backlog: Vec::new(),
            side: Vec::new(),
        })
    }

    /// Connects with a token in the handshake and waits for `auth:success`.
    pub async fn authed(addr: SocketAddr, token: &str) -> anyhow::Result<Self> {
        let mut client = Self::connect(addr, Some(token), &[]).await?;
        client.expect("auth:success").await?;
        Ok(client)
    }

    /// Sends a JSON text frame.
    pub async fn send(&mut self, frame: &Value) -> anyhow::Result<()> {
        self.send_raw(Message::text(frame.to_string())).await
    }

    /// Sends any frame as is.
    pub async fn send_raw(&mut self, message: Message) -> anyhow::Result<()> {
        self.stream.send(message).await.context("websocket send")
    }

    /// Sends `content` to `conversation` (the client id doubling as the correlation id) and
    /// waits for its `message:sent`; returns the committed message.
    pub async fn sent(
        &mut self,
        conversation: &str,
        id: &str,
        content: &str,
    ) -> anyhow::Result<Value> {
        self.send_message(id, conversation, id, content).await?;
        let ack = self.expect_where("message:sent", |f| f["id"] == id).await?;
        Ok(ack["data"]["message"].clone())
    }

    /// `message:send` with correlation id `id`.
    pub async fn send_message(
        &mut self,
        id: &str,
        conversation: &str,
        client_id: &str,
        content: &str,
    ) -> anyhow::Result<()> {
        self.send(&json!({"event": "message:send", "id": id, "data": {
            "conversationId": conversation, "clientMessageId": client_id, "content": content
        }}))
        .await
    }

    /// Sends `{event, id, data}` and waits for the frame that answers it (echoing `id`), keeping
    /// the frames that arrive meanwhile.
    pub async fn ask(&mut self, event: &str, id: &str, data: Value) -> anyhow::Result<Value> {
        self.send(&json!({"event": event, "id": id, "data": data}))
            .await?;
        self.expect_where_any(|f| f["id"] == id).await
    }

    /// Waits for the next frame (any event) satisfying `wanted`, keeping others.
    pub async fn expect_where_any(
        &mut self,
        wanted: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        if let Some(index) = self.backlog.iter().position(&wanted) {
            return Ok(self.backlog.remove(index));
        }
        loop {
            let frame = self.read().await?;
            if wanted(&frame) {
                return Ok(frame);
            }
            self.backlog.push(frame);
        }
    }

    /// The next JSON frame, from the backlog first.
    pub async fn next(&mut self) -> anyhow::Result<Value> {
        if !self.backlog.is_empty() {
            return Ok(self.backlog.remove(0));
        }
        self.read().await
    }

    /// Waits for the next frame whose event is `event`, keeping others for later.
    pub async fn expect(&mut self, event: &str) -> anyhow::Result<Value> {
        self.expect_where(event, |_| true).await
    }

    /// Waits for the next frame with `event` whose frame satisfies `wanted`, keeping others.
    pub async fn expect_where(
        &mut self,
        event: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let matches = |f: &Value| f["event"] == event && wanted(f);
        if let Some(index) = self.backlog.iter().position(matches) {
            return Ok(self.backlog.remove(index));
        }
        if let Some(index) = self.side.iter().position(matches) {
            return Ok(self.side.remove(index));
        }
        loop {
            let frame = self.read_any().await?;
            if matches(&frame) {
                return Ok(frame);
            }
            self.keep(frame);
        }
    }

    /// Frames read but not yet expected, in order.
    pub fn backlog(&self) -> &[Value] {
        &self.backlog
    }

    /// Takes every frame read and not yet expected (backlog and side channel).
    pub fn take_all(&mut self) -> Vec<Value> {
        let mut all = std::mem::take(&mut self.backlog);
        all.append(&mut self.side);
        all
    }

    /// Side-channel frames received so far with `event` (taken; others stay).
    pub fn side_events(&mut self, event: &str) -> Vec<Value> {
        let (taken, kept) = std::mem::take(&mut self.side)
            .into_iter()
            .partition(|f| f["event"] == event);
        self.side = kept;
        taken
    }

    /// Reads whatever arrives within `within` into the backlog and side channel.
    pub async fn drain_for(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(frame) = tokio::time::timeout_at(deadline, self.read_any()).await {
            let frame = frame?;
            self.keep(frame);
        }
        Ok(())
    }

    fn keep(&mut self, frame: Value) {
        if SIDE.iter().any(|e| frame["event"] == *e) {
            self.side.push(frame);
        } else {
            self.backlog.push(frame);
        }
    }

    /// Whether a frame (other than a side-channel one) arrives within `within` (consumes it into
    /// the backlog).
    pub async fn quiet_for(&mut self, within: Duration) -> anyhow::Result<bool> {
        match tokio::time::timeout(within, self.read()).await {
            Err(_) => Ok(true),
            Ok(Ok(frame)) => {
                self.backlog.push(frame);
                Ok(false)
            }
            Ok(Err(error)) => Err(error),
        }
    }

    /// Waits for the server to close; returns its close code.
    pub async fn closed(&mut self) -> anyhow::Result<Closed> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .context("no close within the wait")?;
            match next {
                None => {
                    return Ok(Closed {
                        code: None,
                        reason: String::new(),
                    });
                }
                Some(Ok(Message::Close(frame))) => {
                    return Ok(match frame {
                        Some(CloseFrame { code, reason }) => Closed {
                            code: Some(code.into()),
                            reason: reason.to_string(),
                        },
                        None => Closed {
                            code: None,
                            reason: String::new(),
                        },
                    });
                }
                Some(Ok(Message::Text(text))) => self.backlog.push(serde_json::from_str(&text)?),
                Some(Ok(_)) => {}
                Some(Err(_)) => {
                    return Ok(Closed {
                        code: None,
                        reason: String::new(),
                    });
                }
            }
        }
    }

    /// Sends a close and waits for the server's.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.stream.close(None).await.ok();
        let _ =
            tokio::time::timeout(WAIT, async { while self.stream.next().await.is_some() {} }).await;
        Ok(())
    }

    /// The next frame that is not a side-channel one (those are kept).
    async fn read(&mut self) -> anyhow::Result<Value> {
        loop {
            let frame = self.read_any().await?;
            if SIDE.iter().any(|e| frame["event"] == *e) {
                self.side.push(frame);
            } else {
                return Ok(frame);
            }
        }
    }

    async fn read_any(&mut self) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .context("no frame within the wait")?;
            match next {
                Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text)?),
                Some(Ok(Message::Close(frame))) => bail!("closed by the server: {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(error)) => bail!("websocket error: {error}"),
                None => bail!("connection ended"),
            }
        }
    }
}
