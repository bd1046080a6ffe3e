//! The embedded PostgreSQL is supervised: `kill -9` of its postmaster under a steady send load,
//! and `parley serve` brings it back by itself (ready again within 10 s, no restart of Parley),
//! with every acknowledged message stored exactly once, in order.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parley_testkit::process::ParleyProcess;
use parley_testkit::{Api, TestUser, http, scratch_dir};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_parley");

/// Sends `prefix-0`, `prefix-1`, ... one at a time until `stop`, retrying each (same client id)
/// until it is acknowledged; returns the acknowledged ids in order.
async fn sender(
    api: Api,
    user: TestUser,
    conv: String,
    prefix: String,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let path = format!("/api/conversations/{conv}/messages");
    let mut acked = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let id = format!("{prefix}-{n}");
        let body = json!({"clientMessageId": id, "content": id});
        loop {
            match api.post(&path, Some(&user), &body).await {
                Ok(response) if response.status == 201 || response.status == 200 => break,
                // DB_ERROR / OVERLOADED while the database is down, or no answer: same id again.
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        acked.push(id);
        n += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    acked
}

/// The postmaster's pid, from its pid file.
fn postmaster_pid(data: &Path) -> anyhow::Result<u32> {
    let text = std::fs::read_to_string(data.join("pg/data/postmaster.pid"))?;
    Ok(text.lines().next().unwrap_or_default().trim().parse()?)
}

#[tokio::test]
async fn a_killed_embedded_postgres_comes_back_and_nothing_acknowledged_is_lost()
-> anyhow::Result<()> {
    let dir = scratch_dir("cli-supervise")?;
    let data = dir.join("data");
    let data_text = data.display().to_string();
    let limits = [
        ("PARLEY_DATA_DIR", data_text.as_str()),
        ("PARLEY_LIMITS__SEND", "100000/1m"),
        ("PARLEY_LIMITS__API", "100000/1m"),
        ("PARLEY_LOG__LEVEL", "warn"),
    ];
    let parley = ParleyProcess::serve(
        Path::new(BIN),
        &["--listen", "127.0.0.1:0", "--shards", "2"],
        &limits,
        Duration::from_secs(120),
    )?;
    let api = Api { addr: parley.addr };
    let (ann, ben) = (
        api.register("sup_ann").await?,
        api.register("sup_ben").await?,
    );
    let conv = api.dm(&ann, &ben).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = [("a", &ann), ("b", &ben)]
        .into_iter()
        .map(|(prefix, user)| {
            tokio::spawn(sender(
                api,
                user.clone(),
                conv.clone(),
                prefix.to_owned(),
                Arc::clone(&stop),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let pid = postmaster_pid(&data)?;
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?;
    assert!(status.success());
    let killed = Instant::now();
    // Down: readiness says so (once the dead server's connections are noticed).
    let mut saw_down = false;
    let mut back = None;
    while killed.elapsed() < Duration::from_secs(20) {
        let ready = http::get(parley.addr, "/health/ready")
            .await
            .map(|r| r.status.as_u16());
        let restarted = || postmaster_pid(&data).is_ok_and(|p| p != pid);
        match ready {
            Ok(200) if (saw_down || killed.elapsed() > Duration::from_secs(3)) && restarted() => {
                back = Some(killed.elapsed());
                break;
            }
            Ok(503) => saw_down = true,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back = back.ok_or_else(|| anyhow::anyhow!("the database never came back"))?;
    eprintln!("ready again {back:?} after kill -9 of the postmaster (503 seen: {saw_down})");
    assert!(back < Duration::from_secs(10), "{back:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked: HashMap<String, Vec<String>> = HashMap::new();
    for (prefix, task) in ["a", "b"].into_iter().zip(senders) {
        acked.insert(prefix.to_owned(), task.await?);
    }

    // Every acknowledged message is stored exactly once, in each sender's order.
    let mut stored: Vec<Value> = Vec::new();
    let mut after = 0;
    loop {
        let page = api
            .get(
                &format!("/api/conversations/{conv}/messages?after={after}&limit=100"),
                Some(&ann),
            )
            .await?;
        let items = page.body["data"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        after = items
            .last()
            .and_then(|m| m["seq"].as_i64())
            .unwrap_or(after);
        stored.extend(items);
    }
    let seqs: Vec<i64> = stored.iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "gap-free, strictly increasing"
    );
    for (prefix, ids) in &acked {
        let mine: Vec<&str> = stored
            .iter()
            .filter_map(|m| m["clientMessageId"].as_str())
            .filter(|id| id.starts_with(&format!("{prefix}-")))
            .collect();
        assert_eq!(
            mine,
            ids.iter().map(String::as_str).collect::<Vec<_>>(),
            "sender {prefix}"
        );
        assert!(ids.len() > 20, "the load kept going: {}", ids.len());
    }
    let metrics = http::get(parley.addr, "/metrics").await?;
    assert_eq!(metrics.status, 404, "no token configured here");
    parley.signal("TERM")?;
    let (status, stderr) = parley.wait(Duration::from_secs(60))?;
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("restarting it"), "{stderr}");
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
