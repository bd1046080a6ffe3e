//! Message search: only the caller's conversations, ranked, snippets as ranges, operators,
//! cursor paging, validation; messages become searchable shortly after their ack.

use std::time::Duration;

use parley_testkit::api::{TestUser, check_schema};
use parley_testkit::{Api, TestGateway};
use serde_json::{Value, json};

async fn say(api: &Api, user: &TestUser, conv: &str, n: usize, text: &str) -> anyhow::Result<()> {
    let body = json!({"clientMessageId": format!("s{n}"), "content": text});
    let sent = api
        .post(
            &format!("/api/conversations/{conv}/messages"),
            Some(user),
            &body,
        )
        .await?;
    anyhow::ensure!(sent.status == 201, "send: {} {}", sent.status, sent.body);
    Ok(())
}

fn contents(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["message"]["content"].as_str().map(str::to_owned))
        .collect()
}

/// Searches until `want` hits show up (indexing runs behind the writer), for up to 10 s.
async fn search_until(
    api: &Api,
    user: &TestUser,
    path: &str,
    want: usize,
) -> anyhow::Result<Value> {
    let mut last = Value::Null;
    for _ in 0..200 {
        let found = api.get(path, Some(user)).await?;
        anyhow::ensure!(
            found.status == 200,
            "{path}: {} {}",
            found.status,
            found.body
        );
        if contents(&found.body).len() >= want {
            return Ok(found.body);
        }
        last = found.body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{path}: expected {want} hits, got {last}")
}

#[tokio::test]
async fn search_finds_only_the_callers_messages_ranked_with_snippets() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc = gw.get("/api/openapi.json").await?.body;
    let alice = api.register("srch_alice").await?;
    let bob = api.register("srch_bob").await?;
    let eve = api.register("srch_eve").await?;
    let ours = api.group(&alice, "ours", &[&bob]).await?;
    let theirs = api.dm(&eve, &bob).await?;
    say(&api, &alice, &ours, 1, "the quarterly report is ready").await?;
    say(&api, &bob, &ours, 2, "report report: the report, again").await?;
    say(&api, &alice, &ours, 3, "lunch at noon?").await?;
    say(&api, &eve, &theirs, 4, "secret report for bob only").await?;

    // Alice sees the two reports of her group, the most relevant first; never Eve's DM.
    let found = search_until(&api, &alice, "/api/search/messages?q=report", 2).await?;
    assert_eq!(
        contents(&found),
        [
            "report report: the report, again",
            "the quarterly report is ready"
        ]
    );
    for hit in found["data"].as_array().into_iter().flatten() {
        check_schema(&doc, "SearchHit", hit).map_err(anyhow::Error::msg)?;
    }
    let snippet = &found["data"][1]["snippet"];
    assert_eq!(snippet["text"], "the quarterly report is ready");
    assert_eq!(snippet["highlights"], json!([[14, 20]]), "{snippet}");
    // Bob is in both: three; the operators narrow.
    search_until(&api, &bob, "/api/search/messages?q=report", 3).await?;
    let from = api
        .get(
            "/api/search/messages?q=report%20from:srch_alice",
            Some(&bob),
        )
        .await?;
    assert_eq!(contents(&from.body), ["the quarterly report is ready"]);
    let within = api
        .get(
            &format!("/api/search/messages?q=report&conversationId={theirs}"),
            Some(&bob),
        )
        .await?;
    assert_eq!(contents(&within.body), ["secret report for bob only"]);
    let in_op = api
        .get(
            &format!("/api/search/messages?q=report%20in:{theirs}"),
            Some(&alice),
        )
        .await?;
    assert_eq!(in_op.status, 200);
    assert!(contents(&in_op.body).is_empty(), "not a member: nothing");
    let dated = api
        .get(
            "/api/search/messages?q=report%20before:2000-01-01",
            Some(&bob),
        )
        .await?;
    assert!(contents(&dated.body).is_empty());

    // Paging: one per page, each exactly once.
    let mut seen = Vec::new();
    let mut path = "/api/search/messages?q=report&limit=1".to_owned();
    loop {
        let page = api.get(&path, Some(&bob)).await?;
        seen.extend(contents(&page.body));
        match page.body["meta"]["cursor"].as_str() {
            Some(cursor) => path = format!("/api/search/messages?q=report&limit=1&cursor={cursor}"),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3);

    for bad in [
        "/api/search/messages",
        "/api/search/messages?q=from:srch_bob",
        "/api/search/messages?q=x%20before:someday",
        "/api/search/messages?q=x&cursor=nope",
        "/api/search/messages?q=x&conversationId=nope",
    ] {
        let refused = api.get(bad, Some(&alice)).await?;
        assert_eq!(refused.status, 400, "{bad}: {}", refused.body);
        assert_eq!(refused.body["error"]["code"], "VALIDATION_ERROR");
    }
    assert_eq!(api.get("/api/search/messages?q=x", None).await?.status, 401);
    Ok(())
}
