//! Push across a crash of the real binary: messages committed (acked) while the push gateway is
//! down, then `kill -9`; after the restart every one of them reaches the device exactly once, and
//! what was delivered before the crash is not sent again.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use parley_testkit::api::Api;
use parley_testkit::process::{ParleyProcess, wait_ready};
use parley_testkit::webhook::{Received, WebhookReceiver};
use parley_testkit::{TestCluster, scratch_dir};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_parley");
const WAIT: Duration = Duration::from_secs(30);

fn serve(url: &str, env: &[(&str, &str)]) -> anyhow::Result<ParleyProcess> {
    ParleyProcess::serve(
        Path::new(BIN),
        &["--listen", "127.0.0.1:0", "--database-url", url],
        env,
        Duration::from_secs(60),
    )
}

/// The 2xx answers per idempotency key.
fn delivered(got: &[Received]) -> HashMap<String, usize> {
    let mut keys = HashMap::new();
    for request in got.iter().filter(|r| (200..300).contains(&r.status)) {
        *keys.entry(request.idempotency_key.clone()).or_insert(0) += 1;
    }
    keys
}

async fn wait_delivered(receiver: &WebhookReceiver, n: usize) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while delivered(&receiver.received()).len() < n {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} pushes delivered",
            delivered(&receiver.received()).len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test]
async fn pushes_committed_before_a_kill_9_arrive_once_after_restart() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let url = cluster.url();
    let receiver = WebhookReceiver::start().await?;
    let dir = scratch_dir("push-crash")?;
    let data = dir.display().to_string();
    let hook = receiver.url();
    let env = [
        ("PARLEY_DATA_DIR", data.as_str()),
        ("PARLEY_NOTIFICATIONS__WEBHOOK_URL", hook.as_str()),
        (
            "PARLEY_NOTIFICATIONS__WEBHOOK_SECRET",
            "a-webhook-secret-of-at-least-32-characters",
        ),
        ("PARLEY_NOTIFICATIONS__PUSH_INTERVAL", "50ms"),
        ("PARLEY_NOTIFICATIONS__PUSH_RETRY_BASE", "100ms"),
        ("PARLEY_NOTIFICATIONS__PUSH_RETRY_MAX", "200ms"),
        ("PARLEY_NOTIFICATIONS__PUSH_ATTEMPTS", "50"),
        ("PARLEY_NOTIFICATIONS__PUSH_TIMEOUT", "1s"),
    ];
    let parley = serve(&url, &env)?;
    wait_ready(parley.addr).await?;
    let api = Api { addr: parley.addr };
    let ann = api.register("crash_ann").await?;
    let ben = api.register("crash_ben").await?;
    let dm = api.dm(&ann, &ben).await?;
    api.register_push(&ben, "ben-phone").await?;
    let send = |n: usize| {
        let (api, ann, dm) = (&api, &ann, &dm);
        async move {
            let body =
                json!({"clientMessageId": format!("c{n}"), "content": format!("message {n}")});
            let made = api
                .post(
                    &format!("/api/conversations/{dm}/messages"),
                    Some(ann),
                    &body,
                )
                .await?;
            anyhow::ensure!(made.status == 201, "send {n}: {}", made.status);
            anyhow::Ok(())
        }
    };

    // Delivered before the crash (and recorded: nothing is sent twice).
    for n in 0..5 {
        send(n).await?;
    }
    wait_delivered(&receiver, 5).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before: Vec<String> = delivered(&receiver.received()).into_keys().collect();

    // The push gateway goes down; ten more messages commit; the gateway dies without a word.
    receiver.answer_otherwise(503);
    for n in 5..15 {
        send(n).await?;
    }
    parley.signal("KILL")?;
    let (status, _) = parley.wait(Duration::from_secs(10))?;
    assert!(!status.success());
    let attempts_while_down = receiver.received().len();

    receiver.answer_otherwise(201);
    let parley = serve(&url, &env)?;
    wait_ready(parley.addr).await?;
    wait_delivered(&receiver, 15).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = receiver.received();
    let keys = delivered(&got);
    assert_eq!(keys.len(), 15, "one key per message and device: {keys:?}");
    assert!(
        keys.values().all(|n| *n == 1),
        "each delivered once: {keys:?}"
    );
    let resent: Vec<&Received> = got[attempts_while_down..]
        .iter()
        .filter(|r| before.contains(&r.idempotency_key))
        .collect();
    assert!(resent.is_empty(), "delivered before the crash: {resent:?}");
    let contents: Vec<String> = got
        .iter()
        .filter(|r| r.status == 201)
        .filter_map(|r| r.body["body"].as_str().map(str::to_owned))
        .collect();
    let mut expected: Vec<String> = (0..15).map(|n| format!("message {n}")).collect();
    let mut sorted = contents.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "every message's push: {contents:?}");
    parley.signal("TERM")?;
    parley.wait(Duration::from_secs(30))?;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
