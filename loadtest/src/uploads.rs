//! `uploads`: C users each upload one file of S MiB at once, R rounds (`POST /api/uploads`, the
//! body streamed in 64 KiB writes over a raw HTTP/1.1 connection). Reports the upload time per
//! file, the aggregate throughput, and the server's resident memory sampled every 20 ms (before,
//! peak, after) with its CPU time: what a burst of large uploads costs the gateway.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::connections::{cpu_ticks, rss_kib};
use crate::record::{Recorder, Report};

const CHUNK: usize = 64 * 1024;
const TICKS_PER_S: f64 = 100.0;

pub(crate) struct Options {
    pub(crate) addr: SocketAddr,
    pub(crate) concurrency: usize,
    pub(crate) size_mib: u64,
    pub(crate) rounds: usize,
    pub(crate) server_pid: Option<u32>,
}

pub(crate) async fn uploads(o: Options) -> anyhow::Result<Report> {
    let run = std::process::id();
    let users = crate::http::register_many(o.addr, &format!("up{run}"), o.concurrency).await?;
    let size = o.size_mib * 1024 * 1024;
    let mut recorder = Recorder::default();
    // Sign-ups hash passwords (Argon2 holds 19 MiB each while it runs): let the gateway give that
    // memory back before the baseline is read.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_before = o.server_pid.and_then(rss_kib);
    let cpu_before = o.server_pid.and_then(cpu_ticks);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = o.server_pid.map(|pid| {
        let peak = std::sync::Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                if let Some(kib) = rss_kib(pid) {
                    peak.fetch_max(kib, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    });
    let started = Instant::now();
    let mut stored = 0u64;
    for round in 0..o.rounds {
        let tasks: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(n, (_, token))| {
                let (addr, token) = (o.addr, token.clone());
                tokio::spawn(
                    async move { upload(addr, &token, size, (round * 1000 + n) as u64).await },
                )
            })
            .collect();
        for task in tasks {
            match task.await? {
                Ok(took) => {
                    recorder.record("upload", took);
                    stored += 1;
                }
                Err(error) => recorder.error(&error.to_string()),
            }
        }
    }
    let wall = started.elapsed();
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    let cpu_after = o.server_pid.and_then(cpu_ticks);
    let rss_after = o.server_pid.and_then(rss_kib);
    recorder.count("uploads_stored", stored);
    let mut summary = serde_json::Map::new();
    summary.insert("concurrency".into(), json!(o.concurrency));
    summary.insert("size_mib".into(), json!(o.size_mib));
    summary.insert("rounds".into(), json!(o.rounds));
    summary.insert("wall_s".into(), json!(wall.as_secs_f64()));
    let mib = (stored * size) as f64 / (1024.0 * 1024.0);
    summary.insert(
        "throughput_mib_per_s".into(),
        json!(mib / wall.as_secs_f64().max(1e-9)),
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        summary.insert("server_rss_before_kib".into(), json!(before));
        summary.insert(
            "server_rss_peak_kib".into(),
            json!(peak.load(std::sync::atomic::Ordering::Relaxed)),
        );
        summary.insert("server_rss_after_kib".into(), json!(after));
    }
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let seconds = after.saturating_sub(before) as f64 / TICKS_PER_S;
        summary.insert("server_cpu_s".into(), json!(seconds));
        if mib > 0.0 {
            summary.insert(
                "server_cpu_ms_per_mib".into(),
                json!(seconds * 1000.0 / mib),
            );
        }
    }
    Ok(Report {
        scenario: "uploads",
        summary,
        recorder,
    })
}

/// One upload of `size` bytes (distinct per `n`); how long until the 201.
async fn upload(addr: SocketAddr, token: &str, size: u64, n: u64) -> anyhow::Result<Duration> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let started = Instant::now();
    let head = format!(
        "POST /api/uploads?name=load-{n}.bin HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
         content-length: {size}\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    let mut chunk = vec![0u8; CHUNK];
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for byte in &mut chunk {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let mut left = size;
    while left > 0 {
        let take = CHUNK.min(usize::try_from(left).unwrap_or(CHUNK));
        stream.write_all(&chunk[..take]).await?;
        left -= take as u64;
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    anyhow::ensure!(
        text.starts_with("HTTP/1.1 201"),
        "{}",
        text.lines().next().unwrap_or("no answer")
    );
    Ok(started.elapsed())
}
