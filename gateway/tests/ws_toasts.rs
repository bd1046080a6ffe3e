//! Toasts over real WebSockets against PostgreSQL: a message toasts its recipients' connections
//! but not the one with the conversation in focus nor the sender's; the recipient's level, mute
//! and do-not-disturb (status and schedule) decide, applied at once when changed over REST;
//! rapid messages are grouped into one toast at the window's end; `focus` on a stranger's
//! conversation is refused.

use std::time::Duration;

use parley_testkit::TestGateway;
use parley_testkit::ws::WsClient;
use serde_json::{Value, json};

/// Sets `focus` and waits until the server handled it (frames are handled in order).
async fn focus(ws: &mut WsClient, conv: Option<&str>) -> anyhow::Result<()> {
    ws.send(&json!({"event": "focus", "data": {"conversationId": conv}}))
        .await?;
    ws.ask("ping", "after-focus", json!({})).await?;
    Ok(())
}

/// The toasts `ws` received for `conv` once `within` has passed.
async fn toasts(ws: &mut WsClient, conv: &str, within: Duration) -> anyhow::Result<Vec<Value>> {
    ws.drain_for(within).await?;
    Ok(ws
        .side_events("notification:toast")
        .into_iter()
        .filter(|t| t["data"]["conversationId"] == conv)
        .collect())
}

const SETTLE: Duration = Duration::from_millis(400);

#[tokio::test]
async fn toasts_skip_the_focused_connection_and_follow_preferences() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        c.notifications.toast_group_window = Duration::from_millis(300);
    })
    .await?;
    let api = gw.api();
    let ann = api.register("toast_ann").await?;
    let ben = api.register("toast_ben").await?;
    let group = api.group(&ann, "Design", &[&ben]).await?;
    let dm = api.dm(&ann, &ben).await?;
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut ben_desk = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let mut ben_phone = WsClient::authed(gw.addr(), &ben.access_token).await?;
    focus(&mut ben_desk, Some(&group)).await?;
    // Let both of Ben's connections load their context (badges and toasts come after it).
    tokio::time::sleep(SETTLE).await;

    let long = "x".repeat(150);
    ann_ws.sent(&group, "g1", &long).await?;
    let phone = toasts(&mut ben_phone, &group, SETTLE).await?;
    assert_eq!(
        phone.len(),
        1,
        "one toast on the unfocused connection: {phone:?}"
    );
    let toast = &phone[0]["data"];
    assert_eq!(toast["title"], "Design");
    assert_eq!(toast["senderId"], ann.id.as_str());
    assert_eq!(toast["count"], 1);
    assert_eq!(toast["priority"], "normal");
    assert_eq!(toast["body"].as_str().map(|b| b.chars().count()), Some(100));
    assert!(
        toasts(&mut ben_desk, &group, Duration::ZERO)
            .await?
            .is_empty(),
        "focused"
    );
    assert!(
        toasts(&mut ann_ws, &group, Duration::ZERO)
            .await?
            .is_empty(),
        "sender"
    );

    // In a DM the title is the other member's name; focus elsewhere lets it through.
    focus(&mut ben_desk, None).await?;
    ann_ws.sent(&dm, "d1", "lunch?").await?;
    let desk = toasts(&mut ben_desk, &dm, SETTLE).await?;
    assert_eq!(desk.len(), 1, "{desk:?}");
    assert_eq!(desk[0]["data"]["title"], "toast_ann");
    assert_eq!(desk[0]["data"]["body"], "lunch?");
    ben_phone.drain_for(Duration::ZERO).await?;
    let _ = ben_phone.side_events("notification:toast");

    // Rapid messages: the first at once, the rest in one toast at the window's end.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for (i, text) in ["a", "b", "c", "d"].iter().enumerate() {
        ann_ws.sent(&group, &format!("burst{i}"), text).await?;
    }
    let burst = toasts(&mut ben_phone, &group, Duration::from_millis(700)).await?;
    let counts: Vec<i64> = burst
        .iter()
        .filter_map(|t| t["data"]["count"].as_i64())
        .collect();
    assert_eq!(counts, vec![1, 3], "{burst:?}");
    assert_eq!(burst[1]["data"]["body"], "3 new messages");

    // Level `mentions`: only a mention toasts.
    let prefs = format!("/api/conversations/{group}/notifications");
    let set = api
        .put(&prefs, Some(&ben), &json!({"level": "mentions"}))
        .await?;
    assert_eq!(set.status, 200, "{}", set.body);
    tokio::time::sleep(SETTLE).await;
    ann_ws.sent(&group, "p1", "nothing for ben").await?;
    ann_ws.sent(&group, "p2", "@toast_ben look").await?;
    let mentioned = toasts(&mut ben_phone, &group, SETTLE).await?;
    assert_eq!(mentioned.len(), 1, "{mentioned:?}");
    assert_eq!(mentioned[0]["data"]["body"], "@toast_ben look");

    // Muted: nothing, mentions included.
    let until = "2099-01-01T00:00:00Z";
    let body = json!({"level": "all", "mutedUntil": until});
    assert_eq!(api.put(&prefs, Some(&ben), &body).await?.status, 200);
    tokio::time::sleep(SETTLE).await;
    ann_ws.sent(&group, "q1", "@toast_ben muted").await?;
    assert!(
        toasts(&mut ben_phone, &group, SETTLE).await?.is_empty(),
        "muted"
    );
    assert_eq!(
        api.put(&prefs, Some(&ben), &json!({"level": "all"}))
            .await?
            .status,
        200
    );

    // Do not disturb by status, then by a schedule covering the whole day but one minute.
    ben_phone
        .ask("presence:set", "dnd", json!({"status": "dnd"}))
        .await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    ann_ws.sent(&group, "s1", "dnd by status").await?;
    assert!(
        toasts(&mut ben_phone, &group, SETTLE).await?.is_empty(),
        "dnd status"
    );
    ben_phone
        .ask("presence:set", "online", json!({"status": "online"}))
        .await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    ann_ws.sent(&group, "s2", "back").await?;
    assert_eq!(toasts(&mut ben_phone, &group, SETTLE).await?.len(), 1);
    api.quiet_now(&ben).await?;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    ann_ws.sent(&group, "s3", "scheduled quiet").await?;
    assert!(
        toasts(&mut ben_phone, &group, SETTLE).await?.is_empty(),
        "dnd schedule"
    );
    Ok(())
}

