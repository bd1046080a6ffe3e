//! History pages: newest-first paging with no gaps or repeats, oldest-first gap-fill, limits.

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
