//! Message retention end to end, with real REST and WebSocket clients and PostgreSQL: a
//! conversation's own limit (at most the server's; the owner of a group, either member of a DM)
//! with its system message, the sweep deleting only expired messages, history and sync telling
//! the gap left by retention (`expiredThroughSeq`), read watermarks moved past it, and the
//! metric.

use std::time::{Duration, Instant};

use hyper::Method;
use parley_testkit::TestGateway;
use parley_testkit::api::{Api, TestUser};
use parley_testkit::http;
use parley_testkit::ws::WsClient;
use serde_json::{Value, json};

async fn keep(
    api: &Api,
    user: &TestUser,
    conversation: &str,
    messages: Value,
) -> anyhow::Result<(u16, Value)> {
    let response = api
        .send(
            Method::PUT,
            &format!("/api/conversations/{conversation}/retention"),
            Some(user),
            Some(&json!({ "messages": messages })),
        )
        .await?;
    Ok((response.status.as_u16(), response.body))
}

#[tokio::test]
async fn expired_messages_go_and_history_and_sync_say_so() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.retention.interval = Duration::from_millis(200)).await?;
    let api = gw.api();
    let ann = api.register("ret_ann").await?;
    let ben = api.register("ret_ben").await?;
    let cat = api.register("ret_cat").await?;
    let dm = api.dm(&ann, &ben).await?;
    let started = Instant::now();
    for n in 1..=3 {
        api.say(&ann, &dm, n, "soon gone").await?;
    }
    // Either member of a DM sets it; the timeline says so.
    let (status, body) = keep(&api, &ben, &dm, json!("3s")).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["retentionSeconds"], 3);
    let (status, body) = keep(&api, &ben, &dm, json!("soon")).await?;
    assert_eq!(status, 400);
    assert!(body["error"]["details"]["messages"].is_array(), "{body}");

    // A group: its owner only.
    let group = api.group(&ann, "Kept", &[&cat]).await?;
    let (status, _) = keep(&api, &cat, &group, json!("1d")).await?;
    assert_eq!(status, 403);

    // After 3 s, a new message; the sweep takes the older ones and nothing else.
    tokio::time::sleep(Duration::from_millis(3200).saturating_sub(started.elapsed())).await;
    api.say(&ann, &dm, 9, "still here").await?;
    let path = format!("/api/conversations/{dm}/messages?limit=50");
    let mut page = api.get(&path, Some(&ben)).await?;
    for _ in 0..50 {
        if page.body["meta"]["expiredThroughSeq"].as_i64().unwrap_or(0) >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        page = api.get(&path, Some(&ben)).await?;
    }
    assert_eq!(page.body["meta"]["expiredThroughSeq"], 4, "{}", page.body);
    let left: Vec<&str> = page.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(left, ["still here"]);
    // Nothing unread that is gone: Ben has one unread message, the new one.
    let shown = api
        .get(&format!("/api/conversations/{dm}"), Some(&ben))
        .await?;
    assert_eq!(shown.body["data"]["unreadCount"], 1, "{}", shown.body);

    // A client that held nothing syncs: the gap is reported as retention, then the rest.
    let mut ws = WsClient::authed(gw.addr(), &ben.access_token).await?;
    ws.send(&json!({"event": "sync:request", "id": "s", "data": {
        "conversations": [{"conversationId": dm, "lastSeq": 0}]
    }}))
    .await?;
    let synced = ws.expect("sync:response").await?;
    assert_eq!(synced["data"]["expiredThroughSeq"], 4, "{synced}");
    let messages = synced["data"]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(messages.len(), 1, "{synced}");
    assert_eq!(messages[0]["content"], "still here");

    // Counted.
    let bearer = format!("Bearer {}", parley_testkit::gateway::TEST_METRICS_TOKEN);
    let metrics = http::request(
        gw.addr(),
        Method::GET,
        "/metrics",
        &[("authorization", &bearer)],
        None,
    )
    .await?;
    let text = String::from_utf8(metrics.raw.to_vec())?;
    let deleted = text
        .lines()
        .find_map(|l| l.strip_prefix("parley_retention_deleted_total "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(deleted.is_some_and(|n| n >= 4), "{deleted:?}");
    // Back to the server's retention (none here): recorded in the timeline like any change.
    let (status, body) = keep(&api, &ann, &dm, Value::Null).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["retentionSeconds"], Value::Null);
    Ok(())
}

#[tokio::test]
async fn a_conversation_keeps_messages_at_most_as_long_as_the_server() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.retention.messages = Duration::from_secs(3600)).await?;
    let api = gw.api();
    let ann = api.register("bound_ann").await?;
    let ben = api.register("bound_ben").await?;
    let dm = api.dm(&ann, &ben).await?;
    let (status, body) = keep(&api, &ann, &dm, json!("2h")).await?;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["details"]["messages"][0]
            .as_str()
            .unwrap_or_default()
            .contains("1h"),
        "{body}"
    );
    let (status, body) = keep(&api, &ann, &dm, json!("30m")).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["retentionSeconds"], 1800);
    let history = api
        .get(&format!("/api/conversations/{dm}/messages"), Some(&ben))
        .await?;
    let notice = &history.body["data"][0];
    assert_eq!(notice["contentType"], "system");
    assert_eq!(
        notice["content"],
        "bound_ann set messages here to be deleted after 30 minutes"
    );
    assert_eq!(history.body["meta"]["expiredThroughSeq"], 0);
    Ok(())
}
