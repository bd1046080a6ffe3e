//! `make bench` (scripts/bench-cluster.sh), not `make test`: a rolling restart of three
//! instances under steady load, measured. Clients are `chat::Resilient` (reconnect elsewhere on
//! 1012, resend unacknowledged sends with their ids, gap-fill by seq). Prints one JSON object:
//! the time each instance took to drain, reconnect latencies, and what was lost or doubled.
//! Run: `cargo test --release -p parley-gateway --test cluster_rolling_bench -- --ignored`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parley_testkit::TestFleet;
use parley_testkit::chat::Resilient;
use serde_json::json;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run by scripts/bench-cluster.sh"]
async fn rolling_restart_under_load() -> anyhow::Result<()> {
    let clients_n = env("ROLLING_CLIENTS", 30) as usize;
    let rate_each = env("ROLLING_RATE_EACH", 5);
    let seconds = env("ROLLING_SECONDS", 20);
    let group_size = 10;
    let mut fleet = TestFleet::start(3, |c| {
        c.limits.enabled = false;
        c.server.shutdown_grace = Duration::from_secs(10);
    })
    .await?;
    let mut users = Vec::new();
    for n in 0..clients_n {
        users.push(fleet.api(n % 3).register(&format!("bench{n}")).await?);
    }
    let mut groups = Vec::new();
    for chunk in users.chunks(group_size) {
        let others: Vec<_> = chunk[1..].iter().collect();
        groups.push(fleet.api(0).group(&chunk[0], "Bench", &others).await?);
    }
    let pool = Arc::new(Mutex::new(fleet.addrs()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (n, user) in users.iter().enumerate() {
        let group = groups[n / group_size].clone();
        let mut client = Resilient::connect(
            Arc::clone(&pool),
            &user.access_token,
            &format!("b{n}"),
            vec![group.clone()],
            n,
        )
        .await?;
        let gap = Duration::from_secs_f64(1.0 / rate_each.max(1) as f64);
        tasks.push(tokio::spawn(async move {
            let mut k = 0u64;
            while Instant::now() < deadline {
                client.send(&group, &format!("{n}:{k}")).await?;
                k += 1;
                client.pump(gap).await?;
            }
            client.settle(Duration::from_secs(30)).await?;
            client.resync(Duration::from_millis(500)).await?;
            anyhow::Ok((client, group))
        }));
    }
    // One instance every third of the run, after a quarter of it.
    let mut drains = Vec::new();
    let step = Duration::from_secs(seconds) / 4;
    for i in 0..fleet.len() {
        tokio::time::sleep(step).await;
        let leaving = fleet.addr(i);
        pool.lock().expect("pool").retain(|a| *a != leaving);
        let begun = Instant::now();
        fleet.stop(i).await;
        drains.push(begun.elapsed().as_secs_f64() * 1000.0);
        fleet.start_instance(i).await?;
        pool.lock().expect("pool").push(fleet.addr(i));
    }
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await??);
    }
    let db = fleet.cluster.client().await?;
    let rows = db
        .query(
            "SELECT client_message_id, seq, conversation_id::text FROM messages",
            &[],
        )
        .await?;
    let mut stored: HashMap<String, u32> = HashMap::new();
    let mut last: HashMap<String, i64> = HashMap::new();
    for row in &rows {
        *stored.entry(row.get(0)).or_default() += 1;
        let conversation: String = row.get(2);
        let seq: i64 = row.get(1);
        let entry = last.entry(conversation.replace('-', "")).or_default();
        *entry = (*entry).max(seq);
    }
    let (mut acked, mut lost, mut doubled_live, mut undelivered, mut order) = (0, 0, 0, 0, 0);
    let mut reconnects: Vec<Duration> = Vec::new();
    let mut saw_1012 = 0;
    for (client, group) in &clients {
        acked += client.acked.len();
        lost += client
            .acked
            .keys()
            .filter(|cid| !stored.contains_key(*cid))
            .count();
        doubled_live += client.duplicates;
        order += client.order_violations;
        let want = last
            .get(group.trim_start_matches("conv_"))
            .copied()
            .unwrap_or(0);
        undelivered += (want - client.contiguous(group)).max(0);
        reconnects.extend(client.reconnect_times.iter().copied());
        saw_1012 += client.closes.iter().filter(|c| **c == Some(1012)).count();
    }
    let doubled_stored = stored.values().filter(|n| **n > 1).count();
    reconnects.sort();
    let report = json!({
        "scenario": "rolling-restart",
        "instances": 3,
        "clients": clients_n,
        "offered_rate": clients_n as u64 * rate_each,
        "duration_s": seconds,
        "sent_acked": acked,
        "stored": rows.len(),
        "lost": lost,
        "doubled_stored": doubled_stored,
        "doubled_delivered": doubled_live,
        "order_violations": order,
        "undelivered_after_gap_fill": undelivered,
        "closes_1012": saw_1012,
        "drain_ms": drains,
        "reconnects": reconnects.len(),
        "reconnect_ms": {
            "p50": percentile(&reconnects, 0.50),
            "p99": percentile(&reconnects, 0.99),
            "max": percentile(&reconnects, 1.0),
        },
    });
    eprintln!("ROLLING {report}");
    if let Ok(path) = std::env::var("ROLLING_OUT") {
        std::fs::write(path, report.to_string())?;
    }
    assert_eq!(lost, 0);
    assert_eq!(doubled_stored, 0);
    Ok(())
}
