//! The `reconnect-storm` scenario: C members in groups of G, one publisher sending R msgs/s across
//! the groups throughout. After a while every member's connection drops at once; each reconnects
//! at its own jittered moment, then fills the gap over REST (`after=<last seq seen>`). Records
//! intended reconnect → `auth:success` (`reconnect`), `auth:success` → caught up (`gap_fill`) and
//! drop → caught up (`recovery`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::arrivals::{Arrivals, Schedule};
use crate::client::{self, Protocol};
use crate::drive::{self, Live, Plan, Run};
use crate::http;
use crate::record::{Recorder, Report};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) addr: SocketAddr,
    pub(crate) connections: usize,
    pub(crate) group_size: usize,
    pub(crate) rate: u64,
    /// Everyone reconnects within this window after the drop (uniformly spread).
    pub(crate) jitter: Duration,
    /// Time before the drop.
    pub(crate) before: Duration,
}

pub(crate) async fn storm(o: Options) -> anyhow::Result<Report> {
    let members = o.connections.max(1);
    let group_size = o.group_size.max(1);
    let groups = members.div_ceil(group_size);
    eprintln!("setting up {members} members in {groups} groups...");
    let prefix = format!("rs{}", std::process::id());
    let users = http::register_many(o.addr, &prefix, members + 1).await?;
    let publisher = &users[0];
    let mut convs = Vec::new();
    for g in 0..groups {
        let ids: Vec<&str> = users[1..]
            .iter()
            .skip(g * group_size)
            .take(group_size)
            .map(|u| u.0.as_str())
            .collect();
        convs.push(http::group(o.addr, &publisher.1, &format!("{prefix}-{g}"), &ids).await?);
    }
    let start = Instant::now() + Duration::from_millis(500);
    let drop_at = start + o.before;
    let end = drop_at + o.jitter + Duration::from_secs(2);
    // The publisher is never dropped; it writes to the groups in turn.
    let run = Run::start(Protocol::Parley, None);
    let interval = Duration::from_secs_f64(1.0 / o.rate.max(1) as f64);
    let publisher_socket = client::connect(o.addr, Protocol::Parley, &publisher.1, None).await?;
    let mut members_tasks = Vec::new();
    for (n, (_, token)) in users[1..].iter().enumerate() {
        let conversation = convs[n / group_size].clone();
        let token = token.clone();
        let addr = o.addr;
        let reconnect_at = drop_at + o.jitter.mul_f64(n as f64 / members as f64);
        let socket = client::connect(addr, Protocol::Parley, &token, None).await?;
        members_tasks.push(tokio::spawn(async move {
            member(addr, socket, &token, &conversation, drop_at, reconnect_at).await
        }));
    }
    eprintln!(
        "reconnect-storm: all {members} drop after {:?}, back within {:?}...",
        o.before, o.jitter
    );
    let publisher_task = tokio::spawn(drive::drive(
        publisher_socket,
        Arc::clone(&run),
        Some(Plan {
            conversations: convs.clone(),
            schedule: Schedule::new(start, interval, Arrivals::Fixed, 0),
            deadline: end,
            // Members drop and refill by REST: their live deliveries are not the measure here.
            recipients: 0,
            me: String::new(),
        }),
        end,
    ));
    let ticker = Live::show_until(Arc::clone(&run), end);
    let mut total = Recorder::default();
    let published = publisher_task.await??;
    total.count(
        "published",
        published.counts.get("acked").copied().unwrap_or(0),
    );
    for (code, n) in &published.errors {
        for _ in 0..*n {
            total.error(&format!("PUBLISH_{code}"));
        }
    }
    for task in members_tasks {
        total.merge(&task.await??);
    }
    let _ = ticker.await;
    let mut summary = serde_json::Map::new();
    summary.insert("members".into(), json!(members));
    summary.insert("groups".into(), json!(groups));
    summary.insert("publish_rate".into(), json!(o.rate));
    summary.insert("jitter_ms".into(), json!(o.jitter.as_millis()));
    Ok(Report {
        scenario: "reconnect-storm",
        summary,
        recorder: total,
    })
}

/// One member: reads until the drop, then reconnects at its moment and fills the gap.
async fn member(
    addr: SocketAddr,
    socket: client::Socket,
    token: &str,
    conversation: &str,
    drop_at: Instant,
    reconnect_at: Instant,
) -> anyhow::Result<Recorder> {
    use futures_util::StreamExt;
    let mut rec = Recorder::default();
    let (write, mut read) = socket.split();
    let mut last_seq = 0u64;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(drop_at.into()) => break,
            frame = client::next(&mut read) => match frame {
                Some(Ok(text)) => {
                    if let Some(seq) = number_field(&text, "seq") {
                        last_seq = last_seq.max(seq);
                    }
                }
                _ => break,
            },
        }
    }
    // The drop: the connection goes away without a close handshake.
    drop(read);
    drop(write);
    tokio::time::sleep_until(reconnect_at.into()).await;
    let socket = match client::connect(addr, Protocol::Parley, token, None).await {
        Ok(socket) => socket,
        Err(_) => {
            rec.error("RECONNECT_FAILED");
            return Ok(rec);
        }
    };
    let connected = Instant::now();
    rec.record(
        "reconnect",
        connected.saturating_duration_since(reconnect_at),
    );
    let mut conn = http::Conn::open(addr).await?;
    let mut fetched = 0u64;
    loop {
        let path = format!("/api/conversations/{conversation}/messages?limit=100&after={last_seq}");
        let (status, body) = conn.get(&path, token).await?;
        if status != 200 {
            rec.error(&format!("GAP_FILL_HTTP_{status}"));
            break;
        }
        let items = body["data"].as_array().map_or(&[][..], Vec::as_slice);
        fetched += items.len() as u64;
        if let Some(seq) = items.last().and_then(|m| m["seq"].as_u64()) {
            last_seq = seq;
        }
        if !body["meta"]["hasMore"].as_bool().unwrap_or(false) {
            break;
        }
    }
    let done = Instant::now();
    rec.record("gap_fill", done - connected);
    rec.record("recovery", done.saturating_duration_since(drop_at));
    rec.count("gap_messages", fetched);
    rec.count("recovered", 1);
    drop(socket);
    Ok(rec)
}

/// The first `"<name>":<digits>` in `text`.
fn number_field(text: &str, name: &str) -> Option<u64> {
    let key = format!("\"{name}\":");
    let start = text.find(&key)? + key.len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
