//! An external PostgreSQL (`database.url`) that goes away and comes back: sends meanwhile get a
//! retryable error (never an ack), readiness says 503, and once the server is back the persister's
//! lanes and the shards' pools reconnect by themselves.

use std::time::Duration;

use parley_testkit::TestGateway;
use serde_json::json;

#[tokio::test]
async fn lanes_and_pools_reconnect_when_the_database_returns() -> anyhow::Result<()> {
    let mut gw = TestGateway::start().await?;
    let api = gw.api();
    let (ann, ben) = (api.register("rc_ann").await?, api.register("rc_ben").await?);
    let conv = api.dm(&ann, &ben).await?;
    let path = format!("/api/conversations/{conv}/messages");
    let send = |id: &str| json!({"clientMessageId": id, "content": id});
    assert_eq!(
        api.post(&path, Some(&ann), &send("before")).await?.status,
        201
    );

    gw.cluster.pg_mut().stop()?;
    let down = api.post(&path, Some(&ann), &send("during")).await?;
    assert_eq!(down.status, 503, "{}", down.body);
    assert_eq!(down.body["error"]["retryable"], true);
    assert_eq!(gw.get("/health/ready").await?.status, 503);

    gw.cluster.pg_mut().restart(Duration::from_secs(60))?;
    let mut answered = None;
    for _ in 0..100 {
        let response = api.post(&path, Some(&ann), &send("during")).await?;
        if response.status.is_success() {
            answered = Some(response.status.as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        answered,
        Some(201),
        "the retried send is stored once the server is back"
    );
    assert_eq!(gw.get("/health/ready").await?.status, 200);
    let history = api.get(&format!("{path}?limit=10"), Some(&ben)).await?;
    let contents: Vec<&str> = history.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(
        contents,
        ["during", "before"],
        "nothing doubled, nothing lost"
    );
    Ok(())
}
