//! "Who's online" with real clients: DM partners and subscribers see a user come online, set do
//! not disturb, and go offline only after the grace period (with `lastSeenAt`, persisted); a
//! reconnect within the grace period publishes nothing, nor does a storm of 200 reconnecting
//! connections; a silent connection is closed; `GET /api/users/{id}` shows the status.

use std::time::Duration;

use parley_testkit::TestGateway;
use parley_testkit::ws::WsClient;
use serde_json::json;

fn presence_config(c: &mut parley_shared::Config) {
    c.presence.offline_grace = Duration::from_millis(700);
    c.presence.coalesce = Duration::from_millis(50);
    c.limits.ws_connect = "100000/1m".parse().expect("rate");
}

#[tokio::test]
async fn transitions_grace_and_last_seen() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(presence_config).await?;
    let api = gw.api();
    let ann = api.register("pre_ann").await?;
    let ben = api.register("pre_ben").await?;
    let cat = api.register("pre_cat").await?;
    let eve = api.register("pre_eve").await?;
    api.dm(&ann, &ben).await?;
    api.group(&cat, "watchers", &[&ann]).await?;
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let mut cat_ws = WsClient::authed(gw.addr(), &cat.access_token).await?;
    // Cat watches ann (they share a group) and eve (they share nothing: left out).
    cat_ws
        .send(&json!({"event": "presence:subscribe", "id": "w", "data": {"userIds": [ann.id, eve.id]}}))
        .await?;
    let watching = cat_ws.expect("presence:subscribed").await?;
    assert_eq!(
        watching["data"]["users"],
        json!([{"userId": ann.id, "status": "offline", "lastSeenAt": null}])
    );

    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    for ws in [&mut ben_ws, &mut cat_ws] {
        let update = ws.expect("presence:update").await?;
        assert_eq!(update["data"]["userId"], ann.id.as_str());
        assert_eq!(update["data"]["status"], "online");
    }
    // A profile shows presence to people sharing a conversation, never to a stranger.
    let profile = api
        .get(&format!("/api/users/{}", ann.id), Some(&ben))
        .await?;
    assert_eq!(profile.body["data"]["status"], "online");
    let stranger = api
        .get(&format!("/api/users/{}", ann.id), Some(&eve))
        .await?;
    assert!(stranger.body["data"].get("status").is_none());

    ann_ws
        .send(&json!({"event": "presence:set", "id": "d", "data": {"status": "dnd"}}))
        .await?;
    assert_eq!(
        ann_ws.expect("presence:status").await?["data"]["status"],
        "dnd"
    );
    assert_eq!(
        ben_ws.expect("presence:update").await?["data"]["status"],
        "dnd"
    );
    ann_ws
        .send(&json!({"event": "presence:set", "id": "x", "data": {"status": "busy"}}))
        .await?;
    assert_eq!(
        ann_ws.expect("error").await?["data"]["code"],
        "VALIDATION_ERROR"
    );

    // Closing and reopening within the grace period: nobody hears anything.
    ann_ws.close().await?;
    let ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    ben_ws.drain_for(Duration::from_millis(1200)).await?;
    assert!(ben_ws.side_events("presence:update").is_empty());

    // Gone for good: offline after the grace period, with the time, also in the database.
    ann_ws.close().await?;
    let closed_at = std::time::Instant::now();
    let offline = ben_ws.expect("presence:update").await?;
    assert!(
        closed_at.elapsed() >= Duration::from_millis(600),
        "waited for the grace period"
    );
    assert_eq!(offline["data"]["status"], "offline");
    assert!(offline["data"]["lastSeenAt"].is_string());
    cat_ws
        .expect_where("presence:update", |f| f["data"]["status"] == "offline")
        .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let profile = api
        .get(&format!("/api/users/{}", ann.id), Some(&ben))
        .await?;
    assert_eq!(profile.body["data"]["status"], "offline");
    assert!(profile.body["data"]["lastSeenAt"].is_string());
    Ok(())
}

#[tokio::test]
async fn a_reconnect_storm_of_200_connections_stays_quiet() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        presence_config(c);
        c.presence.offline_grace = Duration::from_secs(3);
    })
    .await?;
    let api = gw.api();
    let obs = api.register("storm_obs").await?;
    let mut users = Vec::new();
    for n in 0..20 {
        users.push(api.register(&format!("storm_{n}")).await?);
    }
    let refs: Vec<&parley_testkit::TestUser> = users.iter().collect();
    api.group(&obs, "everyone", &refs).await?;
    let mut obs_ws = WsClient::authed(gw.addr(), &obs.access_token).await?;
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    obs_ws
        .send(&json!({"event": "presence:subscribe", "data": {"userIds": ids}}))
        .await?;
    obs_ws.expect("presence:subscribed").await?;

    let mut sockets = Vec::new();
    for user in &users {
        for _ in 0..10 {
            sockets.push(WsClient::authed(gw.addr(), &user.access_token).await?);
        }
    }
    assert_eq!(sockets.len(), 200);
    for _ in 0..20 {
        let update = obs_ws.expect("presence:update").await?;
        assert_eq!(update["data"]["status"], "online");
    }
    obs_ws.drain_for(Duration::from_millis(300)).await?;
    assert!(
        obs_ws.side_events("presence:update").is_empty(),
        "one update per user"
    );

    // Everyone drops and comes back (well within the grace period).
    for socket in sockets.drain(..) {
        socket.close().await?;
    }
    for user in &users {
        for _ in 0..10 {
            sockets.push(WsClient::authed(gw.addr(), &user.access_token).await?);
        }
    }
    obs_ws.drain_for(Duration::from_secs(4)).await?;
    assert!(
        obs_ws.side_events("presence:update").is_empty(),
        "the storm published no presence change"
    );
    let text = gw.metrics().await?;
    let published = text
        .lines()
        .find_map(|l| l.strip_prefix("parley_presence_updates_total "))
        .unwrap_or_default();
    // Observer online (1) + the 20 users online; nothing for the storm.
    assert_eq!(published, "21", "{text}");
    Ok(())
}

#[tokio::test]
async fn a_silent_connection_is_closed() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        c.presence.heartbeat_interval = Duration::from_millis(300);
    })
    .await?;
    let ann = gw.api().register("silent_ann").await?;
    let mut silent = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut chatty = WsClient::authed(gw.addr(), &ann.access_token).await?;
    for _ in 0..8 {
        chatty
            .send(&json!({"event": "presence:heartbeat", "data": {}}))
            .await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(silent.closed().await?.code, Some(4408));
    assert!(
        chatty.quiet_for(Duration::from_millis(100)).await?,
        "still open"
    );
    Ok(())
}
