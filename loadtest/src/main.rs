//! `parley-loadtest`: drives a running Parley over its public API. The `steady` scenario opens
//! C WebSocket connections over M group conversations and sends at a fixed total rate, open loop:
//! each send is scheduled at its intended time whatever the replies do, and latency is measured
//! from that intended time (no coordinated omission). The generator reports its own lag so a
//! saturated generator shows instead of hiding.

// A command-line report tool: printing is its output.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

mod http;

#[derive(Debug, Parser)]
#[command(name = "parley-loadtest", version, about)]
struct Cli {
    /// Parley's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// C connections over M conversations at R messages/s for D seconds.
    Steady {
        #[arg(long, default_value_t = 50)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        conversations: usize,
        /// Total messages per second over all connections.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        duration: u64,
    },
}

/// What one connection records.
struct Recorder {
    ack: Histogram<u64>,
    delivery: Histogram<u64>,
    lag: Histogram<u64>,
    errors: HashMap<String, u64>,
    acked: u64,
}

impl Recorder {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            ack: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            delivery: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            lag: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            errors: HashMap::new(),
            acked: 0,
        })
    }

    fn merge(&mut self, other: &Recorder) -> anyhow::Result<()> {
        self.ack.add(&other.ack)?;
        self.delivery.add(&other.delivery)?;
        self.lag.add(&other.lag)?;
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
        self.acked += other.acked;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.scenario {
        Scenario::Steady {
            connections,
            conversations,
            rate,
            duration,
        } => {
            steady(
                cli.addr,
                connections,
                conversations.max(1),
                rate.max(1),
                Duration::from_secs(duration),
                cli.json,
            )
            .await
        }
    }
}

async fn steady(
    addr: SocketAddr,
    connections: usize,
    conversations: usize,
    rate: u64,
    duration: Duration,
    as_json: bool,
) -> anyhow::Result<()> {
    eprintln!("setting up {connections} users in {conversations} conversations...");
    let run = format!("lt{}", std::process::id());
    let mut users = Vec::new();
    for n in 0..connections {
        users.push(http::register(addr, &format!("{run}_{n}")).await?);
    }
    // Each conversation gets the users whose index maps to it (round robin), all as members.
    let mut convs = Vec::new();
    for c in 0..conversations {
        let members: Vec<&str> = users
            .iter()
            .enumerate()
            .filter(|(i, _)| i % conversations == c)
            .map(|(_, u)| u.0.as_str())
            .collect();
        let owner = users
            .iter()
            .enumerate()
            .find(|(i, _)| i % conversations == c)
            .map(|(_, u)| u)
            .context("a member per conversation")?;
        let others: Vec<&str> = members
            .iter()
            .copied()
            .filter(|id| *id != owner.0)
            .collect();
        convs.push(http::group(addr, &owner.1, &format!("{run}-{c}"), &others).await?);
    }
    // Connect everyone first: set-up time must not count as latency.
    let mut sockets = Vec::new();
    for (_, token) in &users {
        let mut request = format!("ws://{addr}/ws").into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let (mut stream, _) = tokio_tungstenite::connect_async(request).await?;
        // Wait for auth:success so the first send is not queued behind the handshake.
        while let Some(message) = stream.next().await {
            if let Message::Text(text) = message?
                && text.contains("auth:success")
            {
                break;
            }
        }
        sockets.push(stream);
    }
    let per_connection = Duration::from_secs_f64(connections as f64 / rate as f64);
    let started = Instant::now() + Duration::from_millis(200);
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for (n, stream) in sockets.into_iter().enumerate() {
        let conversation = convs[n % conversations].clone();
        // Spread the connections' schedules over one interval.
        let offset = per_connection.mul_f64(n as f64 / connections as f64);
        tasks.push(tokio::spawn(connection(
            stream,
            conversation,
            started + offset,
            per_connection,
            deadline,
        )));
    }
    let mut total = Recorder::new()?;
    let mut sent = 0;
    for task in tasks {
        let (recorder, count) = task.await??;
        total.merge(&recorder)?;
        sent += count;
    }
    let elapsed = duration.as_secs_f64();
    let report = json!({
        "scenario": "steady",
        "connections": connections,
        "conversations": conversations,
        "offered_rate": rate,
        "duration_s": elapsed,
        "sent": sent,
        "acked": total.acked,
        "achieved_rate": total.acked as f64 / elapsed,
        "errors": total.errors,
        "send_to_ack_us": percentiles(&total.ack),
        "send_to_delivery_us": percentiles(&total.delivery),
        "generator_lag_us": percentiles(&total.lag),
    });
    if as_json {
        println!("{report}");
    } else {
        println!(
            "steady: {connections} connections, {conversations} conversations, offered {rate}/s for {elapsed}s"
        );
        println!(
            "sent {sent}, acked {} ({:.0}/s), errors {:?}",
            total.acked,
            total.acked as f64 / elapsed,
            total.errors
        );
        for (name, histogram) in [
            ("send->ack", &total.ack),
            ("send->delivery", &total.delivery),
            ("generator lag", &total.lag),
        ] {
            let p = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
            println!(
                "{name:>15}: n={:>8} p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  p99.9 {:>8.2} ms  max {:>8.2} ms",
                histogram.len(),
                p(0.5),
                p(0.9),
                p(0.99),
                p(0.999),
                histogram.max() as f64 / 1000.0
            );
        }
    }
    Ok(())
}

