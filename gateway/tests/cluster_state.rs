//! What several instances must agree on, with real clients on different instances: presence
//! (online while any instance holds a connection, offline after the grace once all are gone),
//! typing, a rate limit enforced over every instance together, a logout on one instance closing
//! the session's socket on another, and a member removed on one instance receiving nothing more
//! on another.

use std::time::Duration;

use anyhow::Context;
use hyper::Method;
use parley_testkit::TestFleet;
use parley_testkit::ws::WsClient;
use serde_json::json;

fn quick_presence(c: &mut parley_shared::Config) {
    c.presence.offline_grace = Duration::from_millis(600);
    c.presence.coalesce = Duration::from_millis(50);
    c.limits.ws_connect = "100000/1m".parse().expect("rate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_and_typing_hold_across_instances() -> anyhow::Result<()> {
    let fleet = TestFleet::start(2, quick_presence).await?;
    let ann = fleet.api(0).register("cp_ann").await?;
    let ben = fleet.api(1).register("cp_ben").await?;
    let dm = fleet.api(0).dm(&ann, &ben).await?;
    let mut ben_ws = WsClient::authed(fleet.addr(1), &ben.access_token).await?;
    ben_ws
        .send(&json!({"event": "presence:subscribe", "id": "w", "data": {"userIds": [ann.id]}}))
        .await?;
    ben_ws.expect("presence:subscribed").await?;

    // Ann comes online on instance 0: Ben, on instance 1, hears it once.
    let mut ann_a = WsClient::authed(fleet.addr(0), &ann.access_token).await?;
    let update = ben_ws.expect("presence:update").await.context("online")?;
    assert_eq!(update["data"]["status"], "online");
    // A second device on instance 1 changes nothing for watchers.
    let ann_b = WsClient::authed(fleet.addr(1), &ann.access_token).await?;
    ben_ws.drain_for(Duration::from_millis(300)).await?;
    assert!(ben_ws.side_events("presence:update").is_empty());
    // Both instances answer the same status.
    for i in 0..2 {
        let profile = fleet
            .api(i)
            .get(&format!("/api/users/{}", ann.id), Some(&ben))
            .await?;
        assert_eq!(profile.body["data"]["status"], "online", "instance {i}");
    }

    // Typing on instance 0 reaches the subscriber on instance 1.
    let answer = ben_ws
        .ask("subscribe", "s", json!({"conversationId": dm}))
        .await?;
    assert_eq!(answer["event"], "subscribed");
    let answer = ann_a
        .ask("subscribe", "s", json!({"conversationId": dm}))
        .await?;
    assert_eq!(answer["event"], "subscribed");
    ann_a
        .send(&json!({"event": "typing:start", "data": {"conversationId": dm}}))
        .await?;
    let started = ben_ws.expect("typing:started").await.context("typing")?;
    assert_eq!(started["data"]["userId"], ann.id.as_str());
    ann_a
        .send(&json!({"event": "typing:stop", "data": {"conversationId": dm}}))
        .await?;
    ben_ws.expect("typing:stopped").await?;

    // Ann leaves instance 0 but is still on instance 1: still online, well past the grace.
    ann_a.close().await?;
    ben_ws.drain_for(Duration::from_millis(1500)).await?;
    assert!(
        ben_ws.side_events("presence:update").is_empty(),
        "online while one instance still holds a connection"
    );
    // Gone from both: offline after the grace, with lastSeenAt.
    ann_b.close().await?;
    let offline = ben_ws.expect("presence:update").await.context("offline")?;
    assert_eq!(offline["data"]["status"], "offline");
    assert!(offline["data"]["lastSeenAt"].is_string());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_limit_holds_over_every_instance_together() -> anyhow::Result<()> {
    let fleet = TestFleet::start(2, |c| c.limits.send = "6/1m".parse().expect("rate")).await?;
    let ann = fleet.api(0).register("cl_ann").await?;
    let ben = fleet.api(0).register("cl_ben").await?;
    let dm = fleet.api(0).dm(&ann, &ben).await?;
    let path = format!("/api/conversations/{dm}/messages");
    let mut statuses = Vec::new();
    for n in 0..8 {
        let body = json!({"clientMessageId": format!("l{n}"), "content": "hi"});
        let response = fleet.api(n % 2).post(&path, Some(&ann), &body).await?;
        statuses.push(response.status.as_u16());
        if response.status.as_u16() == 429 {
            assert_eq!(response.body["error"]["code"], "RATE_LIMITED");
            assert!(response.body["error"]["retryAfter"].as_u64().unwrap_or(0) >= 1);
        }
    }
    assert_eq!(
        statuses,
        [201, 201, 201, 201, 201, 201, 429, 429],
        "6 over both instances"
    );
    assert_eq!(
        fleet.metric(0, "parley_cluster_fallbacks_total").await?,
        Some(0.0)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_and_removal_on_one_instance_act_on_another() -> anyhow::Result<()> {
    let fleet = TestFleet::start(2, |_| {}).await?;
    let owner = fleet.api(0).register("cr_owner").await?;
    let cat = fleet.api(1).register("cr_cat").await?;
    let dan = fleet.api(1).register("cr_dan").await?;
    let group = fleet.api(0).group(&owner, "Removal", &[&cat, &dan]).await?;

    // Dan's socket is on instance 1; he logs out on instance 0.
    let mut dan_ws = WsClient::authed(fleet.addr(1), &dan.access_token).await?;
    let logout = fleet
        .api(0)
        .post(
            "/api/auth/logout",
            None,
            &json!({"refreshToken": dan.refresh_token}),
        )
        .await?;
    assert_eq!(logout.status.as_u16(), 204);
    let closed = dan_ws.closed().await?;
    assert_eq!(
        closed.code,
        Some(4401),
        "the socket on the other instance closes"
    );
    let refused = fleet.api(1).get("/api/conversations", Some(&dan)).await?;
    assert_eq!(
        refused.status.as_u16(),
        401,
        "and its token is refused there"
    );

    // Cat listens on instance 1 and is removed on instance 0: the next message never reaches her.
    let mut cat_ws = WsClient::authed(fleet.addr(1), &cat.access_token).await?;
    let path = format!("/api/conversations/{group}/messages");
    let first = json!({"clientMessageId": "r1", "content": "before"});
    assert_eq!(
        fleet
            .api(0)
            .post(&path, Some(&owner), &first)
            .await?
            .status
            .as_u16(),
        201
    );
    cat_ws.expect("message:received").await?;
    let removed = fleet
        .api(0)
        .send(
            Method::DELETE,
            &format!("/api/conversations/{group}/members/{}", cat.id),
            Some(&owner),
            None,
        )
        .await?;
    assert!(removed.status.is_success(), "{}", removed.body);
    let second = json!({"clientMessageId": "r2", "content": "after"});
    assert_eq!(
        fleet
            .api(0)
            .post(&path, Some(&owner), &second)
            .await?
            .status
            .as_u16(),
        201
    );
    cat_ws.drain_for(Duration::from_millis(500)).await?;
    assert!(
        cat_ws
            .backlog()
            .iter()
            .all(|f| f["event"] != "message:received"),
        "a removed member hears nothing more: {:?}",
        cat_ws.backlog()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_connection_cap_counts_every_instance() -> anyhow::Result<()> {
    let fleet = TestFleet::start(2, |c| {
        c.ws.max_per_user = 2;
        c.limits.ws_connect = "100000/1m".parse().expect("rate");
    })
    .await?;
    let ann = fleet.api(0).register("cc_ann").await?;
    let first = WsClient::authed(fleet.addr(0), &ann.access_token).await?;
    let _second = WsClient::authed(fleet.addr(1), &ann.access_token).await?;
    // A third, on either instance, is one too many.
    let mut third = WsClient::connect(fleet.addr(0), Some(&ann.access_token), &[]).await?;
    assert_eq!(
        third.expect("auth:error").await?["data"]["code"],
        "RATE_LIMITED"
    );
    assert_eq!(third.closed().await?.code, Some(4429));
    // One closes on instance 0: a new one is admitted on instance 1.
    first.close().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = WsClient::connect(fleet.addr(1), Some(&ann.access_token), &[]).await?;
        let answer = again.next().await?;
        if answer["event"] == "auth:success" {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "never admitted again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
