//! Sending over REST through the persister: answered only after commit, idempotent per sender,
//! validated, authorised on the stored conversation, rate limited, and honest when the database
//! is down.

use std::time::Duration;

use parley_testkit::TestGateway;
use parley_testkit::api::{check_schema, uuid_of};
use serde_json::{Value, json};

fn path(conv: &str) -> String {
    format!("/api/conversations/{conv}/messages")
}

#[tokio::test]
async fn a_send_is_answered_after_commit_and_retries_are_idempotent() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc = gw.get("/api/openapi.json").await?.body;
    let (ann, ben) = (api.register("s_ann").await?, api.register("s_ben").await?);
    let conv = api.dm(&ann, &ben).await?;
    let db = gw.cluster.client().await?;

    let sent = api
        .post(
            &path(&conv),
            Some(&ann),
            &json!({"clientMessageId": "c-1", "content": "hello ben"}),
        )
        .await?;
    assert_eq!(sent.status, 201, "{}", sent.body);
    check_schema(&doc, "Message", &sent.body["data"]).map_err(anyhow::Error::msg)?;
    let message = &sent.body["data"];
    assert_eq!(message["seq"], 1);
    assert_eq!(message["senderId"], ann.id.as_str());
    assert_eq!(message["clientMessageId"], "c-1");
    // The row is committed: another connection sees it the moment the answer arrives.
    let id = uuid_of(message["id"].as_str().unwrap_or_default());
    let row = db
        .query_opt(
            "SELECT content FROM messages WHERE id = $1::text::uuid",
            &[&id],
        )
        .await?;
    assert_eq!(
        row.map(|r| r.get::<_, String>(0)),
        Some("hello ben".to_owned())
    );

    let again = api
        .post(
            &path(&conv),
            Some(&ann),
            &json!({"clientMessageId": "c-1", "content": "edited?"}),
        )
        .await?;
    assert_eq!(again.status, 200, "a retry answers with the original");
    assert_eq!(again.body["data"]["id"], message["id"]);
    assert_eq!(again.body["data"]["content"], "hello ben");
    let bens = api
        .post(
            &path(&conv),
            Some(&ben),
            &json!({"clientMessageId": "c-1", "content": "hi ann"}),
        )
        .await?;
    assert_eq!(bens.status, 201, "another sender's key is separate");
    assert_eq!(bens.body["data"]["seq"], 2);

    let reply = api
        .post(
            &path(&conv),
            Some(&ben),
            &json!({"clientMessageId": "c-2", "content": "re", "replyTo": message["id"]}),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["data"]["replyTo"], message["id"]);

    let history = api.get(&path(&conv), Some(&ben)).await?;
    let seqs: Vec<i64> = history.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["seq"].as_i64())
        .collect();
    assert_eq!(seqs, [3, 2, 1]);
    let listed = api.get("/api/conversations", Some(&ann)).await?;
    assert_eq!(listed.body["data"][0]["lastMessage"]["seq"], 3);
    assert_eq!(
        listed.body["data"][0]["unreadCount"], 2,
        "ann read her own message, not ben's two"
    );
    Ok(())
}

#[tokio::test]
async fn bad_sends_are_refused_with_the_field_named() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let (ann, ben, eve) = (
        api.register("v_ann").await?,
        api.register("v_ben").await?,
        api.register("v_eve").await?,
    );
    let conv = api.dm(&ann, &ben).await?;
    let other = api.dm(&ann, &eve).await?;
    let foreign = api
        .post(
            &path(&other),
            Some(&ann),
            &json!({"clientMessageId": "f", "content": "elsewhere"}),
        )
        .await?;
    let foreign_id = foreign.body["data"]["id"].clone();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"clientMessageId": "a", "content": ""}), "content"),
        (json!({"clientMessageId": "a", "content": "   "}), "content"),
        (
            json!({"clientMessageId": "a", "content": "x".repeat(4001)}),
            "content",
        ),
        (json!({"content": "hi"}), "clientMessageId"),
        (
            json!({"clientMessageId": "", "content": "hi"}),
            "clientMessageId",
        ),
        (
            json!({"clientMessageId": "a", "content": "hi", "contentType": "system"}),
            "contentType",
        ),
        (
            json!({"clientMessageId": "a", "content": "hi", "replyTo": "msg_x"}),
            "replyTo",
        ),
        (
            json!({"clientMessageId": "a", "content": "hi", "replyTo": foreign_id}),
            "replyTo",
        ),
        (
            json!({"clientMessageId": "a", "content": "hi", "senderId": ben.id}),
            "senderId",
        ),
    ];
    for (body, field) in cases {
        let response = api.post(&path(&conv), Some(&ann), &body).await?;
        assert_eq!(response.status, 400, "{body}: {}", response.body);
        assert!(
            response.body["error"]["details"][field].is_array(),
            "{body}: {}",
            response.body
        );
    }
    let max = api
        .post(
            &path(&conv),
            Some(&ann),
            &json!({"clientMessageId": "m", "content": "é".repeat(4000)}),
        )
        .await?;
    assert_eq!(
        max.status, 201,
        "4000 characters is allowed, whatever their bytes"
    );

    // Outsiders learn nothing, and the persister re-checks membership on the stored data.
    let real = api
        .post(
            &path(&conv),
            Some(&eve),
            &json!({"clientMessageId": "e", "content": "let me in"}),
        )
        .await?;
    let fake = api
        .post(
            &path("conv_00000000000000000000000000000000"),
            Some(&eve),
            &json!({"clientMessageId": "e", "content": "let me in"}),
        )
        .await?;
    assert_eq!(real.status, 404);
    assert_eq!(real.raw, fake.raw);
    let count = gw.cluster.message_count().await?;
    assert_eq!(
        count, 2,
        "only the foreign message and the 4000-character one"
    );
    Ok(())
}

