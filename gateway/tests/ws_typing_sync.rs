//! Typing indicators (subscribers only, limited to one start a second, auto-stop, stopped by a
//! send) and sync after a reconnect (pages across a gap, edits since, `tooLarge` past the cap),
//! with real clients and PostgreSQL.

use std::time::Duration;

use parley_testkit::TestGateway;
use parley_testkit::api::seed_messages;
use parley_testkit::chat::Resilient;
use parley_testkit::ws::WsClient;
use serde_json::{Value, json};

async fn subscribe(ws: &mut WsClient, conv: &str) -> anyhow::Result<Value> {
    ws.ask("subscribe", "sub", json!({"conversationId": conv}))
        .await
}

async fn typing(ws: &mut WsClient, conv: &str, start: bool) -> anyhow::Result<()> {
    let event = if start { "typing:start" } else { "typing:stop" };
    ws.send(&json!({"event": event, "data": {"conversationId": conv}}))
        .await
}

#[tokio::test]
async fn typing_reaches_subscribers_and_expires() -> anyhow::Result<()> {
    let gw =
        TestGateway::start_with(|c| c.chat.typing_timeout = Duration::from_millis(800)).await?;
    let api = gw.api();
    let ann = api.register("typ_ann").await?;
    let ben = api.register("typ_ben").await?;
    let eve = api.register("typ_eve").await?;
    let conv = api.dm(&ann, &ben).await?;
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let mut ben_other = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let mut eve_ws = WsClient::authed(gw.addr(), &eve.access_token).await?;

    // Typing needs a subscription, and only members can subscribe.
    typing(&mut ann_ws, &conv, true).await?;
    assert_eq!(
        ann_ws.expect("error").await?["data"]["code"],
        "VALIDATION_ERROR"
    );
    assert_eq!(
        subscribe(&mut eve_ws, &conv).await?["data"]["code"],
        "NOT_FOUND"
    );
    assert_eq!(subscribe(&mut ann_ws, &conv).await?["event"], "subscribed");
    assert_eq!(subscribe(&mut ben_ws, &conv).await?["event"], "subscribed");

    typing(&mut ann_ws, &conv, true).await?;
    let started = ben_ws.expect("typing:started").await?;
    assert_eq!(
        started["data"],
        json!({"conversationId": conv, "userId": ann.id})
    );
    // A second start within the second is dropped; no echo to the typist; the unsubscribed
    // connection of the same member hears nothing.
    typing(&mut ann_ws, &conv, true).await?;
    // Auto-stop after the timeout.
    let stopped = ben_ws.expect("typing:stopped").await?;
    assert_eq!(stopped["data"]["userId"], ann.id.as_str());
    assert!(
        ben_ws.quiet_for(Duration::from_millis(300)).await?,
        "one start, one stop"
    );
    assert!(ann_ws.quiet_for(Duration::from_millis(100)).await?);
    assert!(ben_other.quiet_for(Duration::from_millis(100)).await?);
    assert!(eve_ws.quiet_for(Duration::from_millis(100)).await?);

    // A send stops it at once (before the message arrives).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    typing(&mut ann_ws, &conv, true).await?;
    ben_ws.expect("typing:started").await?;
    ann_ws
        .send_message("s1", &conv, "c1", "done typing")
        .await?;
    assert_eq!(ben_ws.next().await?["event"], "typing:stopped");
    assert_eq!(ben_ws.next().await?["event"], "message:received");
    // An explicit stop.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    typing(&mut ben_ws, &conv, true).await?;
    ann_ws.expect("typing:started").await?;
    typing(&mut ben_ws, &conv, false).await?;
    ann_ws.expect("typing:stopped").await?;
    Ok(())
}

/// Sends `sync:request` for one conversation and collects its `sync:response` frames.
async fn sync(ws: &mut WsClient, conv: &str, last: i64) -> anyhow::Result<Vec<Value>> {
    ws.send(&json!({"event": "sync:request", "id": "sync", "data": {
        "conversations": [{"conversationId": conv, "lastSeq": last}]
    }}))
    .await?;
    let mut frames = Vec::new();
    loop {
        let frame = ws.expect("sync:response").await?;
        assert_eq!(frame["id"], "sync");
        let more = frame["data"]["hasMore"] == true;
        frames.push(frame);
        if !more {
            return Ok(frames);
        }
    }
}

