//! The `history` scenario: REST page latency. Seeds one conversation with M messages, then K
//! kept-alive HTTP connections fetch 50-message pages at R requests/s in total, open loop (each
//! request timed from its intended start): half the newest page, half a gap-fill page after a
//! random `seq`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;

use crate::arrivals::{Arrivals, Schedule};
use crate::client::{self, Event, Protocol};
use crate::http;
use crate::record::{Recorder, Report};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) addr: SocketAddr,
    pub(crate) arrivals: Arrivals,
    pub(crate) messages: u64,
    pub(crate) connections: usize,
    pub(crate) rate: u64,
    pub(crate) duration: Duration,
}

pub(crate) async fn history(o: Options) -> anyhow::Result<Report> {
    let prefix = format!("hi{}", std::process::id());
    let users = http::register_many(o.addr, &prefix, 2).await?;
    let conversation = http::group(o.addr, &users[0].1, &prefix, &[users[1].0.as_str()]).await?;
    eprintln!("seeding {} messages...", o.messages);
    seed(o.addr, &users[0].1, &conversation, o.messages).await?;
    eprintln!("history: {} pages/s for {:?}...", o.rate, o.duration);
    let connections = o.connections.max(1);
    let per_connection = Duration::from_secs_f64(connections as f64 / o.rate.max(1) as f64);
    let started = Instant::now() + Duration::from_millis(100);
    let deadline = started + o.duration;
    let mut tasks = Vec::new();
    for n in 0..connections {
        let mut conn = http::Conn::open(o.addr).await?;
        let token = users[1].1.clone();
        let conversation = conversation.clone();
        let offset = per_connection.mul_f64(n as f64 / connections as f64);
        let mut schedule = Schedule::new(started + offset, per_connection, o.arrivals, n as u64);
        let messages = o.messages.max(1);
        let addr = o.addr;
        tasks.push(tokio::spawn(async move {
            let mut rec = Recorder::default();
            let mut i = n as u64;
            loop {
                let at = schedule.advance();
                if at >= deadline {
                    break;
                }
                tokio::time::sleep_until(at.into()).await;
                i = i.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let path = if i.is_multiple_of(2) {
                    format!("/api/conversations/{conversation}/messages?limit=50")
                } else {
                    let after = (i >> 33) % messages;
                    format!("/api/conversations/{conversation}/messages?limit=50&after={after}")
                };
                match conn.get(&path, &token).await {
                    Ok((200, _)) => {
                        rec.record("page", Instant::now().saturating_duration_since(at));
                        rec.count("pages", 1);
                    }
                    Ok((status, _)) => rec.error(&format!("HTTP_{status}")),
                    Err(_) => {
                        rec.error("HTTP_FAILED");
                        match http::Conn::open(addr).await {
                            Ok(fresh) => conn = fresh,
                            Err(_) => break,
                        }
                    }
                }
            }
            rec
        }));
    }
    let mut total = Recorder::default();
    for task in tasks {
        total.merge(&task.await?);
    }
    let pages = total.counts.get("pages").copied().unwrap_or(0);
    let mut summary = serde_json::Map::new();
    summary.insert("messages".into(), json!(o.messages));
    summary.insert("connections".into(), json!(connections));
    summary.insert("arrivals".into(), json!(format!("{:?}", o.arrivals)));
    summary.insert("offered_rate".into(), json!(o.rate));
    summary.insert("duration_s".into(), json!(o.duration.as_secs_f64()));
    summary.insert(
        "achieved_rate".into(),
        json!(pages as f64 / o.duration.as_secs_f64()),
    );
    Ok(Report {
        scenario: "history",
        summary,
        recorder: total,
    })
}

/// Sends `count` messages from one connection, 200 in flight at a time, waiting for the acks.
pub(crate) async fn seed(
    addr: SocketAddr,
    token: &str,
    conversation: &str,
    count: u64,
) -> anyhow::Result<()> {
    let socket = client::connect(addr, Protocol::Parley, token, None).await?;
    let (mut write, mut read) = socket.split();
    let mut n = 0;
    while n < count {
        let end = (n + 200).min(count);
        for k in n..end {
            let frame = client::send_frame(
                Protocol::Parley,
                conversation,
                k,
                &format!("seed message {k}"),
            );
            write.feed(frame).await?;
        }
        write.flush().await?;
        let mut acked = n;
        while acked < end {
            let text = client::next(&mut read)
                .await
                .ok_or_else(|| anyhow::anyhow!("closed while seeding"))?
                .map_err(|e| anyhow::anyhow!(e))?;
            match client::classify(Protocol::Parley, &text) {
                Event::Acked(_) => acked += 1,
                Event::Failed(_, code) => anyhow::bail!("seeding failed: {code}"),
                _ => {}
            }
        }
        n = end;
    }
    Ok(())
}
