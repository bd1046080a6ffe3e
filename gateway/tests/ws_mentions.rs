//! Mentions over real WebSockets and REST against PostgreSQL: `@username` of a member resolved at
//! commit (a non-member's name, the sender's own and a member's `@everyone` stay plain text),
//! `@everyone` by a group's owner, unread mention counts in `notification:badge` and
//! `GET /api/conversations` that agree, fall with read marks and lose a deleted message's mention.

use parley_testkit::TestGateway;
use parley_testkit::api::{Api, TestUser};
use parley_testkit::ws::WsClient;
use serde_json::{Value, json};

/// `mentionCount` of `conv` in `user`'s conversation list, and in the conversation itself.
async fn mention_count(api: &Api, user: &TestUser, conv: &str) -> anyhow::Result<i64> {
    let list = api.get("/api/conversations", Some(user)).await?;
    let listed = list.body["data"]
        .as_array()
        .and_then(|items| items.iter().find(|c| c["id"] == conv))
        .and_then(|c| c["mentionCount"].as_i64());
    let one = api
        .get(&format!("/api/conversations/{conv}"), Some(user))
        .await?;
    let single = one.body["data"]["mentionCount"].as_i64();
    anyhow::ensure!(
        listed == single,
        "list says {listed:?}, the conversation {single:?}"
    );
    listed.ok_or_else(|| anyhow::anyhow!("no mentionCount: {}", one.body))
}