#[tokio::test]
async fn concurrent_sends_over_both_shards_get_gap_free_seqs() -> anyhow::Result<()> {
    let gw =
        TestGateway::start_with(|c| c.limits.send = "100000/1m".parse().expect("rate")).await?;
    let api = gw.api();
    let owner = api.register("c_owner").await?;
    let mut members = Vec::new();
    for n in 0..4 {
        members.push(api.register(&format!("c_member{n}")).await?);
    }
    let refs: Vec<&parley_testkit::TestUser> = members.iter().collect();
    let group = api.group(&owner, "busy", &refs).await?;
    let mut tasks = Vec::new();
    for (m, member) in members.iter().enumerate() {
        let (api, member, group) = (api, member.clone(), group.clone());
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..25 {
                let body =
                    json!({"clientMessageId": format!("{m}-{n}"), "content": format!("{m}/{n}")});
                let response = api.post(&path(&group), Some(&member), &body).await?;
                anyhow::ensure!(response.status == 201, "{}", response.body);
                seqs.push(response.body["data"]["seq"].as_i64().unwrap_or_default());
            }
            anyhow::Ok(seqs)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await??;
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "each sender's acks increase: {seqs:?}"
        );
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=100).collect::<Vec<i64>>(),
        "gap-free, no seq twice"
    );
    Ok(())
}

#[tokio::test]
async fn sends_are_rate_limited_per_user() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.limits.send = "2/1m".parse().expect("rate")).await?;
    let api = gw.api();
    let (ann, ben) = (api.register("r_ann").await?, api.register("r_ben").await?);
    let conv = api.dm(&ann, &ben).await?;
    for n in 0..2 {
        let ok = api
            .post(
                &path(&conv),
                Some(&ann),
                &json!({"clientMessageId": format!("{n}"), "content": "hi"}),
            )
            .await?;
        assert_eq!(ok.status, 201);
    }
    let limited = api
        .post(
            &path(&conv),
            Some(&ann),
            &json!({"clientMessageId": "3", "content": "hi"}),
        )
        .await?;
    assert_eq!(limited.status, 429);
    assert!(
        limited.body["error"]["retryAfter"]
            .as_u64()
            .is_some_and(|s| s >= 1)
    );
    assert_eq!(
        api.post(
            &path(&conv),
            Some(&ben),
            &json!({"clientMessageId": "b", "content": "hi"})
        )
        .await?
        .status,
        201
    );
    Ok(())
}

#[tokio::test]
async fn a_database_outage_is_a_retryable_error_never_a_false_ack() -> anyhow::Result<()> {
    let mut gw = TestGateway::start().await?;
    let api = gw.api();
    let (ann, ben) = (api.register("o_ann").await?, api.register("o_ben").await?);
    let conv = api.dm(&ann, &ben).await?;
    // Down: whichever step meets the outage first (membership check or commit) answers DB_ERROR.
    gw.cluster.pg_mut().stop()?;
    let down = api
        .post(
            &path(&conv),
            Some(&ann),
            &json!({"clientMessageId": "o-1", "content": "anyone?"}),
        )
        .await?;
    assert_eq!(down.status, 503, "{}", down.body);
    assert_eq!(down.body["error"]["code"], "DB_ERROR");
    assert_eq!(down.body["error"]["retryable"], true);
    gw.cluster.pg_mut().restart(Duration::from_secs(60))?;
    let mut status = 0;
    for _ in 0..50 {
        let retry = api
            .post(
                &path(&conv),
                Some(&ann),
                &json!({"clientMessageId": "o-1", "content": "anyone?"}),
            )
            .await?;
        status = retry.status.as_u16();
        if status == 201 {
            assert_eq!(retry.body["data"]["seq"], 1);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 201);
    Ok(())
}
