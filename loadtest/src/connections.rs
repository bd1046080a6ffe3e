//! The `connections` scenario: open C idle, authenticated WebSocket connections (source addresses
//! spread over 127.0.0.x so the 28k ephemeral ports of one address do not cap the count), report
//! the connect rate and latency and, given the gateway's pid, its resident memory per connection.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::{self, Protocol, Socket};
use crate::http;
use crate::record::{Recorder, Report};

/// Connections per source address (below the 28k ephemeral ports each has).
const PER_SOURCE: usize = 16_000;
/// Handshakes in flight at once.
const IN_FLIGHT: usize = 256;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) addr: SocketAddr,
    pub(crate) protocol: Protocol,
    pub(crate) connections: usize,
    /// Users the connections are spread over (the server's per-user cap must allow the share).
    pub(crate) users: usize,
    /// How long to hold them all open, idle, before measuring memory.
    pub(crate) hold: Duration,
    /// The gateway's process id, to read its resident memory from /proc.
    pub(crate) server_pid: Option<u32>,
}

pub(crate) async fn connections(o: Options) -> anyhow::Result<Report> {
    let users = o.users.clamp(1, o.connections.max(1));
    eprintln!("setting up {users} users...");
    let prefix = format!("cn{}", std::process::id());
    let accounts = http::register_many(o.addr, &prefix, users).await?;
    let rss_before = o.server_pid.and_then(rss_kib);
    eprintln!("opening {} connections...", o.connections);
    let mut recorder = Recorder::default();
    let mut sockets: Vec<Socket> = Vec::with_capacity(o.connections);
    let started = Instant::now();
    let mut next = 0;
    // Memory is measured at half the connections and at all of them: the second half's cost is
    // what one more idle connection takes, whatever the allocator kept from earlier work.
    let half = o.connections / 2;
    let mut rss_half = None;
    while next < o.connections {
        if next >= half && rss_half.is_none() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            rss_half = Some((o.server_pid.and_then(rss_kib), sockets.len()));
        }
        let end = (next + IN_FLIGHT).min(o.connections);
        let tasks: Vec<_> = (next..end)
            .map(|n| {
                let token = accounts[n % users].1.clone();
                let (addr, protocol) = (o.addr, o.protocol);
                let source = source_for(addr, n);
                tokio::spawn(async move {
                    let begun = Instant::now();
                    let socket = client::connect(addr, protocol, &token, source).await;
                    (socket, begun.elapsed())
                })
            })
            .collect();
        for task in tasks {
            match task.await? {
                (Ok(socket), took) => {
                    recorder.record("connect", took);
                    sockets.push(socket);
                }
                (Err(error), _) => {
                    let text = error.to_string();
                    let code = if text.contains("4429") {
                        "CONNECTION_LIMIT"
                    } else {
                        "CONNECT_FAILED"
                    };
                    recorder.error(code);
                }
            }
        }
        next = end;
        eprint!(
            "\r  {} open, {} failed",
            sockets.len(),
            recorder.errors.values().sum::<u64>()
        );
    }
    eprintln!();
    let open_time = started.elapsed();
    tokio::time::sleep(o.hold).await;
    let rss_after = o.server_pid.and_then(rss_kib);
    recorder.count("opened", sockets.len() as u64);
    let mut summary = serde_json::Map::new();
    summary.insert("protocol".into(), json!(format!("{:?}", o.protocol)));
    summary.insert("requested".into(), json!(o.connections));
    summary.insert("users".into(), json!(users));
    summary.insert(
        "connect_rate_per_s".into(),
        json!(sockets.len() as f64 / open_time.as_secs_f64()),
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        summary.insert("server_rss_before_kib".into(), json!(before));
        summary.insert("server_rss_after_kib".into(), json!(after));
        if let Some((Some(at_half), open_at_half)) = rss_half
            && sockets.len() > open_at_half
        {
            let added = (sockets.len() - open_at_half) as f64;
            let per = (after.saturating_sub(at_half) * 1024) as f64 / added;
            summary.insert("server_rss_half_kib".into(), json!(at_half));
            summary.insert("server_bytes_per_connection".into(), json!(per.round()));
        }
    }
    drop(sockets);
    Ok(Report {
        scenario: "connections",
        summary,
        recorder,
    })
}

/// 127.0.0.1 for the first `PER_SOURCE`, then 127.0.0.2, ... (loopback targets only).
fn source_for(addr: SocketAddr, n: usize) -> Option<IpAddr> {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => {
            let host = u8::try_from(1 + n / PER_SOURCE).unwrap_or(u8::MAX);
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)))
        }
        _ => None,
    }
}

/// Resident memory of `pid` in KiB (Linux).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}
