//! Conversations over REST: DM get-or-create from both sides, groups, membership rules, the
//! caller's list with paging, and non-members told exactly what a missing conversation says.

use parley_testkit::api::{check_schema, seed_messages};
use parley_testkit::{TestGateway, TestUser};
use serde_json::{Value, json};

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn one_dm_per_pair_whichever_side_asks() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc = gw.get("/api/openapi.json").await?.body;
    let (ann, ben) = (api.register("ann").await?, api.register("ben").await?);
    let first = api
        .post(
            "/api/conversations",
            Some(&ann),
            &json!({"type": "dm", "userId": ben.id}),
        )
        .await?;
    assert_eq!(first.status, 201, "{}", first.body);
    check_schema(&doc, "Conversation", &first.body["data"]).map_err(anyhow::Error::msg)?;
    let id = first.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(first.body["data"]["type"], "dm");
    assert_eq!(first.body["data"]["memberCount"], 2);
    assert_eq!(first.body["data"]["lastMessage"], Value::Null);
    for (who, other) in [(&ann, &ben), (&ben, &ann)] {
        let again = api
            .post(
                "/api/conversations",
                Some(who),
                &json!({"type": "dm", "userId": other.id}),
            )
            .await?;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(again.body["data"]["id"], id.as_str());
    }
    // Concurrent first contact from both sides still yields one conversation.
    let (cat, dan) = (api.register("cat").await?, api.register("dan").await?);
    let (a, b) = tokio::join!(api.dm(&cat, &dan), api.dm(&dan, &cat));
    assert_eq!(a?, b?);

    let myself = api
        .post(
            "/api/conversations",
            Some(&ann),
            &json!({"type": "dm", "userId": ann.id}),
        )
        .await?;
    assert_eq!(myself.status, 400);
    assert!(myself.body["error"]["details"]["userId"].is_array());
    let ghost = api
        .post(
            "/api/conversations",
            Some(&ann),
            &json!({"type": "dm", "userId": "usr_00000000000000000000000000000000"}),
        )
        .await?;
    assert_eq!(ghost.status, 404);
    for (body, field) in [
        (json!({"type": "dm"}), "userId"),
        (json!({"type": "dm", "userId": "bob"}), "userId"),
        (json!({"type": "chat", "userId": ben.id}), "type"),
        (json!({"type": "dm", "userId": ben.id, "name": "x"}), "name"),
    ] {
        let response = api.post("/api/conversations", Some(&ann), &body).await?;
        assert_eq!(response.status, 400, "{body}");
        assert!(
            response.body["error"]["details"][field].is_array(),
            "{body}: {}",
            response.body
        );
    }
    Ok(())
}

