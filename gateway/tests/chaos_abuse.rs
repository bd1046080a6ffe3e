//! Abuse, measured (issue 20): the real `parley` binary with production connection bounds, a
//! bystander pinging and sending in a DM, three members sending all the time in a busy group,
//! and one abuse after another: a member of the busy group that never reads (a slow consumer),
//! thousands of half-open handshakes (a request head never finished), JSON nesting bombs, a
//! frame flood, and reconnect storms with and without jitter. Per phase: the bystander's ping and
//! send latency, the busy group's send→ack latency, and the gateway's resident memory (peak, from
//! /proc). Asserted: every bystander request is answered, memory stays bounded, the gateway is
//! ready afterwards. Timing targets are not asserted here; `make chaos` prints the figures
//! (`abuse|` rows). `PARLEY_ABUSE_SECONDS` per phase (1 here, 5 in `make chaos`),
//! `PARLEY_ABUSE_HALF_OPEN` (1,000 here, 10,000 in `make chaos`), `PARLEY_ABUSE_STORM` clients
//! (20 here, 200 in `make chaos`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_testkit::api::Api;
use parley_testkit::process::{ParleyProcess, wait_ready};
use parley_testkit::raw::{Raw, connect_from, encode};
use parley_testkit::ws::WsClient;
use parley_testkit::{TestCluster, http, scratch_dir};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_parley");
/// No bystander request may wait longer than this (an answer, not a latency target).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// A source address of its own for client `n` (each address has its own connection caps).
fn source(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        1 + (n / 250) as u8,
        1 + (n % 250) as u8,
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ping,
    Send,
    Group,
}

/// Every latency sample, tagged with the phase it fell in.
#[derive(Debug, Default)]
struct Samples {
    phase: AtomicUsize,
    taken: Mutex<Vec<(usize, Kind, Duration)>>,
    unanswered: AtomicUsize,
}

impl Samples {
    fn record(&self, kind: Kind, took: Duration) {
        let phase = self.phase.load(Ordering::Relaxed);
        self.taken
            .lock()
            .expect("samples")
            .push((phase, kind, took));
    }

    fn summary(&self, phase: usize, kind: Kind) -> String {
        let mut all: Vec<Duration> = self
            .taken
            .lock()
            .expect("samples")
            .iter()
            .filter(|(p, k, _)| *p == phase && *k == kind)
            .map(|(_, _, d)| *d)
            .collect();
        if all.is_empty() {
            return "-".to_owned();
        }
        all.sort();
        let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{} / {:.2} / {:.2} / {:.1}",
            all.len(),
            ms(at(0.5)),
            ms(at(0.99)),
            ms(all[all.len() - 1])
        )
    }
}

/// The bystander: a ping, then every fifth time a send in its DM, as long as `stop` is false.
async fn bystander(
    mut ws: WsClient,
    dm: String,
    samples: Arc<Samples>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = format!("b{n}");
        let started = Instant::now();
        let answer = if n.is_multiple_of(5) {
            tokio::time::timeout(ANSWER_WITHIN, ws.sent(&dm, &id, "still here?")).await
        } else {
            tokio::time::timeout(ANSWER_WITHIN, ws.ask("ping", &id, json!({}))).await
        };
        match answer {
            Ok(Ok(_)) => {
                let kind = if n.is_multiple_of(5) {
                    Kind::Send
                } else {
                    Kind::Ping
                };
                samples.record(kind, started.elapsed());
            }
            _ => {
                samples.unanswered.fetch_add(1, Ordering::Relaxed);
                anyhow::bail!(
                    "the bystander's request {id} got no answer within {ANSWER_WITHIN:?}"
                );
            }
        }
        ws.take_all();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// A member of the busy group sending 2 KB messages back to back (each after the last's ack).
async fn busy_sender(
    mut ws: WsClient,
    group: String,
    who: usize,
    samples: Arc<Samples>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let body = "x".repeat(2000);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = format!("g{who}-{n}");
        let started = Instant::now();
        tokio::time::timeout(ANSWER_WITHIN, ws.sent(&group, &id, &body)).await??;
        samples.record(Kind::Group, started.elapsed());
        ws.take_all();
    }
    Ok(())
}