/// Quantiles of the percentile spectrum (latency by percentile, for plotting).
const SPECTRUM: [f64; 12] = [
    0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0,
];

fn percentiles(h: &Histogram<u64>) -> Value {
    let spectrum: Vec<Value> = SPECTRUM
        .iter()
        .map(|q| json!({"q": q, "us": h.value_at_quantile(*q)}))
        .collect();
    json!({"count": h.len(), "p50": h.value_at_quantile(0.5), "p90": h.value_at_quantile(0.9),
           "p99": h.value_at_quantile(0.99), "p999": h.value_at_quantile(0.999), "max": h.max(),
           "spectrum": spectrum})
}

/// One connection: sends on a fixed schedule, records acks and deliveries against intended times.
type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connection(
    stream: Socket,
    conversation: String,
    first: Instant,
    interval: Duration,
    deadline: Instant,
) -> anyhow::Result<(Recorder, u64)> {
    let (mut write, mut read) = stream.split();
    let intended: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let recorder = Arc::new(Mutex::new(Recorder::new()?));
    let reader = {
        let (intended, recorder) = (Arc::clone(&intended), Arc::clone(&recorder));
        tokio::spawn(async move {
            while let Some(Ok(message)) = read.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                let now = Instant::now();
                let mut rec = recorder
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match frame["event"].as_str() {
                    Some("message:sent") => {
                        let key = frame["data"]["clientMessageId"]
                            .as_str()
                            .unwrap_or_default();
                        if let Some(at) = intended
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .remove(key)
                        {
                            let _ = rec.ack.record(micros(now.saturating_duration_since(at)));
                            rec.acked += 1;
                        }
                    }
                    Some("message:received") => {
                        // The content carries the intended send time (micros since the run's epoch).
                        if let Some(sent) = frame["data"]["message"]["content"]
                            .as_str()
                            .and_then(|c| c.strip_prefix("t="))
                            .and_then(|t| t.parse::<u64>().ok())
                        {
                            let at =
                                EPOCH.get().copied().unwrap_or(now) + Duration::from_micros(sent);
                            let _ = rec
                                .delivery
                                .record(micros(now.saturating_duration_since(at)));
                        }
                    }
                    Some("message:error") => {
                        let key = frame["data"]["clientMessageId"]
                            .as_str()
                            .unwrap_or_default();
                        intended
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .remove(key);
                        let code = frame["data"]["code"].as_str().unwrap_or("?").to_owned();
                        *rec.errors.entry(code).or_default() += 1;
                    }
                    _ => {}
                }
            }
        })
    };
    let epoch = *EPOCH.get_or_init(Instant::now);
    let mut next = first;
    let mut sent = 0u64;
    while next < deadline {
        tokio::time::sleep_until(next.into()).await;
        let lag = Instant::now().saturating_duration_since(next);
        recorder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .lag
            .record(micros(lag))
            .ok();
        let key = format!("k{sent}");
        intended
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.clone(), next);
        let content = format!("t={}", next.saturating_duration_since(epoch).as_micros());
        let frame = json!({"event": "message:send", "data": {"conversationId": conversation, "clientMessageId": key, "content": content}});
        write.send(Message::text(frame.to_string())).await?;
        sent += 1;
        next += interval;
    }
    // Let the last acks arrive.
    let drain_until = Instant::now() + Duration::from_secs(5);
    while !intended
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .is_empty()
        && Instant::now() < drain_until
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let missing = intended
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .len() as u64;
    let _ = write.close().await;
    reader.abort();
    let _ = reader.await;
    let mut rec = match Arc::try_unwrap(recorder) {
        Ok(mutex) => mutex
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        Err(_) => bail!("recorder still shared"),
    };
    if missing > 0 {
        *rec.errors.entry("TIMEOUT".to_owned()).or_default() += missing;
    }
    Ok((rec, sent))
}

static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}
