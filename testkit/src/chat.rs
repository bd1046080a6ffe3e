//! A chat client that behaves like a good production client under restarts: it connects to one of
//! the addresses it is given (a load balancer's pool), and when its connection ends (1012 at a
//! rolling restart, a crash, anything) it connects to the next, gap-fills every conversation by
//! `seq` (`sync:request`) and resends every unacknowledged send with its original client id. It
//! records what it saw so tests can check nothing was lost, doubled or delivered out of order.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use hyper::Method;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::history::Op;

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The addresses a client may connect to; tests change it as instances come and go.
pub type Pool = Arc<Mutex<Vec<SocketAddr>>>;

/// Pages of 100 a gap-fill through REST reads at most (100,000 messages).
const MAX_PAGES: usize = 1000;

/// One client's view.
#[derive(Debug)]
pub struct Resilient {
    pool: Pool,
    token: String,
    label: String,
    next_addr: usize,
    stream: Option<Stream>,
    conversations: Vec<String>,
    sent: u64,
    /// Sent and not yet acknowledged, in send order: (client id, conversation, content).
    unacked: Vec<(String, String, String)>,
    /// Acknowledged client ids and their seq.
    pub acked: HashMap<String, i64>,
    /// Every send, in invocation order, with its outcome (the history a checker reads).
    pub ops: Vec<Op>,
    /// Per conversation: seq → client id of every message seen (live or by sync).
    pub seen: HashMap<String, BTreeMap<i64, String>>,
    /// `message:received` on one connection whose seq was below the previous one.
    pub order_violations: u64,
    /// The same seq received twice on one connection.
    pub duplicates: u64,
    /// Close codes of connections the server ended (`None`: no close frame).
    pub closes: Vec<Option<u16>>,
    pub reconnects: u64,
    /// From losing a connection to being authenticated on the next one, per reconnect.
    pub reconnect_times: Vec<Duration>,
    lost_at: Option<tokio::time::Instant>,
    last_live: HashMap<String, i64>,
}

impl Resilient {
    /// Connects with `token` to the `first`th address of `pool` (or the next that answers) and
    /// follows `conversations`.
    pub async fn connect(
        pool: Pool,
        token: &str,
        label: &str,
        conversations: Vec<String>,
        first: usize,
    ) -> anyhow::Result<Self> {
        let mut client = Self {
            pool,
            token: token.to_owned(),
            label: label.to_owned(),
            next_addr: first,
            stream: None,
            conversations,
            sent: 0,
            unacked: Vec::new(),
            acked: HashMap::new(),
            ops: Vec::new(),
            seen: HashMap::new(),
            order_violations: 0,
            duplicates: 0,
            closes: Vec::new(),
            reconnects: 0,
            reconnect_times: Vec::new(),
            lost_at: None,
            last_live: HashMap::new(),
        };
        client.reconnect().await?;
        client.reconnects = 0;
        client.reconnect_times.clear();
        Ok(client)
    }

    /// Sends one message (a new client id), resent after reconnects until acknowledged.
    pub async fn send(&mut self, conversation: &str, content: &str) -> anyhow::Result<String> {
        self.sent += 1;
        let cid = format!("{}-{}", self.label, self.sent);
        self.ops.push(Op::invoked(&self.label, &cid, conversation));
        self.unacked
            .push((cid.clone(), conversation.to_owned(), content.to_owned()));
        let frame = send_frame(&cid, conversation, content);
        if let Some(stream) = &mut self.stream
            && stream.send(Message::text(frame)).await.is_err()
        {
            self.stream = None;
        }
        Ok(cid)
    }