#[tokio::test]
async fn focus_on_a_strangers_conversation_is_refused() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let ann = api.register("focus_ann").await?;
    let ben = api.register("focus_ben").await?;
    let eve = api.register("focus_eve").await?;
    let dm = api.dm(&ann, &ben).await?;
    let mut eve_ws = WsClient::authed(gw.addr(), &eve.access_token).await?;
    let refused = eve_ws
        .ask("focus", "f1", json!({"conversationId": dm}))
        .await?;
    assert_eq!(refused["event"], "error");
    assert_eq!(refused["data"]["code"], "NOT_FOUND");
    let bad = eve_ws
        .ask("focus", "f2", json!({"conversationId": 7}))
        .await?;
    assert_eq!(bad["data"]["code"], "VALIDATION_ERROR");
    Ok(())
}

#[tokio::test]
async fn urgent_messages_break_through_mute_and_dnd_three_an_hour() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        c.notifications.toast_group_window = Duration::from_millis(300);
    })
    .await?;
    let api = gw.api();
    let ann = api.register("urgent_ann").await?;
    let ben = api.register("urgent_ben").await?;
    let group = api.group(&ann, "Ops", &[&ben]).await?;
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let prefs = format!("/api/conversations/{group}/notifications");
    let muted = json!({"level": "all", "mutedUntil": "2099-01-01T00:00:00Z"});
    assert_eq!(api.put(&prefs, Some(&ben), &muted).await?.status, 200);
    ben_ws
        .ask("presence:set", "dnd", json!({"status": "dnd"}))
        .await?;
    tokio::time::sleep(Duration::from_millis(800)).await;

    let urgent = |id: &str, text: &str| {
        json!({"event": "message:send", "id": id, "data": {
            "conversationId": group, "clientMessageId": id, "content": text, "priority": "urgent"}})
    };
    ann_ws.sent(&group, "n1", "not urgent").await?;
    for i in 1..=3 {
        ann_ws
            .send(&urgent(&format!("u{i}"), "server down"))
            .await?;
        let ack = ann_ws
            .expect_where("message:sent", |f| f["id"] == format!("u{i}"))
            .await?;
        assert_eq!(ack["data"]["message"]["priority"], "urgent");
    }
    let told = toasts(&mut ben_ws, &group, Duration::from_millis(600)).await?;
    let shown: Vec<(i64, &str)> = told
        .iter()
        .filter_map(|t| {
            Some((
                t["data"]["count"].as_i64()?,
                t["data"]["priority"].as_str()?,
            ))
        })
        .collect();
    assert_eq!(
        shown,
        vec![(1, "urgent"); 3],
        "each urgent one at once: {told:?}"
    );

    // The fourth within the hour is refused; a bad priority is a validation error.
    ann_ws.send(&urgent("u4", "again")).await?;
    let refused = ann_ws
        .expect_where("message:error", |f| f["id"] == "u4")
        .await?;
    assert_eq!(refused["data"]["code"], "RATE_LIMITED");
    assert!(refused["data"]["retryAfter"].as_u64().unwrap_or(0) > 60);
    let bad = api
        .post(
            &format!("/api/conversations/{group}/messages"),
            Some(&ann),
            &json!({"clientMessageId": "b1", "content": "x", "priority": "high"}),
        )
        .await?;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["error"]["details"]["priority"].is_array(),
        "{}",
        bad.body
    );
    // Stored: history shows it urgent.
    let history = api
        .get(&format!("/api/conversations/{group}/messages"), Some(&ben))
        .await?;
    let priorities: Vec<&str> = history.body["data"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["priority"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        priorities.iter().filter(|p| **p == "urgent").count(),
        3,
        "{priorities:?}"
    );
    assert_eq!(priorities.iter().filter(|p| **p == "normal").count(), 1);
    Ok(())
}
