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
    /// The gateway's process id, to read its resident memory and CPU time from /proc.
    pub(crate) server_pid: Option<u32>,
    /// While holding, each connection sends `presence:heartbeat` this often (as clients do),
    /// spread evenly; the gateway's CPU time over the hold is reported.
    pub(crate) heartbeat: Option<Duration>,
    /// The first source address is 127.0.0.<source_base> (several generator processes each take
    /// their own addresses: ephemeral ports are per source address).
    pub(crate) source_base: u8,
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
                let source = source_for(addr, o.source_base, n);
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
    // Memory with every connection open, before the hold (whose heartbeats may grow it).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_open = o.server_pid.and_then(rss_kib);
    let cpu_before = o.server_pid.and_then(cpu_ticks);
    let heartbeats = hold(&mut sockets, o.hold, o.heartbeat).await;
    let cpu_after = o.server_pid.and_then(cpu_ticks);
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
    summary.insert("hold_s".into(), json!(o.hold.as_secs_f64()));
    summary.insert("heartbeats_sent".into(), json!(heartbeats));
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let seconds = after.saturating_sub(before) as f64 / TICKS_PER_S;
        summary.insert("server_cpu_s_during_hold".into(), json!(seconds));
        summary.insert(
            "server_cpu_share_during_hold".into(),
            json!(seconds / o.hold.as_secs_f64().max(0.001)),
        );
        if heartbeats > 0 {
            summary.insert(
                "server_cpu_us_per_heartbeat".into(),
                json!((seconds * 1e6 / heartbeats as f64 * 100.0).round() / 100.0),
            );
        }
    }
    if let (Some(before), Some(open), Some(after)) = (rss_before, rss_open, rss_after) {
        summary.insert("server_rss_before_kib".into(), json!(before));
        summary.insert("server_rss_open_kib".into(), json!(open));
        summary.insert("server_rss_after_hold_kib".into(), json!(after));
        if let Some((Some(at_half), open_at_half)) = rss_half
            && sockets.len() > open_at_half
        {
            let added = (sockets.len() - open_at_half) as f64;
            let per = (open.saturating_sub(at_half) * 1024) as f64 / added;
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

/// 127.0.0.<base> for the first `PER_SOURCE`, then the next address, ... (loopback targets only).
fn source_for(addr: SocketAddr, base: u8, n: usize) -> Option<IpAddr> {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => {
            let host = u8::try_from(usize::from(base.max(1)) + n / PER_SOURCE).unwrap_or(u8::MAX);
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)))
        }
        _ => None,
    }
}

/// Clock ticks per second of /proc times (USER_HZ: 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// Holds every socket open for `hold`, sending heartbeats every `every` spread over the period
/// (answers are not expected). Returns how many were sent.
async fn hold(sockets: &mut [Socket], hold: Duration, every: Option<Duration>) -> u64 {
    use futures_util::SinkExt;
    let Some(every) = every.filter(|e| !e.is_zero() && !sockets.is_empty()) else {
        tokio::time::sleep(hold).await;
        return 0;
    };
    let end = Instant::now() + hold;
    let gap = every.div_f64(sockets.len() as f64);
    let frame = r#"{"event":"presence:heartbeat","data":{}}"#;
    let mut sent = 0;
    let mut next = Instant::now();
    'outer: loop {
        for socket in sockets.iter_mut() {
            if Instant::now() >= end {
                break 'outer;
            }
            next += gap;
            let message = tokio_tungstenite::tungstenite::Message::text(frame);
            if socket.send(message).await.is_ok() {
                sent += 1;
            }
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    sent
}

/// User plus system CPU time of `pid` in clock ticks (Linux).
pub(crate) fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Resident memory of `pid` in KiB (Linux).
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}