    /// Sends waiting for an acknowledgement.
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// Handles what arrives for `within`, reconnecting as needed.
    pub async fn pump(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.stream.is_none() {
                self.reconnect().await?;
            }
            let Some(stream) = &mut self.stream else {
                continue;
            };
            let next = match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => return Ok(()),
                Ok(next) => next,
            };
            match next {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text)?;
                    self.handle(&frame).await;
                }
                Some(Ok(Message::Close(frame))) => {
                    self.lost_at = Some(tokio::time::Instant::now());
                    self.closes.push(frame.map(|f| f.code.into()));
                    // Answer the close (as browsers do) so the server need not wait for it.
                    let _ =
                        tokio::time::timeout(Duration::from_millis(200), stream.close(None)).await;
                    self.stream = None;
                    self.in_doubt();
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    self.lost_at = Some(tokio::time::Instant::now());
                    self.in_doubt();
                    self.closes.push(None);
                    self.stream = None;
                }
            }
        }
    }

    /// Pumps until every send is acknowledged (or `within` passes: an error).
    pub async fn settle(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        while !self.unacked.is_empty() {
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "{}: {} sends never acknowledged",
                    self.label,
                    self.unacked.len()
                );
            }
            self.pump(Duration::from_millis(100)).await?;
        }
        Ok(())
    }

    /// Gap-fills every conversation now (a final read), then pumps for `within`.
    pub async fn resync(&mut self, within: Duration) -> anyhow::Result<()> {
        if self.stream.is_none() {
            self.reconnect().await?;
        }
        self.sync().await;
        self.pump(within).await
    }

    async fn handle(&mut self, frame: &Value) {
        let event = frame["event"].as_str().unwrap_or_default();
        match event {
            "message:sent" => {
                let cid = frame["data"]["clientMessageId"]
                    .as_str()
                    .unwrap_or_default();
                let message = &frame["data"]["message"];
                if let Some(seq) = message["seq"].as_i64() {
                    self.acked.insert(cid.to_owned(), seq);
                    if let Some(op) = self.ops.iter_mut().rev().find(|op| op.cid == cid) {
                        op.ok(seq);
                    }
                    self.unacked.retain(|(c, _, _)| c != cid);
                    // Not an order check: a resent send is answered with the original message,
                    // wherever it stands in the conversation.
                    self.record(message);
                }
            }
            "message:received" => self.live(&frame["data"]["message"]),
            "message:error" => {
                let retryable = frame["data"]["retryable"].as_bool().unwrap_or(false);
                let cid = frame["data"]["clientMessageId"]
                    .as_str()
                    .unwrap_or_default();
                if !retryable {
                    self.unacked.retain(|(c, _, _)| c != cid);
                    let code = frame["data"]["code"].as_str().unwrap_or("?");
                    if let Some(op) = self.ops.iter_mut().rev().find(|op| op.cid == cid) {
                        op.fail(code);
                    }
                } else if let Some((cid, conversation, content)) =
                    self.unacked.iter().find(|(c, _, _)| c == cid).cloned()
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if let Some(stream) = &mut self.stream {
                        let _ = stream
                            .send(Message::text(send_frame(&cid, &conversation, &content)))
                            .await;
                    }
                }
            }
            "sync:response" => {
                let data = &frame["data"];
                for message in data["messages"].as_array().into_iter().flatten() {
                    self.record(message);
                }
                if data["tooLarge"] == true
                    && let Some(conversation) = data["conversationId"].as_str()
                {
                    self.page_after(conversation).await;
                }
            }
            _ => {}
        }
    }

    /// The connection is gone with sends outstanding: each may or may not have been committed
    /// (the "unknown" outcome), until a resend with its client id answers.
    fn in_doubt(&mut self) {
        for (cid, _, _) in &self.unacked {
            if let Some(op) = self.ops.iter_mut().rev().find(|op| &op.cid == cid) {
                op.in_doubt = true;
            }
        }
    }

    fn live(&mut self, message: &Value) {
        let (Some(conversation), Some(seq)) =
            (message["conversationId"].as_str(), message["seq"].as_i64())
        else {
            return;
        };
        match self.last_live.get(conversation) {
            Some(last) if *last == seq => self.duplicates += 1,
            Some(last) if *last > seq => self.order_violations += 1,
            _ => {}
        }
        self.last_live.insert(conversation.to_owned(), seq);
        self.record(message);
    }

    fn record(&mut self, message: &Value) {
        let (Some(conversation), Some(seq)) =
            (message["conversationId"].as_str(), message["seq"].as_i64())
        else {
            return;
        };
        let cid = message["clientMessageId"].as_str().unwrap_or_default();
        self.seen
            .entry(conversation.to_owned())
            .or_default()
            .insert(seq, cid.to_owned());
    }

    /// The highest seq below which this client has seen everything of `conversation`.
    pub fn contiguous(&self, conversation: &str) -> i64 {
        let mut last = 0;
        for seq in self
            .seen
            .get(conversation)
            .into_iter()
            .flat_map(|m| m.keys())
        {
            if *seq != last + 1 {
                break;
            }
            last = *seq;
        }
        last
    }

    /// More was missed than a sync answers (`tooLarge`): pages through
    /// `GET .../messages?after=`, as the protocol tells a client to. A page that fails, or one
    /// that fills no hole (a gap retention made), ends it: the next sync asks again.
    async fn page_after(&mut self, conversation: &str) {
        let bearer = format!("Bearer {}", self.token);
        for _ in 0..MAX_PAGES {
            let Some(addr) = self.current_addr() else {
                return;
            };
            let before = self.contiguous(conversation);
            let path =
                format!("/api/conversations/{conversation}/messages?after={before}&limit=100");
            let headers = [("authorization", bearer.as_str())];
            let Ok(page) = crate::http::request(addr, Method::GET, &path, &headers, None).await
            else {
                return;
            };
            let messages = page.body["data"].as_array().cloned().unwrap_or_default();
            for message in &messages {
                self.record(message);
            }
            let more = page.body["meta"]["hasMore"] == true;
            if page.status != 200 || !more || self.contiguous(conversation) == before {
                return;
            }
        }
    }

    /// The address the current connection went to.
    fn current_addr(&self) -> Option<SocketAddr> {
        let addrs = self.pool.lock().ok()?;
        (!addrs.is_empty()).then(|| addrs[(self.next_addr + addrs.len() - 1) % addrs.len()])
    }

    async fn sync(&mut self) {
        let wanted: Vec<Value> = self
            .conversations
            .iter()
            .map(|c| json!({"conversationId": c, "lastSeq": self.contiguous(c)}))
            .collect();
        let frame =
            json!({"event": "sync:request", "id": "sync", "data": {"conversations": wanted}});
        if let Some(stream) = &mut self.stream
            && stream.send(Message::text(frame.to_string())).await.is_err()
        {
            self.stream = None;
        }
    }

    /// Connects to the next address of the pool that answers (for up to 20 s), gap-fills and
    /// resends what is unacknowledged.
    async fn reconnect(&mut self) -> anyhow::Result<()> {
        self.stream = None;
        self.last_live.clear();
        let lost_at = self
            .lost_at
            .take()
            .unwrap_or_else(tokio::time::Instant::now);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let addrs = self
                .pool
                .lock()
                .map_err(|_| anyhow::anyhow!("pool lock"))?
                .clone();
            if !addrs.is_empty() {
                let addr = addrs[self.next_addr % addrs.len()];
                self.next_addr += 1;
                if let Ok(stream) = self.open(addr).await {
                    self.stream = Some(stream);
                    self.reconnects += 1;
                    self.reconnect_times.push(lost_at.elapsed());
                    break;
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{}: no instance accepted a connection", self.label);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.sync().await;
        let resend: Vec<String> = self
            .unacked
            .iter()
            .map(|(cid, conversation, content)| send_frame(cid, conversation, content))
            .collect();
        for frame in resend {
            if let Some(stream) = &mut self.stream
                && stream.send(Message::text(frame)).await.is_err()
            {
                self.stream = None;
                break;
            }
        }
        Ok(())
    }

    async fn open(&self, addr: SocketAddr) -> anyhow::Result<Stream> {
        let mut request = format!("ws://{addr}/ws").into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {}", self.token).parse()?);
        let (mut stream, _) = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(request),
        )
        .await
        .context("connect timeout")??;
        // Wait for auth:success (anything else first means this instance is not serving).
        let first = tokio::time::timeout(Duration::from_secs(2), stream.next())
            .await
            .context("no auth answer")?;
        match first {
            Some(Ok(Message::Text(text))) if text.contains("auth:success") => Ok(stream),
            other => bail!("not authenticated: {other:?}"),
        }
    }
}

fn send_frame(cid: &str, conversation: &str, content: &str) -> String {
    json!({"event": "message:send", "id": cid, "data": {
        "conversationId": conversation, "clientMessageId": cid, "content": content
    }})
    .to_string()
}
