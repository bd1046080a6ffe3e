//! A ping flood from one unauthenticated socket that never reads: the server answers only the
//! latest ping (one pong waits at a time) and counts it against the connection's byte bound, so
//! its memory stays flat. Alone in its test binary so the process's RSS is this test's alone.

use std::time::Duration;

use parley_testkit::TestGateway;
use parley_testkit::raw::{Raw, encode};
use tokio::io::AsyncWriteExt;

/// Resident set size of this process (the gateway runs in it), in KiB.
fn rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("VmRSS: {line}"))?
        .parse()?)
}

#[tokio::test]
async fn a_ping_flood_that_never_reads_holds_no_memory() -> anyhow::Result<()> {
    // Long enough to flood before the auth deadline closes the socket.
    let gw = TestGateway::start_with(|c| c.ws.auth_timeout = Duration::from_secs(120)).await?;
    let mut raw = Raw::connect(gw.addr(), None).await?;
    // Warm the allocator and the connection path first, then measure from there.
    let ping = encode(true, 0x9, &[b'p'; 125]);
    let chunk: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 1000)
        .collect();
    for _ in 0..20 {
        raw.stream.write_all(&chunk).await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib()?;
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = std::sync::Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                if let Ok(now) = rss_kib() {
                    peak.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    // 200,000 masked 125-byte pings (26 MB on the wire) without reading a byte back. Before the
    // fix each one queued a pong: about 200 B of server memory per ping, 40 MB here.
    for _ in 0..200 {
        raw.stream.write_all(&chunk).await?;
    }
    // A text ping after the flood: once its pong arrives, every control frame was handled.
    raw.frame(true, 0x1, br#"{"event":"ping","id":"after-flood"}"#)
        .await?;
    let grown_kib = {
        let mut seen = false;
        for _ in 0..250_000 {
            let (opcode, payload) = raw.read_frame().await?;
            if opcode == 0x1 && String::from_utf8_lossy(&payload).contains("after-flood") {
                seen = true;
                break;
            }
        }
        anyhow::ensure!(seen, "the text ping was answered");
        sampler.abort();
        peak.load(std::sync::atomic::Ordering::Relaxed)
            .saturating_sub(before)
    };
    eprintln!("RSS grew by {grown_kib} KiB during the flood");
    assert!(
        grown_kib < 12 * 1024,
        "the flood made the process grow by {grown_kib} KiB"
    );
    assert_eq!(gw.get("/health/ready").await?.status, 200);
    Ok(())
}
