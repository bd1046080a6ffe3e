//! What others may learn and do: a removed member hears no typing and cannot send it, watches
//! that sharing a conversation allowed end with it, strangers see no presence, WebSockets from
//! foreign origins are refused, names cannot impersonate, content cannot forge search highlights,
//! and metrics are not public.

use std::time::Duration;

use parley_testkit::raw::upgrade_answer;
use parley_testkit::ws::WsClient;
use parley_testkit::{TestGateway, http};
use serde_json::json;

#[tokio::test]
async fn a_removed_member_gets_no_typing_and_cannot_send_it() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let owner = api.register("rm_owner").await?;
    let kept = api.register("rm_kept").await?;
    let removed = api.register("rm_gone").await?;
    let group = api.group(&owner, "Team", &[&kept, &removed]).await?;
    let mut kept_ws = WsClient::authed(gw.addr(), &kept.access_token).await?;
    let mut gone_ws = WsClient::authed(gw.addr(), &removed.access_token).await?;
    for ws in [&mut kept_ws, &mut gone_ws] {
        let answer = ws
            .ask("subscribe", "s", json!({"conversationId": group}))
            .await?;
        assert_eq!(answer["event"], "subscribed");
    }
    let watched = gone_ws
        .ask("presence:subscribe", "w", json!({"userIds": [kept.id]}))
        .await?;
    assert_eq!(watched["data"]["users"].as_array().map(Vec::len), Some(1));
    // Typing works while both are members.
    gone_ws
        .send(&json!({"event": "typing:start", "data": {"conversationId": group}}))
        .await?;
    kept_ws.expect("typing:started").await?;

    let path = format!("/api/conversations/{group}/members/{}", removed.id);
    assert_eq!(api.delete(&path, Some(&owner)).await?.status, 204);
    // They are told they are out (and nothing more after); their typing ends, for the others.
    let told = gone_ws.expect("conversation:member_removed").await?;
    assert_eq!(told["data"]["userId"], removed.id.as_str());
    kept_ws.expect("typing:stopped").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;

    kept_ws
        .send(&json!({"event": "typing:start", "data": {"conversationId": group}}))
        .await?;
    assert!(
        gone_ws.quiet_for(Duration::from_millis(700)).await?,
        "the removed member hears nothing: {:?}",
        gone_ws.backlog()
    );
    gone_ws
        .send(&json!({"event": "typing:start", "id": "t", "data": {"conversationId": group}}))
        .await?;
    let refused = gone_ws.expect("error").await?;
    assert_eq!(refused["id"], "t");
    assert!(
        kept_ws.quiet_for(Duration::from_millis(700)).await?,
        "nor can they type into it: {:?}",
        kept_ws.backlog()
    );
    let again = gone_ws
        .ask("subscribe", "s2", json!({"conversationId": group}))
        .await?;
    assert_eq!(again["data"]["code"], "NOT_FOUND");

    // Their watch of a former fellow member ended too (they share nothing now). What arrived
    // while they were members (kept's own "online", published after a coalescing delay that CI's
    // load can stretch past the subscription) is not what is checked: the change made now is.
    gone_ws.drain_for(Duration::from_millis(300)).await?;
    let before = gone_ws.side_events("presence:update");
    assert!(
        before.iter().all(|u| u["data"]["status"] != "dnd"),
        "{before:?}"
    );
    let set = kept_ws
        .ask("presence:set", "dnd", json!({"status": "dnd"}))
        .await?;
    assert_eq!(set["event"], "presence:status");
    gone_ws.drain_for(Duration::from_millis(1200)).await?;
    assert!(
        gone_ws.side_events("presence:update").is_empty(),
        "no presence of people they no longer share a conversation with"
    );
    Ok(())
}

#[tokio::test]
async fn strangers_see_profiles_but_not_presence() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let ann = api.register("pv_ann").await?;
    let friend = api.register("pv_friend").await?;
    let stranger = api.register("pv_stranger").await?;
    api.dm(&ann, &friend).await?;
    let _online = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let path = format!("/api/users/{}", ann.id);
    // Someone she shares a conversation with sees her come online.
    let mut seen = serde_json::Value::Null;
    for _ in 0..40 {
        seen = api.get(&path, Some(&friend)).await?.body;
        if seen["data"]["status"] == "online" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen["data"]["status"], "online", "{seen}");
    let hidden = api.get(&path, Some(&stranger)).await?;
    assert_eq!(hidden.status, 200);
    assert!(
        hidden.body["data"].get("status").is_none(),
        "{}",
        hidden.body
    );
    assert!(hidden.body["data"]["lastSeenAt"].is_null());
    assert_eq!(hidden.body["data"]["username"], "pv_ann");
    let own = api.get(&path, Some(&ann)).await?;
    assert_eq!(own.body["data"]["status"], "online");
    Ok(())
}