#[tokio::test]
async fn groups_and_member_management() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc = gw.get("/api/openapi.json").await?.body;
    let [owner, admin, member, extra, late]: [TestUser; 5] = [
        api.register("owner").await?,
        api.register("admin").await?,
        api.register("member").await?,
        api.register("extra").await?,
        api.register("late").await?,
    ];
    let group = api.group(&owner, "Team", &[&admin, &member]).await?;
    let base = format!("/api/conversations/{group}/members");
    let shown = api
        .get(&format!("/api/conversations/{group}"), Some(&member))
        .await?;
    assert_eq!(shown.body["data"]["memberCount"], 3);
    assert_eq!(shown.body["data"]["role"], "member");
    assert_eq!(shown.body["data"]["members"][0]["role"], "owner");

    let promoted = api
        .post(
            &base,
            Some(&owner),
            &json!({"userId": extra.id, "role": "admin"}),
        )
        .await?;
    assert_eq!(promoted.status, 201, "{}", promoted.body);
    check_schema(&doc, "Member", &promoted.body["data"]).map_err(anyhow::Error::msg)?;
    // `admin` is a plain member so far; only the owner can add admins.
    assert_eq!(
        api.post(&base, Some(&admin), &json!({"userId": late.id}))
            .await?
            .status,
        403
    );
    assert_eq!(
        api.post(
            &base,
            Some(&extra),
            &json!({"userId": late.id, "role": "admin"})
        )
        .await?
        .status,
        403
    );
    assert_eq!(
        api.post(&base, Some(&extra), &json!({"userId": late.id}))
            .await?
            .status,
        201
    );
    assert_eq!(
        api.post(&base, Some(&owner), &json!({"userId": late.id}))
            .await?
            .status,
        409
    );
    assert_eq!(
        api.post(
            &base,
            Some(&owner),
            &json!({"userId": late.id, "role": "owner"})
        )
        .await?
        .status,
        403
    );
    let bad = api
        .post(&base, Some(&owner), &json!({"userId": "nope"}))
        .await?;
    assert_eq!(bad.status, 400);
    assert!(bad.body["error"]["details"]["userId"].is_array());

    // Removing: admins remove members, not admins; members remove nobody; anyone may leave.
    assert_eq!(
        api.delete(&format!("{base}/{}", owner.id), Some(&extra))
            .await?
            .status,
        403
    );
    assert_eq!(
        api.delete(&format!("{base}/{}", late.id), Some(&member))
            .await?
            .status,
        403
    );
    assert_eq!(
        api.delete(&format!("{base}/{}", late.id), Some(&extra))
            .await?
            .status,
        204
    );
    assert_eq!(
        api.get(&format!("/api/conversations/{group}"), Some(&late))
            .await?
            .status,
        404
    );
    assert_eq!(
        api.delete(&format!("{base}/{}", member.id), Some(&member))
            .await?
            .status,
        204
    );
    assert_eq!(
        api.get(&format!("/api/conversations/{group}"), Some(&member))
            .await?
            .status,
        404
    );

    // The owner leaves only by naming who takes over.
    let unnamed = api
        .delete(&format!("{base}/{}", owner.id), Some(&owner))
        .await?;
    assert_eq!(unnamed.status, 409, "{}", unnamed.body);
    assert_eq!(
        api.delete(
            &format!("{base}/{}?newOwnerId={}", owner.id, extra.id),
            Some(&owner)
        )
        .await?
        .status,
        204
    );
    let after = api
        .get(&format!("/api/conversations/{group}"), Some(&extra))
        .await?;
    assert_eq!(after.body["data"]["role"], "owner", "{}", after.body);
    assert_eq!(after.body["data"]["ownerId"], extra.id.as_str());

    // A DM has no member changes.
    let dm = api.dm(&owner, &admin).await?;
    let dm_members = format!("/api/conversations/{dm}/members");
    assert_eq!(
        api.post(&dm_members, Some(&owner), &json!({"userId": late.id}))
            .await?
            .status,
        403
    );
    assert_eq!(
        api.delete(&format!("{dm_members}/{}", owner.id), Some(&owner))
            .await?
            .status,
        403
    );

    for (body, field) in [
        (json!({"type": "group", "memberIds": []}), "name"),
        (
            json!({"type": "group", "name": "x", "memberIds": ["usr_00000000000000000000000000000000"]}),
            "memberIds",
        ),
        (
            json!({"type": "group", "name": "x", "memberIds": ["garbage"]}),
            "memberIds",
        ),
        (
            json!({"type": "group", "name": "  ", "memberIds": []}),
            "name",
        ),
    ] {
        let response = api.post("/api/conversations", Some(&owner), &body).await?;
        assert_eq!(response.status, 400, "{body}");
        assert!(
            response.body["error"]["details"][field].is_array(),
            "{body}: {}",
            response.body
        );
    }
    Ok(())
}

