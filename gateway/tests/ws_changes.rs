//! Edits, deletes and reactions end to end: acknowledged after commit, fanned out to members,
//! authorised on the message's stored conversation (a message id from another conversation is
//! "not found"), the same rules over REST, search kept in step, and the edit window.

use std::time::Duration;

use hyper::Method;
use parley_testkit::ws::WsClient;
use parley_testkit::{TestGateway, TestUser};
use serde_json::json;

async fn send(ws: &mut WsClient, conv: &str, text: &str) -> anyhow::Result<String> {
    ws.send_message("s", conv, text, text).await?;
    let sent = ws.expect("message:sent").await?;
    Ok(sent["data"]["message"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Sends `event` and returns the `code` of the `error` that answers it.
async fn error_code(
    ws: &mut WsClient,
    event: &str,
    data: serde_json::Value,
) -> anyhow::Result<String> {
    let answer = ws.ask(event, "e", data).await?;
    anyhow::ensure!(answer["event"] == "error", "not refused: {answer}");
    Ok(answer["data"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

async fn search(gw: &TestGateway, user: &TestUser, q: &str) -> anyhow::Result<usize> {
    let found = gw
        .api()
        .get(&format!("/api/search/messages?q={q}"), Some(user))
        .await?;
    Ok(found.body["data"].as_array().map_or(0, Vec::len))
}

#[tokio::test]
async fn edit_delete_react_over_websocket_and_rest() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let ann = api.register("chg_ann").await?;
    let ben = api.register("chg_ben").await?;
    let eve = api.register("chg_eve").await?;
    let dm = api.dm(&ann, &ben).await?;
    let other = api.dm(&eve, &ben).await?;
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let mut eve_ws = WsClient::authed(gw.addr(), &eve.access_token).await?;
    let msg = send(&mut ann_ws, &dm, "teh plan").await?;
    let eves = send(&mut eve_ws, &other, "eve private").await?;
    ben_ws.expect("message:received").await?;
    ben_ws.expect("message:received").await?;

    // Only the sender edits.
    let refused = ben_ws
        .ask(
            "message:edit",
            "b1",
            json!({"messageId": msg, "content": "hijack"}),
        )
        .await?;
    assert_eq!(refused["event"], "error");
    assert_eq!(refused["data"]["code"], "FORBIDDEN");
    let edited = ann_ws
        .ask(
            "message:edit",
            "a1",
            json!({"messageId": msg, "content": "the plan"}),
        )
        .await?;
    assert_eq!(edited["event"], "message:edited", "{edited}");
    assert_eq!(edited["data"]["message"]["content"], "the plan");
    assert!(edited["data"]["message"]["editedAt"].is_string());
    let seen = ben_ws.expect("message:edited").await?;
    assert_eq!(seen["data"]["message"]["id"], msg.as_str());
    assert!(seen.get("id").is_none());
    // Search follows the edit (the indexer may or may not have indexed the original).
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(search(&gw, &ann, "plan").await?, 1);
    assert_eq!(search(&gw, &ann, "teh").await?, 0);

    // A message of another conversation is "not found", whatever the caller tries.
    for (event, data) in [
        ("message:edit", json!({"messageId": eves, "content": "x"})),
        ("message:delete", json!({"messageId": eves})),
        ("message:react", json!({"messageId": eves, "emoji": "👍"})),
    ] {
        let error = ann_ws.ask(event, "x", data).await?;
        assert_eq!(error["data"]["code"], "NOT_FOUND", "{event}: {error}");
    }
    let patch = api
        .send(
            Method::PATCH,
            &format!("/api/messages/{eves}"),
            Some(&ann),
            Some(&json!({"content": "x"})),
        )
        .await?;
    assert_eq!(patch.status, 404);
    assert_eq!(
        error_code(
            &mut ann_ws,
            "message:edit",
            json!({"messageId": "msg_nope", "content": "x"})
        )
        .await?,
        "NOT_FOUND"
    );
    assert_eq!(
        error_code(
            &mut ann_ws,
            "message:edit",
            json!({"messageId": msg, "content": "  "})
        )
        .await?,
        "VALIDATION_ERROR"
    );

    // Reactions: any member; the aggregate goes to everyone.
    let reacted = ben_ws
        .ask(
            "message:react",
            "b2",
            json!({"messageId": msg, "emoji": "👍"}),
        )
        .await?;
    assert_eq!(reacted["event"], "message:reacted");
    let on_ann = ann_ws.expect("message:reacted").await?;
    assert_eq!(on_ann["data"]["messageId"], msg.as_str());
    assert_eq!(
        on_ann["data"]["reactions"],
        json!([{"emoji": "👍", "count": 1, "userIds": [ben.id]}])
    );
    let both = ann_ws
        .ask(
            "message:react",
            "a2",
            json!({"messageId": msg, "emoji": "👍", "action": "add"}),
        )
        .await?;
    assert_eq!(both["data"]["reactions"][0]["count"], 2);
    let removed = ben_ws
        .ask(
            "message:react",
            "b3",
            json!({"messageId": msg, "emoji": "👍", "action": "remove"}),
        )
        .await?;
    assert_eq!(
        removed["data"]["reactions"],
        json!([{"emoji": "👍", "count": 1, "userIds": [ann.id]}])
    );
    assert_eq!(
        error_code(
            &mut ben_ws,
            "message:react",
            json!({"messageId": msg, "emoji": "two words"})
        )
        .await?,
        "VALIDATION_ERROR"
    );
    // History carries the reactions.
    let history = api
        .get(&format!("/api/conversations/{dm}/messages"), Some(&ben))
        .await?;
    assert_eq!(history.body["data"][0]["reactions"][0]["emoji"], "👍");

    // REST: the other member of a DM cannot delete; the sender can, and everyone hears of it.
    let denied = api
        .send(
            Method::DELETE,
            &format!("/api/messages/{msg}"),
            Some(&ben),
            None,
        )
        .await?;
    assert_eq!(denied.status, 403);
    let rest_edit = api
        .send(
            Method::PATCH,
            &format!("/api/messages/{msg}"),
            Some(&ann),
            Some(&json!({"content": "final plan"})),
        )
        .await?;
    assert_eq!(rest_edit.status, 200, "{}", rest_edit.body);
    assert_eq!(rest_edit.body["data"]["content"], "final plan");
    ben_ws
        .expect_where("message:edited", |f| {
            f["data"]["message"]["content"] == "final plan"
        })
        .await?;
    let deleted = api
        .send(
            Method::DELETE,
            &format!("/api/messages/{msg}"),
            Some(&ann),
            None,
        )
        .await?;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["data"]["content"], "");
    assert!(deleted.body["data"]["deletedAt"].is_string());
    let gone = ben_ws.expect("message:deleted").await?;
    assert_eq!(gone["data"]["message"]["content"], "");
    assert_eq!(gone["data"]["message"]["reactions"], json!([]));
    assert_eq!(search(&gw, &ann, "plan").await?, 0);
    // A deleted message cannot be edited or reacted to; deleting again answers the same.
    assert_eq!(
        error_code(
            &mut ann_ws,
            "message:edit",
            json!({"messageId": msg, "content": "undo"})
        )
        .await?,
        "NOT_FOUND"
    );
    let again = api
        .send(
            Method::DELETE,
            &format!("/api/messages/{msg}"),
            Some(&ann),
            None,
        )
        .await?;
    assert_eq!(again.status, 200);
    assert!(
        eve_ws.quiet_for(Duration::from_millis(200)).await?,
        "a non-member heard nothing"
    );
    Ok(())
}

#[tokio::test]
async fn group_moderation_and_edit_window() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.chat.edit_window = Duration::from_secs(1)).await?;
    let api = gw.api();
    let owner = api.register("mod_owner").await?;
    let ben = api.register("mod_ben").await?;
    let cat = api.register("mod_cat").await?;
    let group = api.group(&owner, "moderated", &[&ben, &cat]).await?;
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let mut cat_ws = WsClient::authed(gw.addr(), &cat.access_token).await?;
    let mut owner_ws = WsClient::authed(gw.addr(), &owner.access_token).await?;
    let bens = send(&mut ben_ws, &group, "spam").await?;
    // A plain member cannot delete another's message; the owner can.
    let denied = cat_ws
        .ask("message:delete", "c1", json!({"messageId": bens}))
        .await?;
    assert_eq!(denied["data"]["code"], "FORBIDDEN");
    let removed = owner_ws
        .ask("message:delete", "o1", json!({"messageId": bens}))
        .await?;
    assert_eq!(removed["event"], "message:deleted");
    ben_ws.expect("message:deleted").await?;

    let late = send(&mut ben_ws, &group, "typo").await?;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let closed = ben_ws
        .ask(
            "message:edit",
            "b1",
            json!({"messageId": late, "content": "fixed"}),
        )
        .await?;
    assert_eq!(closed["data"]["code"], "FORBIDDEN");
    assert!(
        closed["data"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("edit window")
    );
    Ok(())
}