#[tokio::test]
async fn sync_fills_a_gap_of_a_thousand() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let ann = api.register("sync_ann").await?;
    let ben = api.register("sync_ben").await?;
    let eve = api.register("sync_eve").await?;
    let conv = api.dm(&ann, &ben).await?;
    // Ben was away while 1,000 messages arrived.
    let db = gw.cluster.client().await?;
    seed_messages(&db, &conv, &ann.id, 1000).await?;
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;

    // From the start: over the cap, so no messages; page by REST instead.
    let frames = sync(&mut ben_ws, &conv, 0).await?;
    assert_eq!(frames.len(), 1);
    let data = &frames[0]["data"];
    assert_eq!(data["tooLarge"], true);
    assert_eq!(data["messages"], json!([]));
    assert_eq!(data["lastSeq"], 1000);
    assert_eq!(data["unreadCount"], 1000);
    // What the client does then: page forward by REST from its last seq; all 1,000, in order.
    let (mut after, mut fetched) = (0i64, 0);
    loop {
        let page = api
            .get(
                &format!("/api/conversations/{conv}/messages?after={after}&limit=100"),
                Some(&ben),
            )
            .await?;
        for message in page.body["data"].as_array().into_iter().flatten() {
            assert_eq!(message["seq"], after + 1);
            after += 1;
            fetched += 1;
        }
        if page.body["meta"]["hasMore"] != true {
            break;
        }
    }
    assert_eq!(fetched, 1000);

    // An edit of a message Ben already holds, made while he was away.
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let page = api
        .get(
            &format!("/api/conversations/{conv}/messages?after=549&limit=1"),
            Some(&ann),
        )
        .await?;
    let held = page.body["data"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ann_ws
        .send(&json!({"event": "message:edit", "id": "e", "data": {"messageId": held, "content": "changed"}}))
        .await?;
    ann_ws.expect("message:edited").await?;

    // Holding up to 550: 450 missed, in pages of 100, in seq order, with the edit.
    let frames = sync(&mut ben_ws, &conv, 550).await?;
    assert_eq!(frames.len(), 5);
    let seqs: Vec<i64> = frames
        .iter()
        .flat_map(|f| {
            f["data"]["messages"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|m| m["seq"].as_i64())
        .collect();
    assert_eq!(seqs, (551..=1000).collect::<Vec<_>>());
    assert_eq!(frames[0]["data"]["tooLarge"], false);
    let changes = &frames[0]["data"]["changes"];
    assert_eq!(changes.as_array().map(Vec::len), Some(1), "{changes}");
    assert_eq!(changes[0]["id"], held.as_str());
    assert_eq!(changes[0]["content"], "changed");
    assert_eq!(frames[4]["data"]["hasMore"], false);

    // Up to date: one empty answer. Not a member: an error naming the conversation.
    let frames = sync(&mut ben_ws, &conv, 1000).await?;
    assert_eq!(frames[0]["data"]["messages"], json!([]));
    let mut eve_ws = WsClient::authed(gw.addr(), &eve.access_token).await?;
    eve_ws
        .send(&json!({"event": "sync:request", "id": "x", "data": {
            "conversations": [{"conversationId": conv, "lastSeq": 0}]
        }}))
        .await?;
    let error = eve_ws.expect("error").await?;
    assert_eq!(error["data"]["code"], "NOT_FOUND");
    assert_eq!(error["data"]["details"]["conversationId"][0], conv.as_str());
    Ok(())
}

/// The test kit's reconnecting client (the nemesis' and load tests' history recorder) follows the
/// protocol past the cap: a `tooLarge` sync is gap-filled by REST pages.
#[tokio::test]
async fn the_resilient_client_pages_past_a_sync_too_large() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let ann = api.register("page_ann").await?;
    let ben = api.register("page_ben").await?;
    let conv = api.dm(&ann, &ben).await?;
    seed_messages(&gw.cluster.client().await?, &conv, &ann.id, 1000).await?;
    let pool = std::sync::Arc::new(std::sync::Mutex::new(vec![gw.addr()]));
    let mut ben = Resilient::connect(pool, &ben.access_token, "ben", vec![conv.clone()], 0).await?;
    ben.pump(Duration::from_millis(500)).await?;
    assert_eq!(ben.contiguous(&conv), 1000);
    Ok(())
}