#[tokio::test]
async fn non_members_cannot_tell_a_conversation_exists() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let (a, b, outsider) = (
        api.register("a_one").await?,
        api.register("b_two").await?,
        api.register("c_three").await?,
    );
    let real = api.group(&a, "Secret", &[&b]).await?;
    let fake = "conv_00000000000000000000000000000000";
    for suffix in ["", "/messages", "/messages?after=0"] {
        let existing = api
            .get(
                &format!("/api/conversations/{real}{suffix}"),
                Some(&outsider),
            )
            .await?;
        let missing = api
            .get(
                &format!("/api/conversations/{fake}{suffix}"),
                Some(&outsider),
            )
            .await?;
        assert_eq!(existing.status, 404, "{suffix}");
        assert_eq!(
            existing.raw, missing.raw,
            "{suffix}: a non-member must learn nothing"
        );
    }
    let add_real = api
        .post(
            &format!("/api/conversations/{real}/members"),
            Some(&outsider),
            &json!({"userId": outsider.id}),
        )
        .await?;
    let add_fake = api
        .post(
            &format!("/api/conversations/{fake}/members"),
            Some(&outsider),
            &json!({"userId": outsider.id}),
        )
        .await?;
    assert_eq!(
        (add_real.status, add_real.raw),
        (add_fake.status, add_fake.raw)
    );
    let leave_real = api
        .delete(
            &format!("/api/conversations/{real}/members/{}", outsider.id),
            Some(&outsider),
        )
        .await?;
    let leave_fake = api
        .delete(
            &format!("/api/conversations/{fake}/members/{}", outsider.id),
            Some(&outsider),
        )
        .await?;
    assert_eq!(
        (leave_real.status, leave_real.raw),
        (leave_fake.status, leave_fake.raw)
    );
    let listed = api.get("/api/conversations", Some(&outsider)).await?;
    assert_eq!(ids(&listed.body), Vec::<String>::new());
    Ok(())
}

#[tokio::test]
async fn list_by_activity_with_unread_counts_and_paging() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc = gw.get("/api/openapi.json").await?.body;
    let me = api.register("lister").await?;
    let mut created = Vec::new();
    for n in 0..7 {
        let friend = api.register(&format!("friend{n}")).await?;
        created.push((api.dm(&me, &friend).await?, friend));
    }
    // Activity in the third conversation moves it to the top, with 4 unread for me.
    let db = gw.cluster.client().await?;
    seed_messages(&db, &created[2].0, &created[2].1.id, 4).await?;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/conversations?limit=3&cursor={c}"),
            None => "/api/conversations?limit=3".to_owned(),
        };
        let page = api.get(&path, Some(&me)).await?;
        assert_eq!(page.status, 200, "{}", page.body);
        check_schema(&doc, "PageMeta", &page.body["meta"]).map_err(anyhow::Error::msg)?;
        for item in page.body["data"].as_array().into_iter().flatten() {
            check_schema(&doc, "Conversation", item).map_err(anyhow::Error::msg)?;
        }
        seen.extend(ids(&page.body));
        pages += 1;
        if page.body["meta"]["hasMore"] == false {
            assert_eq!(page.body["meta"]["cursor"], Value::Null);
            break;
        }
        cursor = page.body["meta"]["cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(pages, 3);
    let mut expected: Vec<String> = created.iter().rev().map(|(id, _)| id.clone()).collect();
    expected.retain(|id| *id != created[2].0);
    expected.insert(0, created[2].0.clone());
    assert_eq!(
        seen, expected,
        "most recent activity first, no gaps or repeats across pages"
    );

    let top = api.get("/api/conversations?limit=1", Some(&me)).await?;
    let top = &top.body["data"][0];
    assert_eq!(top["unreadCount"], 4);
    assert_eq!(top["lastSeq"], 4);
    assert_eq!(top["lastMessage"]["seq"], 4);
    assert_eq!(top["lastMessage"]["content"], "message 4");
    for bad in [
        "/api/conversations?limit=0",
        "/api/conversations?limit=101",
        "/api/conversations?cursor=zzz",
    ] {
        assert_eq!(api.get(bad, Some(&me)).await?.status, 400, "{bad}");
    }
    Ok(())
}
