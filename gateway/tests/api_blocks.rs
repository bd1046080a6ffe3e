//! Profiles and blocks over real REST and WebSocket clients against PostgreSQL: a display name
//! changed (the username kept), and a block that keeps the blocked user from opening a DM, adding
//! the blocker to a group and sending in their DM (REST and WebSocket), with `FORBIDDEN` and
//! nothing else; the blocker still reads and writes; unblocking restores it all.

use parley_testkit::TestGateway;
use parley_testkit::api::check_schema;
use parley_testkit::ws::WsClient;
use serde_json::{Value, json};

#[tokio::test]
async fn display_name_changes_and_the_username_stays() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc: Value = gw.get("/api/openapi.json").await?.body;
    let ann = api.register("prof_ann").await?;
    let changed = api
        .send(
            hyper::Method::PATCH,
            "/api/users/me",
            Some(&ann),
            Some(&json!({"displayName": "  Ann Lee "})),
        )
        .await?;
    assert_eq!(changed.status, 200, "{}", changed.body);
    check_schema(&doc, "Me", &changed.body["data"]).map_err(anyhow::Error::msg)?;
    assert_eq!(changed.body["data"]["displayName"], "Ann Lee");
    assert_eq!(changed.body["data"]["username"], "prof_ann");
    let me = api.get("/api/users/me", Some(&ann)).await?;
    assert_eq!(me.body["data"]["displayName"], "Ann Lee");
    for bad in [
        json!({"displayName": ""}),
        json!({"displayName": "x".repeat(65)}),
        json!({"username": "other"}),
    ] {
        let refused = api
            .send(
                hyper::Method::PATCH,
                "/api/users/me",
                Some(&ann),
                Some(&bad),
            )
            .await?;
        assert_eq!(refused.status, 400, "{bad}: {}", refused.body);
    }
    Ok(())
}

#[tokio::test]
async fn a_block_stops_dms_group_adds_and_sends_from_the_blocked_user() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc: Value = gw.get("/api/openapi.json").await?.body;
    let ann = api.register("blk_ann").await?;
    let ben = api.register("blk_ben").await?;
    let cat = api.register("blk_cat").await?;
    let dm = api.dm(&ann, &ben).await?;
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;
    ben_ws.sent(&dm, "b0", "hi ann").await?;
    ann_ws
        .expect_where("message:received", |f| {
            f["data"]["message"]["content"] == "hi ann"
        })
        .await?;
    ann_ws
        .drain_for(std::time::Duration::from_millis(300))
        .await?;

    // Ann blocks Ben.
    let made = api
        .post(
            "/api/users/me/blocks",
            Some(&ann),
            &json!({"userId": ben.id}),
        )
        .await?;
    assert_eq!(made.status, 201, "{}", made.body);
    check_schema(&doc, "Block", &made.body["data"]).map_err(anyhow::Error::msg)?;
    let again = api
        .post(
            "/api/users/me/blocks",
            Some(&ann),
            &json!({"userId": ben.id}),
        )
        .await?;
    assert_eq!(again.status, 200);
    let listed = api.get("/api/users/me/blocks", Some(&ann)).await?;
    assert_eq!(listed.body["data"][0]["username"], "blk_ben");
    assert_eq!(
        api.post(
            "/api/users/me/blocks",
            Some(&ann),
            &json!({"userId": ann.id})
        )
        .await?
        .status,
        400
    );

    // Ben's sends in the DM are refused, over the WebSocket and REST alike.
    let data = json!({"conversationId": dm, "clientMessageId": "b1", "content": "still there?"});
    let refused = ben_ws.ask("message:send", "b1", data).await?;
    assert_eq!(refused["event"], "message:error", "{refused}");
    assert_eq!(refused["data"]["code"], "FORBIDDEN");
    let rest = api
        .post(
            &format!("/api/conversations/{dm}/messages"),
            Some(&ben),
            &json!({"clientMessageId": "b2", "content": "hello?"}),
        )
        .await?;
    assert_eq!(rest.status, 403, "{}", rest.body);
    assert!(
        ann_ws
            .quiet_for(std::time::Duration::from_millis(300))
            .await?,
        "nothing of Ben's reached Ann"
    );
    // Ben cannot open a DM with Ann, nor add her to a group (or make one with her).
    let opened = api
        .post(
            "/api/conversations",
            Some(&ben),
            &json!({"type": "dm", "userId": ann.id}),
        )
        .await?;
    assert_eq!(opened.status, 403, "{}", opened.body);
    let group = api
        .post(
            "/api/conversations",
            Some(&ben),
            &json!({"type": "group", "name": "Plot", "memberIds": [ann.id, cat.id]}),
        )
        .await?;
    assert_eq!(group.status, 403, "{}", group.body);
    let bens = api.group(&ben, "Ben's", &[&cat]).await?;
    let added = api
        .post(
            &format!("/api/conversations/{bens}/members"),
            Some(&ben),
            &json!({"userId": ann.id}),
        )
        .await?;
    assert_eq!(added.status, 403, "{}", added.body);
    // Regression (found by the authorisation model): a non-member naming someone who blocked
    // them learns nothing about a conversation it cannot see: 404, not the block's 403.
    let cats = api.group(&cat, "Cat's", &[&ann]).await?;
    let outsider = api
        .post(
            &format!("/api/conversations/{cats}/members"),
            Some(&ben),
            &json!({"userId": ann.id}),
        )
        .await?;
    assert_eq!(outsider.status, 404, "{}", outsider.body);
    // Ann still writes to Ben (and reads the history), and may add him where she owns the group.
    ann_ws.sent(&dm, "a1", "I can still write").await?;
    let anns = api.group(&ann, "Ann's", &[&cat]).await?;
    let added = api
        .post(
            &format!("/api/conversations/{anns}/members"),
            Some(&ann),
            &json!({"userId": ben.id}),
        )
        .await?;
    assert_eq!(added.status, 201, "{}", added.body);

    // Unblocked: all of it works again.
    let lifted = api
        .delete(&format!("/api/users/me/blocks/{}", ben.id), Some(&ann))
        .await?;
    assert_eq!(lifted.status, 204);
    assert_eq!(
        api.delete(&format!("/api/users/me/blocks/{}", ben.id), Some(&ann))
            .await?
            .status,
        404
    );
    ben_ws.sent(&dm, "b3", "back again").await?;
    let opened = api
        .post(
            "/api/conversations",
            Some(&ben),
            &json!({"type": "dm", "userId": ann.id}),
        )
        .await?;
    assert_eq!(opened.status, 200, "{}", opened.body);
    Ok(())
}

#[tokio::test]
async fn a_dm_made_after_the_block_is_read_only_for_the_blocked_user() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let dan = api.register("blk_dan").await?;
    let eve = api.register("blk_eve").await?;
    let made = api
        .post(
            "/api/users/me/blocks",
            Some(&dan),
            &json!({"userId": eve.id}),
        )
        .await?;
    assert_eq!(made.status, 201);
    // Dan (the blocker) opens the DM; Eve cannot send in it.
    let dm = api.dm(&dan, &eve).await?;
    let rest = api
        .post(
            &format!("/api/conversations/{dm}/messages"),
            Some(&eve),
            &json!({"clientMessageId": "e1", "content": "hi"}),
        )
        .await?;
    assert_eq!(rest.status, 403, "{}", rest.body);
    let mut dan_ws = WsClient::authed(gw.addr(), &dan.access_token).await?;
    dan_ws.sent(&dm, "d1", "one way").await?;
    Ok(())
}
