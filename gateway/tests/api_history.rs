//! History pages: newest-first paging with no gaps or repeats, oldest-first gap-fill, a page
//! around a message (jump), limits.

use parley_testkit::TestGateway;
use parley_testkit::api::{check_schema, seed_messages};
use serde_json::Value;

fn seqs(body: &Value) -> Vec<i64> {
    body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["seq"].as_i64())
        .collect()
}

#[tokio::test]
async fn pages_cover_history_exactly_once() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc = gw.get("/api/openapi.json").await?.body;
    let (a, b) = (api.register("hist_a").await?, api.register("hist_b").await?);
    let conv = api.dm(&a, &b).await?;
    let db = gw.cluster.client().await?;
    seed_messages(&db, &conv, &a.id, 120).await?;

    let mut all = Vec::new();
    let mut path = format!("/api/conversations/{conv}/messages");
    let mut sizes = Vec::new();
    loop {
        let page = api.get(&path, Some(&b)).await?;
        assert_eq!(page.status, 200, "{}", page.body);
        for item in page.body["data"].as_array().into_iter().flatten() {
            check_schema(&doc, "Message", item).map_err(anyhow::Error::msg)?;
        }
        let got = seqs(&page.body);
        sizes.push(got.len());
        all.extend(got);
        match page.body["meta"]["cursor"].as_str() {
            Some(cursor) if page.body["meta"]["hasMore"] == true => {
                path = format!("/api/conversations/{conv}/messages?before={cursor}");
            }
            _ => break,
        }
    }
    assert_eq!(sizes, [50, 50, 20]);
    let expected: Vec<i64> = (1..=120).rev().collect();
    assert_eq!(all, expected, "newest first, every seq exactly once");

    let fill = api
        .get(
            &format!("/api/conversations/{conv}/messages?after=100&limit=15"),
            Some(&a),
        )
        .await?;
    assert_eq!(seqs(&fill.body), (101..=115).collect::<Vec<_>>());
    assert_eq!(fill.body["meta"]["hasMore"], true);
    assert_eq!(fill.body["meta"]["cursor"], "115");
    let rest = api
        .get(
            &format!("/api/conversations/{conv}/messages?after=115"),
            Some(&a),
        )
        .await?;
    assert_eq!(seqs(&rest.body), (116..=120).collect::<Vec<_>>());
    assert_eq!(rest.body["meta"]["hasMore"], false);
    let none = api
        .get(
            &format!("/api/conversations/{conv}/messages?after=120"),
            Some(&a),
        )
        .await?;
    assert_eq!(seqs(&none.body), Vec::<i64>::new());
    assert_eq!(none.body["meta"]["cursor"], Value::Null);

    for (query, field) in [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("before=x", "before"),
        ("before=0", "before"),
        ("after=-1", "after"),
        ("before=10&after=5", "after"),
        ("around=0", "around"),
        ("around=5&before=3", "around"),
        ("around=5&after=3", "around"),
    ] {
        let response = api
            .get(
                &format!("/api/conversations/{conv}/messages?{query}"),
                Some(&a),
            )
            .await?;
        assert_eq!(response.status, 400, "{query}");
        assert!(
            response.body["error"]["details"][field].is_array(),
            "{query}: {}",
            response.body
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_page_around_a_message_continues_both_ways() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let (a, b) = (
        api.register("around_a").await?,
        api.register("around_b").await?,
    );
    let outsider = api.register("around_c").await?;
    let conv = api.dm(&a, &b).await?;
    let db = gw.cluster.client().await?;
    seed_messages(&db, &conv, &a.id, 120).await?;
    let around = |query: String| {
        let api = &api;
        let b = &b;
        let conv = &conv;
        async move {
            api.get(
                &format!("/api/conversations/{conv}/messages?{query}"),
                Some(b),
            )
            .await
        }
    };

    // Limit 10 around 100: five newer (101..=105), then 100 and four older; newest first.
    let page = around("around=100&limit=10".into()).await?;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(seqs(&page.body), (96..=105).rev().collect::<Vec<_>>());
    let meta = &page.body["meta"];
    assert_eq!(meta["hasMore"], true);
    assert_eq!(meta["cursor"], "96");
    assert_eq!(meta["hasNewer"], true);
    assert_eq!(meta["newerCursor"], "105");
    // Both cursors go on without gaps.
    let older = around("before=96&limit=5".into()).await?;
    assert_eq!(seqs(&older.body), (91..=95).rev().collect::<Vec<_>>());
    let newer = around("after=105&limit=5".into()).await?;
    assert_eq!(seqs(&newer.body), (106..=110).collect::<Vec<_>>());

    // At the ends of the conversation.
    let end = around("around=119&limit=10".into()).await?;
    assert_eq!(seqs(&end.body), (111..=120).rev().collect::<Vec<_>>());
    assert_eq!(end.body["meta"]["hasNewer"], false);
    let start = around("around=2&limit=10".into()).await?;
    assert_eq!(seqs(&start.body), (1..=7).rev().collect::<Vec<_>>());
    assert_eq!(start.body["meta"]["hasMore"], false);
    assert_eq!(start.body["meta"]["cursor"], Value::Null);
    // Past the end: the newest messages, nothing newer.
    let past = around("around=500&limit=4".into()).await?;
    assert_eq!(seqs(&past.body), vec![120, 119, 118, 117]);
    assert_eq!(past.body["meta"]["hasNewer"], false);

    // A non-member gets what a missing conversation gets.
    let refused = api
        .get(
            &format!("/api/conversations/{conv}/messages?around=100"),
            Some(&outsider),
        )
        .await?;
    assert_eq!(refused.status, 404, "{}", refused.body);
    Ok(())
}