/// Peak resident memory of `pid` while `stop` is false, sampled every 50 ms.
async fn watch_rss(pid: u32, stop: Arc<AtomicBool>) -> u64 {
    let mut peak = 0;
    while !stop.load(Ordering::Relaxed) {
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    peak
}

/// A member of the busy group that never reads; afterwards, whether the server closed it.
async fn slow_consumer(addr: SocketAddr, token: &str, phase: Duration) -> anyhow::Result<String> {
    let mut raw = Raw::connect_from(source(900), addr, Some(token)).await?;
    tokio::time::sleep(phase).await;
    // What the kernel buffered first, then the server's close (or the end of the stream).
    let verdict = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match raw.read_frame().await {
                Ok((0x8, payload)) if payload.len() >= 2 => {
                    return format!(
                        "closed by the server ({})",
                        u16::from_be_bytes([payload[0], payload[1]])
                    );
                }
                Ok((0x8, _)) | Err(_) => return "closed by the server".to_owned(),
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| "still open after the phase (its buffers had not filled)".to_owned());
    Ok(verdict)
}

/// `n` connections that send most of a request head and stall, held through the phase.
async fn half_open(addr: SocketAddr, n: usize, phase: Duration) -> anyhow::Result<String> {
    let mut streams = Vec::with_capacity(n);
    let mut refused = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let opened = futures_util::future::join_all(chunk.iter().map(|&i| async move {
            let mut stream = connect_from(source(1000 + i / 400), addr).await?;
            stream
                .write_all(b"GET /ws HTTP/1.1\r\nHost: parley\r\nUpgrade: websocket\r\n")
                .await?;
            anyhow::Ok(stream)
        }))
        .await;
        for stream in opened {
            match stream {
                Ok(stream) => streams.push(stream),
                Err(_) => refused += 1,
            }
        }
    }
    tokio::time::sleep(phase).await;
    let mut closed = 0;
    let mut scratch = [0u8; 256];
    for stream in &streams {
        // Answered (503 at the connection cap) or closed: readable; still waiting: WouldBlock.
        if !matches!(stream.try_read(&mut scratch), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        {
            closed += 1;
        }
    }
    Ok(format!(
        "{} opened ({refused} refused at connect), {closed} answered or closed by the server within the phase",
        streams.len()
    ))
}

/// One authenticated socket per token (each from its own address, from `first` on) repeating
/// `step` until `until` or until `step` says stop (`None`); per socket, the units it counted.
async fn on_sockets(
    addr: SocketAddr,
    tokens: &[String],
    first: usize,
    until: Instant,
    step: impl AsyncFn(&mut Raw) -> anyhow::Result<Option<u64>>,
) -> Vec<anyhow::Result<u64>> {
    let step = &step;
    futures_util::future::join_all(tokens.iter().enumerate().map(|(i, token)| async move {
        let mut raw = Raw::connect_from(source(first + i), addr, Some(token)).await?;
        let mut n = 0u64;
        while Instant::now() < until {
            match step(&mut raw).await? {
                Some(units) => n += units,
                None => break,
            }
        }
        anyhow::Ok(n)
    }))
    .await
}

/// Authenticated sockets sending frames nested 60,000 deep (under the 64 KiB cap), each after
/// the last one's answer.
async fn nesting_bombs(
    addr: SocketAddr,
    tokens: &[String],
    phase: Duration,
) -> anyhow::Result<String> {
    let bomb = format!("{{\"event\":\"ping\",\"data\":{}", "[".repeat(60_000));
    let sent = on_sockets(
        addr,
        tokens,
        1100,
        Instant::now() + phase,
        async |raw: &mut Raw| {
            raw.frame(true, 0x1, bomb.as_bytes()).await?;
            raw.read_frame().await?;
            Ok(Some(1))
        },
    )
    .await;
    let total: u64 = sent.iter().filter_map(|r| r.as_ref().ok()).sum();
    let broken = sent.iter().filter(|r| r.is_err()).count();
    Ok(format!(
        "{total} bombs of 60,000 levels answered, {broken} sockets cut off"
    ))
}

/// Authenticated sockets writing heartbeats as fast as they can, never reading.
async fn frame_flood(
    addr: SocketAddr,
    tokens: &[String],
    phase: Duration,
) -> anyhow::Result<String> {
    let burst: Vec<u8> = (0..100)
        .flat_map(|_| encode(true, 0x1, br#"{"event":"presence:heartbeat"}"#))
        .collect();
    let sent = on_sockets(
        addr,
        tokens,
        1200,
        Instant::now() + phase,
        async |raw: &mut Raw| {
            let wrote = tokio::time::timeout(Duration::from_secs(1), raw.stream.write_all(&burst));
            // Not written within a second: the server stopped reading (its budget) or closed.
            Ok(matches!(wrote.await, Ok(Ok(()))).then_some(100))
        },
    )
    .await;
    let total: u64 = sent.iter().filter_map(|r| r.as_ref().ok()).sum();
    Ok(format!(
        "{total} frames written by {} sockets",
        tokens.len()
    ))
}

/// `clients` sockets (each its own address) connecting, authenticating and dropping again for the
/// phase: all at once each round (no jitter), or each after a random pause of up to a second.
async fn reconnect_storm(
    addr: SocketAddr,
    tokens: &[String],
    clients: usize,
    phase: Duration,
    jitter: bool,
) -> anyhow::Result<String> {
    let until = Instant::now() + phase;
    let barrier = Arc::new(tokio::sync::Barrier::new(clients));
    let done = Arc::new(AtomicBool::new(false));
    let results = futures_util::future::join_all((0..clients).map(|i| {
        let token = tokens[i % tokens.len()].clone();
        let (barrier, done) = (Arc::clone(&barrier), Arc::clone(&done));
        async move {
            let (mut ok, mut refused) = (0u64, 0u64);
            let mut seed = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            loop {
                if jitter {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    tokio::time::sleep(Duration::from_millis(seed % 1000)).await;
                } else {
                    // One decision per round for every client: had each read the clock after the
                    // barrier, a client that saw the phase over would leave one that did not
                    // waiting at the next barrier for ever (regression: a `make chaos` run hung).
                    if barrier.wait().await.is_leader() {
                        done.store(Instant::now() >= until, Ordering::Relaxed);
                    }
                    barrier.wait().await;
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                }
                if jitter && Instant::now() >= until {
                    break;
                }
                let attempt = Raw::connect_from(source(2000 + i), addr, Some(&token));
                match tokio::time::timeout(Duration::from_secs(5), attempt).await {
                    Ok(Ok(raw)) => {
                        ok += 1;
                        drop(raw);
                    }
                    _ => refused += 1,
                }
            }
            (ok, refused)
        }
    }))
    .await;
    let ok: u64 = results.iter().map(|r| r.0).sum();
    let refused: u64 = results.iter().map(|r| r.1).sum();
    Ok(format!(
        "{clients} clients: {ok} sessions opened, {refused} refused (limits.ws_connect per user)"
    ))
}

#[derive(Debug, Clone, Copy)]
enum Abuse {
    Baseline,
    SlowConsumer,
    HalfOpen,
    NestingBombs,
    FrameFlood,
    Storm,
    StormJitter,
    After,
}

impl Abuse {
    const ALL: [Abuse; 8] = [
        Abuse::Baseline,
        Abuse::SlowConsumer,
        Abuse::HalfOpen,
        Abuse::NestingBombs,
        Abuse::FrameFlood,
        Abuse::Storm,
        Abuse::StormJitter,
        Abuse::After,
    ];

    fn name(self, half_open: usize, storm: usize) -> String {
        match self {
            Abuse::Baseline => "none (baseline)".to_owned(),
            Abuse::SlowConsumer => "slow consumer in the busy group".to_owned(),
            Abuse::HalfOpen => format!("{half_open} half-open handshakes"),
            Abuse::NestingBombs => "JSON nesting bombs (4 sockets)".to_owned(),
            Abuse::FrameFlood => "frame flood (4 sockets, never reading)".to_owned(),
            Abuse::Storm => format!("reconnect storm, {storm} clients, no jitter"),
            Abuse::StormJitter => format!("reconnect storm, {storm} clients, jitter 0-1 s"),
            Abuse::After => "none (after)".to_owned(),
        }
    }
}

#[tokio::test]
async fn abuse_leaves_a_bystander_served_and_memory_bounded() -> anyhow::Result<()> {
    let phase = Duration::from_secs(env_or("PARLEY_ABUSE_SECONDS", 1));
    let half_open_n = env_or("PARLEY_ABUSE_HALF_OPEN", 1000) as usize;
    let storm_n = env_or("PARLEY_ABUSE_STORM", 20) as usize;
    let cluster = TestCluster::migrated().await?;
    let data = scratch_dir("abuse")?.display().to_string();
    let url = cluster.url();
    // Production connection bounds (caps, per-address connects, head timeout, frame and depth
    // limits, outbox bounds); per-user event and send budgets raised so the bystander and the busy
    // group can be measured at all.
    let env = [
        ("PARLEY_DATA_DIR", data.as_str()),
        ("PARLEY_LOG__LEVEL", "error"),
        ("PARLEY_LIMITS__REGISTER", "100000/1h"),
        ("PARLEY_LIMITS__SEND", "1000000/1m"),
        ("PARLEY_LIMITS__WS_EVENTS", "1000000/1m"),
        ("PARLEY_LIMITS__API", "100000/1m"),
    ];
    let gateway = ParleyProcess::serve(
        Path::new(BIN),
        &["--listen", "127.0.0.1:0", "--database-url", &url],
        &env,
        Duration::from_secs(60),
    )?;
    let addr = gateway.addr;
    wait_ready(addr).await?;
    let api = Api { addr };
    let by = api.register("ab_bystander").await?;
    let peer = api.register("ab_peer").await?;
    let dm = api.dm(&by, &peer).await?;
    let mut senders = Vec::new();
    for i in 0..3 {
        senders.push(api.register(&format!("ab_sender{i}")).await?);
    }
    let slow = api.register("ab_slow").await?;
    let mut members: Vec<&parley_testkit::api::TestUser> = senders.iter().collect();
    members.push(&slow);
    let group = api.group(&senders[0], "busy", &members[1..]).await?;
    let mut abusers = Vec::new();
    for i in 0..8 {
        abusers.push(api.register(&format!("ab_abuser{i}")).await?.access_token);
    }
    let storm_users: Vec<String> = {
        let mut tokens = Vec::new();
        // One user per storm client: the per-user connect budget (limits.ws_connect) applies.
        for i in 0..storm_n {
            tokens.push(api.register(&format!("ab_storm{i}")).await?.access_token);
        }
        tokens
    };

    let samples = Arc::new(Samples::default());
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(bystander(
        WsClient::authed(addr, &by.access_token).await?,
        dm,
        Arc::clone(&samples),
        Arc::clone(&stop),
    ));
    let mut busy = Vec::new();
    for (i, sender) in senders.iter().enumerate() {
        busy.push(tokio::spawn(busy_sender(
            WsClient::authed(addr, &sender.access_token).await?,
            group.clone(),
            i,
            Arc::clone(&samples),
            Arc::clone(&stop),
        )));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut rows = Vec::new();
    let mut peaks = Vec::new();
    for (i, abuse) in Abuse::ALL.into_iter().enumerate() {
        samples.phase.store(i, Ordering::Relaxed);
        let rss_stop = Arc::new(AtomicBool::new(false));
        let rss = tokio::spawn(watch_rss(gateway.pid(), Arc::clone(&rss_stop)));
        let note = match abuse {
            Abuse::Baseline | Abuse::After => {
                tokio::time::sleep(phase).await;
                String::new()
            }
            Abuse::SlowConsumer => slow_consumer(addr, &slow.access_token, phase).await?,
            Abuse::HalfOpen => half_open(addr, half_open_n, phase).await?,
            Abuse::NestingBombs => nesting_bombs(addr, &abusers[..4], phase).await?,
            Abuse::FrameFlood => frame_flood(addr, &abusers[4..], phase).await?,
            Abuse::Storm => reconnect_storm(addr, &storm_users, storm_n, phase, false).await?,
            Abuse::StormJitter => reconnect_storm(addr, &storm_users, storm_n, phase, true).await?,
        };
        rss_stop.store(true, Ordering::Relaxed);
        let peak = rss.await?;
        peaks.push(peak);
        rows.push(format!(
            "abuse| {} | {} | {} | {} | {} | {note} |",
            abuse.name(half_open_n, storm_n),
            samples.summary(i, Kind::Ping),
            samples.summary(i, Kind::Send),
            samples.summary(i, Kind::Group),
            peak / 1024,
        ));
    }
    stop.store(true, Ordering::Relaxed);
    watcher.await??;
    for sender in busy {
        sender.await??;
    }
    for row in &rows {
        eprintln!("{row}");
    }
    assert_eq!(samples.unanswered.load(Ordering::Relaxed), 0);
    let baseline = peaks[0];
    let peak = peaks.iter().copied().max().unwrap_or(0);
    assert!(
        peak < baseline + 768 * 1024,
        "the gateway grew from {} MiB to {} MiB",
        baseline / 1024,
        peak / 1024
    );
    assert_eq!(http::get(addr, "/health/ready").await?.status, 200);
    Ok(())
}
