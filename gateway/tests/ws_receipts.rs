//! "Who saw it": read marks over real WebSockets against PostgreSQL. Blue ticks in a DM, read-by
//! counts in a group with the receipts list, unread badges that stay right across two devices of
//! one user (and match `GET /api/conversations`), and marks from non-members refused.

use std::time::Duration;

use parley_testkit::TestGateway;
use parley_testkit::ws::WsClient;
use serde_json::{Value, json};

async fn read_mark(ws: &mut WsClient, id: &str, conv: &str, seq: i64) -> anyhow::Result<()> {
    ws.send(
        &json!({"event": "receipt:read", "id": id, "data": {"conversationId": conv, "seq": seq}}),
    )
    .await
}

async fn badge(ws: &mut WsClient, conv: &str, unread: i64) -> anyhow::Result<Value> {
    ws.expect_where("notification:badge", |f| {
        f["data"]["conversationId"] == conv && f["data"]["unreadCount"] == unread
    })
    .await
}

#[tokio::test]
async fn dm_ticks_and_badges_on_two_devices() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let ann = api.register("tick_ann").await?;
    let ben = api.register("tick_ben").await?;
    let eve = api.register("tick_eve").await?;
    let conv = api.dm(&ann, &ben).await?;
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut ben_phone = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let mut ben_laptop = WsClient::authed(gw.addr(), &ben.access_token).await?;

    for n in 1..=3 {
        ann_ws
            .send_message(
                &format!("s{n}"),
                &conv,
                &format!("c{n}"),
                &format!("hi {n}"),
            )
            .await?;
        ann_ws.expect("message:sent").await?;
    }
    for ws in [&mut ben_phone, &mut ben_laptop] {
        let b = badge(ws, &conv, 3).await?;
        assert_eq!(b["data"]["totalUnread"], 3);
    }
    // The sender's own messages are never unread for her.
    ann_ws.drain_for(Duration::from_millis(300)).await?;
    assert!(
        ann_ws
            .side_events("notification:badge")
            .iter()
            .all(|b| b["data"]["unreadCount"] == 0),
        "ann has nothing unread"
    );

    // Ben reads up to 2 on his phone: ann's ticks turn blue for 2; both his devices update.
    read_mark(&mut ben_phone, "r1", &conv, 2).await?;
    let receipt = ann_ws.expect("receipt:updated").await?;
    assert_eq!(receipt["data"]["conversationId"], conv.as_str());
    assert_eq!(receipt["data"]["userId"], ben.id.as_str());
    assert_eq!(receipt["data"]["seq"], 2);
    assert!(receipt["data"]["readAt"].is_string());
    for ws in [&mut ben_phone, &mut ben_laptop] {
        let b = badge(ws, &conv, 1).await?;
        assert_eq!(b["data"]["totalUnread"], 1);
    }
    let list = api.get("/api/conversations", Some(&ben)).await?;
    assert_eq!(list.body["data"][0]["unreadCount"], 1, "REST agrees");

    // A mark past the end is capped at the last message; an older mark changes nothing.
    read_mark(&mut ben_laptop, "r2", &conv, 99).await?;
    assert_eq!(ann_ws.expect("receipt:updated").await?["data"]["seq"], 3);
    for ws in [&mut ben_phone, &mut ben_laptop] {
        assert_eq!(badge(ws, &conv, 0).await?["data"]["totalUnread"], 0);
    }
    read_mark(&mut ben_phone, "r3", &conv, 1).await?;
    assert!(ann_ws.quiet_for(Duration::from_millis(400)).await?);
    let list = api.get("/api/conversations", Some(&ben)).await?;
    assert_eq!(list.body["data"][0]["unreadCount"], 0);
    assert_eq!(list.body["data"][0]["lastReadSeq"], 3);

    // A new message raises the badge again on both devices.
    ann_ws.send_message("s4", &conv, "c4", "one more").await?;
    ann_ws.expect("message:sent").await?;
    for ws in [&mut ben_phone, &mut ben_laptop] {
        badge(ws, &conv, 1).await?;
    }

    // Someone outside the conversation cannot mark it.
    let mut eve_ws = WsClient::authed(gw.addr(), &eve.access_token).await?;
    read_mark(&mut eve_ws, "e1", &conv, 1).await?;
    let error = eve_ws.expect("error").await?;
    assert_eq!(error["id"], "e1");
    assert_eq!(error["data"]["code"], "NOT_FOUND");
    assert!(ann_ws.quiet_for(Duration::from_millis(300)).await?);
    // Malformed marks are refused at once.
    eve_ws
        .send(&json!({"event": "receipt:read", "id": "e2", "data": {"conversationId": conv, "seq": -1}}))
        .await?;
    assert_eq!(
        eve_ws.expect("error").await?["data"]["code"],
        "VALIDATION_ERROR"
    );
    Ok(())
}

#[tokio::test]
async fn group_read_counts_and_receipts() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let ann = api.register("grp_ann").await?;
    let ben = api.register("grp_ben").await?;
    let cat = api.register("grp_cat").await?;
    let eve = api.register("grp_eve").await?;
    let conv = api.group(&ann, "readers", &[&ben, &cat]).await?;
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let mut cat_ws = WsClient::authed(gw.addr(), &cat.access_token).await?;
    let mut ids = Vec::new();
    for n in 1..=2 {
        ann_ws
            .send_message(
                &format!("s{n}"),
                &conv,
                &format!("c{n}"),
                &format!("hello {n}"),
            )
            .await?;
        let sent = ann_ws.expect("message:sent").await?;
        ids.push(
            sent["data"]["message"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    read_mark(&mut ben_ws, "b1", &conv, 2).await?;
    for id in ids.iter().rev() {
        let count = ann_ws
            .expect_where("receipt:count", |f| f["data"]["messageId"] == id.as_str())
            .await?;
        assert_eq!(count["data"]["readCount"], 1);
        assert_eq!(count["data"]["conversationId"], conv.as_str());
    }
    read_mark(&mut cat_ws, "c1", &conv, 1).await?;
    let count = ann_ws.expect("receipt:count").await?;
    assert_eq!(count["data"]["messageId"], ids[0].as_str());
    assert_eq!(count["data"]["readCount"], 2);
    // Readers are not told about each other's reads, only the sender.
    ben_ws.drain_for(Duration::from_millis(300)).await?;
    assert!(
        ben_ws
            .backlog()
            .iter()
            .all(|f| f["event"] != "receipt:count"),
        "{:?}",
        ben_ws.backlog()
    );

    let first = api
        .get(&format!("/api/messages/{}/receipts", ids[0]), Some(&ann))
        .await?;
    assert_eq!(first.status, 200, "{}", first.body);
    let readers: Vec<&str> = first.body["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["userId"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        readers,
        vec![ben.id.as_str(), cat.id.as_str()],
        "earliest first"
    );
    assert!(first.body["data"][0]["readAt"].is_string());
    let second = api
        .get(&format!("/api/messages/{}/receipts", ids[1]), Some(&cat))
        .await?;
    assert_eq!(second.body["data"].as_array().map(Vec::len), Some(1));
    // Not a member: the message does not exist for them.
    let hidden = api
        .get(&format!("/api/messages/{}/receipts", ids[0]), Some(&eve))
        .await?;
    assert_eq!(hidden.status, 404);
    assert_eq!(hidden.body["error"]["code"], "NOT_FOUND");
    Ok(())
}