#[tokio::test]
async fn websockets_from_foreign_origins_are_refused() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let addr = gw.addr();
    let own = upgrade_answer(addr, &format!("Origin: http://{addr}\r\n")).await?;
    assert!(own.starts_with("HTTP/1.1 101"), "own origin: {own}");
    let native = upgrade_answer(addr, "").await?;
    assert!(
        native.starts_with("HTTP/1.1 101"),
        "no Origin (a native client): {native}"
    );
    for foreign in [
        "http://evil.example",
        "null",
        &format!("http://{addr}.evil.example"),
    ] {
        let answer = upgrade_answer(addr, &format!("Origin: {foreign}\r\n")).await?;
        assert!(answer.starts_with("HTTP/1.1 403"), "{foreign}: {answer}");
    }
    drop(gw);
    let gw = TestGateway::start_with(|c| {
        c.ws.allowed_origins = vec!["https://chat.example.com".to_owned()];
    })
    .await?;
    let listed = upgrade_answer(gw.addr(), "Origin: https://chat.example.com\r\n").await?;
    assert!(listed.starts_with("HTTP/1.1 101"), "{listed}");
    let other = upgrade_answer(gw.addr(), "Origin: https://other.example.com\r\n").await?;
    assert!(other.starts_with("HTTP/1.1 403"), "{other}");
    drop(gw);
    let gw = TestGateway::start_with(|c| c.ws.allowed_origins = vec!["*".to_owned()]).await?;
    let any = upgrade_answer(gw.addr(), "Origin: http://anything.example\r\n").await?;
    assert!(any.starts_with("HTTP/1.1 101"), "{any}");
    Ok(())
}

#[tokio::test]
async fn names_cannot_impersonate_and_content_cannot_forge_highlights() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    for (n, name) in [
        "evil\u{202E}gnp.exe",
        "\u{200B}\u{200B}",
        "\u{3164}",
        "a\u{2066}b",
    ]
    .iter()
    .enumerate()
    {
        let body =
            json!({"username": format!("nm_{n}"), "password": "password123", "displayName": name});
        let response = api.post("/api/auth/register", None, &body).await?;
        assert_eq!(response.status, 400, "{name:?}: {}", response.body);
        assert!(response.body["error"]["details"]["displayName"].is_array());
    }
    let body =
        json!({"username": "nm_nfc", "password": "password123", "displayName": "Re\u{301}my"});
    let created = api.post("/api/auth/register", None, &body).await?;
    assert_eq!(created.status, 201);
    assert_eq!(
        created.body["data"]["user"]["displayName"], "R\u{e9}my",
        "stored NFC"
    );
    let ann = api.register("hl_ann").await?;
    let ben = api.register("hl_ben").await?;
    let group = api
        .post(
            "/api/conversations",
            Some(&ann),
            &json!({"type": "group", "name": "\u{202E}quorg", "memberIds": [ben.id]}),
        )
        .await?;
    assert_eq!(group.status, 400, "group names follow the same rule");

    // \x02 and \x03 mark highlights inside the server; in content they are plain characters
    // that must not turn into highlights for the reader.
    let conv = api.dm(&ann, &ben).await?;
    let forged =
        json!({"clientMessageId": "f", "content": "click \u{2}here\u{3} for the meeting notes"});
    let sent = api
        .post(
            &format!("/api/conversations/{conv}/messages"),
            Some(&ann),
            &forged,
        )
        .await?;
    assert_eq!(sent.status, 201);
    let mut hit = serde_json::Value::Null;
    for _ in 0..200 {
        let found = api
            .get("/api/search/messages?q=meeting", Some(&ben))
            .await?;
        if let Some(first) = found.body["data"].get(0) {
            hit = first.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = hit["snippet"]["text"].as_str().unwrap_or_default();
    assert_eq!(text, "click here for the meeting notes", "{hit}");
    assert_eq!(
        hit["snippet"]["highlights"],
        json!([[19, 26]]),
        "only the real match: {hit}"
    );
    Ok(())
}

#[tokio::test]
async fn metrics_are_not_public() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        c.metrics.token = String::new();
        c.metrics.listen = "127.0.0.1:0".to_owned();
    })
    .await?;
    let public = http::get(gw.addr(), "/metrics").await?;
    assert_eq!(
        public.status, 404,
        "no token configured: not served on the main port"
    );
    let internal = gw.gateway().metrics_addr().expect("metrics.listen is set");
    let scraped = http::get(internal, "/metrics").await?;
    assert_eq!(scraped.status, 200);
    assert!(String::from_utf8_lossy(&scraped.raw).contains("parley_connections_open"));
    assert_eq!(
        http::get(internal, "/api/users/me").await?.status,
        404,
        "metrics only"
    );
    Ok(())
}