fn ids(message: &Value) -> Vec<String> {
    let mut ids: Vec<String> = message["mentions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test]
async fn mentions_resolve_to_members_and_count_until_read() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let ann = api.register("men_ann").await?;
    let ben = api.register("men_ben").await?;
    let cat = api.register("men_cat").await?;
    let dan = api.register("men_dan").await?;
    let group = api.group(&ann, "Design", &[&ben, &cat]).await?;
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let mut cat_ws = WsClient::authed(gw.addr(), &cat.access_token).await?;

    // Names of members resolve (any case); a non-member's and the sender's own do not.
    let first = ann_ws
        .sent(
            &group,
            "m1",
            "hi @men_ben, @MEN_CAT and @men_dan; me: @men_ann; mail men_ben@example.com",
        )
        .await?;
    let mut expected = vec![ben.id.clone(), cat.id.clone()];
    expected.sort();
    assert_eq!(ids(&first), expected);
    assert_eq!(first["mentionsEveryone"], false);
    let badge = ben_ws
        .expect_where("notification:badge", |f| {
            f["data"]["conversationId"] == group.as_str()
        })
        .await?;
    assert_eq!(
        (
            badge["data"]["mentionCount"].as_i64(),
            badge["data"]["totalMentions"].as_i64()
        ),
        (Some(1), Some(1))
    );

    // A member's @everyone is plain text (and sending reads what came before: cat's mention at
    // seq 1 no longer counts); the owner's mentions everyone but her.
    let plain = cat_ws.sent(&group, "m2", "@everyone lunch?").await?;
    assert_eq!(plain["mentionsEveryone"], false);
    let everyone = ann_ws.sent(&group, "m3", "@everyone lunch at noon").await?;
    assert_eq!(everyone["mentionsEveryone"], true);
    ben_ws
        .expect_where("notification:badge", |f| {
            f["data"]["conversationId"] == group.as_str() && f["data"]["mentionCount"] == 2
        })
        .await?;
    let none = ann_ws.sent(&group, "m4", "no one here").await?;
    assert_eq!(ids(&none), Vec::<String>::new());

    assert_eq!(mention_count(&api, &ben, &group).await?, 2);
    assert_eq!(mention_count(&api, &cat, &group).await?, 1);
    assert_eq!(
        mention_count(&api, &ann, &group).await?,
        0,
        "her own @everyone, cat's plain text"
    );

    // History carries them.
    let history = api
        .get(&format!("/api/conversations/{group}/messages"), Some(&cat))
        .await?;
    let stored = history.body["data"]
        .as_array()
        .and_then(|page| page.iter().find(|m| m["id"] == first["id"]))
        .cloned()
        .unwrap_or_default();
    assert_eq!(ids(&stored), expected);

    // Reading past the first mention leaves the @everyone one, on the badge and in the list.
    let seq = first["seq"].as_i64().unwrap_or_default();
    ben_ws
        .send(&json!({"event": "receipt:read", "id": "r1", "data": {"conversationId": group, "seq": seq}}))
        .await?;
    ben_ws
        .expect_where("notification:badge", |f| {
            f["data"]["conversationId"] == group.as_str()
                && f["data"]["unreadCount"] == 3
                && f["data"]["mentionCount"] == 1
        })
        .await?;
    assert_eq!(mention_count(&api, &ben, &group).await?, 1);

    // Deleting the @everyone message takes its mention with it.
    let id = everyone["id"].as_str().unwrap_or_default();
    let deleted = api
        .delete(&format!("/api/messages/{id}"), Some(&ann))
        .await?;
    assert!(deleted.status.is_success(), "{}", deleted.body);
    assert_eq!(mention_count(&api, &cat, &group).await?, 0);
    assert_eq!(mention_count(&api, &ben, &group).await?, 0);

    // In a DM @everyone means nothing; the partner's name does.
    let dm = api.dm(&ann, &dan).await?;
    let direct = ann_ws.sent(&dm, "d1", "@everyone @men_dan").await?;
    assert_eq!(direct["mentionsEveryone"], false);
    assert_eq!(ids(&direct), vec![dan.id.clone()]);
    assert_eq!(mention_count(&api, &dan, &dm).await?, 1);

    // Nobody may be called "everyone".
    let taken = api
        .post(
            "/api/auth/register",
            None,
            &json!({"username": "everyone", "password": "password123"}),
        )
        .await?;
    assert_eq!(taken.status, 400, "{}", taken.body);
    Ok(())
}

#[tokio::test]
async fn a_mention_flood_is_bounded_and_counts_once() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let ann = api.register("flood_ann").await?;
    let ben = api.register("flood_ben").await?;
    let cat = api.register("flood_cat").await?;
    let group = api.group(&ann, "Flood", &[&ben, &cat]).await?;
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;

    // One name repeated to the length limit: one mention, counted once.
    let repeated = "@flood_ben ".repeat(4000 / 11);
    let message = ann_ws.sent(&group, "f1", repeated.trim_end()).await?;
    assert_eq!(ids(&message), vec![ben.id.clone()]);
    assert_eq!(mention_count(&api, &ben, &group).await?, 1);

    // Past the first 50 distinct names the rest is plain text, even a member's name.
    let mut names: String = (0..60).map(|n| format!("@nobody{n:03} ")).collect();
    names.push_str("@flood_cat");
    let message = ann_ws.sent(&group, "f2", &names).await?;
    assert_eq!(ids(&message), Vec::<String>::new());
    assert_eq!(mention_count(&api, &cat, &group).await?, 0);

    // A member's @everyone flood mentions nobody; the limit on sends holds it back as usual.
    let (mut accepted, mut limited) = (0, 0);
    for n in 0..40 {
        let id = format!("e{n}");
        let data = json!({"conversationId": group, "clientMessageId": id, "content": "@everyone @everyone"});
        let answer = ben_ws.ask("message:send", &id, data).await?;
        match answer["event"].as_str() {
            Some("message:sent") => {
                accepted += 1;
                assert_eq!(answer["data"]["message"]["mentionsEveryone"], false);
            }
            _ => {
                assert_eq!(answer["data"]["code"], "RATE_LIMITED", "{answer}");
                limited += 1;
            }
        }
    }
    assert!(limited > 0, "40 sends at once were never limited");
    assert!(accepted > 0);
    assert_eq!(mention_count(&api, &cat, &group).await?, 0);
    assert_eq!(mention_count(&api, &ann, &group).await?, 0);
    Ok(())
}
