//! Groups end to end, with real REST and WebSocket clients and PostgreSQL: rename and describe,
//! role changes (the owner only; the last owner steps down or leaves only by naming another),
//! add, remove and leave with `conversation:member_added` / `_removed` to every member's
//! connections (the removed one too, and nobody else), system messages in the timeline (history
//! and sync; they cannot be edited), the paged member list, deletion by the owner with
//! `conversation:deleted`, and every change in the audit log once.

use std::time::Duration;

use hyper::Method;
use parley_testkit::TestGateway;
use parley_testkit::api::{Api, TestUser, check_schema, uuid_of};
use parley_testkit::ws::WsClient;
use serde_json::{Value, json};

async fn patch(
    api: &Api,
    path: &str,
    user: &TestUser,
    body: Value,
) -> anyhow::Result<(u16, Value)> {
    let response = api
        .send(Method::PATCH, path, Some(user), Some(&body))
        .await?;
    Ok((response.status.as_u16(), response.body))
}

/// The newest messages of `conversation` as `user` sees them, oldest first.
async fn timeline(api: &Api, user: &TestUser, conversation: &str) -> anyhow::Result<Vec<Value>> {
    let page = api
        .get(
            &format!("/api/conversations/{conversation}/messages?limit=50"),
            Some(user),
        )
        .await?;
    anyhow::ensure!(page.status == 200, "history: {}", page.body);
    let mut messages = page.body["data"].as_array().cloned().unwrap_or_default();
    messages.reverse();
    Ok(messages)
}

fn contents(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["contentType"] == "system")
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn group_changes_reach_every_member_and_the_timeline() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc: Value = gw.get("/api/openapi.json").await?.body;
    let ann = api.register("grp_ann").await?;
    let ben = api.register("grp_ben").await?;
    let cat = api.register("grp_cat").await?;
    let dan = api.register("grp_dan").await?;
    let eve = api.register("grp_eve").await?;
    let group = api.group(&ann, "Team", &[&ben]).await?;
    let path = format!("/api/conversations/{group}");
    let members = format!("{path}/members");
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let mut cat_ws = WsClient::authed(gw.addr(), &cat.access_token).await?;
    let mut eve_ws = WsClient::authed(gw.addr(), &eve.access_token).await?;

    // Added: the new member and the others hear it; the timeline says so.
    let added = api
        .post(&members, Some(&ann), &json!({"userId": cat.id}))
        .await?;
    assert_eq!(added.status, 201, "{}", added.body);
    for ws in [&mut ben_ws, &mut cat_ws] {
        let event = ws.expect("conversation:member_added").await?;
        assert_eq!(event["data"]["conversationId"], group.as_str());
        assert_eq!(event["data"]["member"]["userId"], cat.id.as_str());
        assert_eq!(event["data"]["by"], ann.id.as_str());
        let notice = ws.expect("message:received").await?;
        assert_eq!(notice["data"]["message"]["contentType"], "system");
        assert_eq!(
            notice["data"]["message"]["content"],
            "grp_ann added grp_cat"
        );
    }
    // The notice is the new member's one unread message; older history is not.
    let listed = api.get(&path, Some(&cat)).await?;
    assert_eq!(listed.body["data"]["unreadCount"], 1, "{}", listed.body);

    // Renamed and described by an admin; a plain member may not.
    let (status, body) = patch(
        &api,
        &format!("{members}/{}", ben.id),
        &ann,
        json!({"role": "admin"}),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["role"], "admin");
    check_schema(&doc, "Member", &body["data"]).map_err(anyhow::Error::msg)?;
    let (status, body) = patch(&api, &path, &cat, json!({"name": "Mine"})).await?;
    assert_eq!(status, 403, "{body}");
    let (status, body) = patch(
        &api,
        &path,
        &ben,
        json!({"name": "  Launch  ", "description": "Ship it\nby Friday"}),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["name"], "Launch");
    assert_eq!(body["data"]["description"], "Ship it\nby Friday");
    check_schema(&doc, "Conversation", &body["data"]).map_err(anyhow::Error::msg)?;
    let updated = cat_ws
        .expect_where("conversation:updated", |f| f["data"]["name"] == "Launch")
        .await?;
    assert_eq!(updated["data"]["description"], "Ship it\nby Friday");
    let (status, body) = patch(&api, &path, &ben, json!({"name": ""})).await?;
    assert_eq!(status, 400);
    assert!(body["error"]["details"]["name"].is_array(), "{body}");
    let (status, body) = patch(&api, &path, &ben, json!({"description": "x".repeat(501)})).await?;
    assert_eq!(status, 400);
    assert!(body["error"]["details"]["description"].is_array(), "{body}");
    // The same values again change nothing and write nothing.
    let before = timeline(&api, &ann, &group).await?.len();
    let (status, _) = patch(&api, &path, &ben, json!({"name": "Launch"})).await?;
    assert_eq!(status, 200);
    assert_eq!(timeline(&api, &ann, &group).await?.len(), before);
    let (status, body) = patch(&api, &path, &ben, json!({"description": null})).await?;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["description"], Value::Null);

    // Roles: only the owner changes them, never its own; handing over makes it an admin.
    let (status, _) = patch(
        &api,
        &format!("{members}/{}", cat.id),
        &ben,
        json!({"role": "admin"}),
    )
    .await?;
    assert_eq!(status, 403);
    let (status, body) = patch(
        &api,
        &format!("{members}/{}", ann.id),
        &ann,
        json!({"role": "member"}),
    )
    .await?;
    assert_eq!(status, 409, "{body}");
    let (status, _) = patch(
        &api,
        &format!("{members}/{}", eve.id),
        &ann,
        json!({"role": "admin"}),
    )
    .await?;
    assert_eq!(status, 404);

    // Removed: the removed member hears it and loses the conversation; an outsider hears nothing.
    let removed = api
        .delete(&format!("{members}/{}", cat.id), Some(&ben))
        .await?;
    assert_eq!(removed.status, 204, "{}", removed.body);
    for ws in [&mut ben_ws, &mut cat_ws] {
        let event = ws.expect("conversation:member_removed").await?;
        assert_eq!(event["data"]["userId"], cat.id.as_str());
        assert_eq!(event["data"]["by"], ben.id.as_str());
    }
    ben_ws
        .expect_where("message:received", |f| {
            f["data"]["message"]["content"] == "grp_ben removed grp_cat"
        })
        .await?;
    assert_eq!(api.get(&path, Some(&cat)).await?.status, 404);
    assert!(
        eve_ws.quiet_for(Duration::from_millis(300)).await?,
        "{:?}",
        eve_ws.backlog()
    );

    // The owner leaves only by naming another member; alone, it deletes instead.
    let (status, body) = {
        let r = api
            .delete(&format!("{members}/{}", ann.id), Some(&ann))
            .await?;
        (r.status.as_u16(), r.body)
    };
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "CONFLICT");
    let bad = api
        .delete(
            &format!("{members}/{}?newOwnerId={}", ann.id, eve.id),
            Some(&ann),
        )
        .await?;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body["error"]["details"]["newOwnerId"].is_array());
    let (status, _) = patch(
        &api,
        &format!("{members}/{}", ben.id),
        &ann,
        json!({"role": "owner"}),
    )
    .await?;
    assert_eq!(status, 200);
    let handed = ben_ws
        .expect_where("conversation:updated", |f| {
            f["data"]["ownerId"] == ben.id.as_str()
        })
        .await?;
    let roles: Vec<(String, String)> = handed["data"]["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["userId"].as_str().unwrap_or_default().to_owned(),
                m["role"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        roles.contains(&(ann.id.clone(), "admin".to_owned())),
        "{roles:?}"
    );
    assert!(
        roles.contains(&(ben.id.clone(), "owner".to_owned())),
        "{roles:?}"
    );
    let left = api
        .delete(&format!("{members}/{}", ann.id), Some(&ann))
        .await?;
    assert_eq!(left.status, 204, "{}", left.body);

    // The timeline tells the story, in seq order, for history and for sync alike.
    let story = contents(&timeline(&api, &ben, &group).await?);
    assert_eq!(
        story,
        [
            "grp_ann added grp_cat",
            "grp_ann made grp_ben an admin",
            "grp_ben renamed the group to \u{201c}Launch\u{201d} and changed the description",
            "grp_ben removed the description",
            "grp_ben removed grp_cat",
            "grp_ann made grp_ben the owner",
            "grp_ann left",
        ]
    );
    ben_ws
        .send(&json!({"event": "sync:request", "id": "s", "data": {
            "conversations": [{"conversationId": group, "lastSeq": 0}]
        }}))
        .await?;
    let synced = ben_ws.expect("sync:response").await?;
    let synced: Vec<Value> = synced["data"]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(contents(&synced), story, "{synced:?}");
    // A system message is the record of a change: nobody edits or reacts to it.
    let notice = timeline(&api, &ben, &group)
        .await?
        .pop()
        .expect("a message");
    let message = notice["id"].as_str().unwrap_or_default();
    let edit = api
        .send(
            Method::PATCH,
            &format!("/api/messages/{message}"),
            Some(&ben),
            Some(&json!({"content": "forged"})),
        )
        .await?;
    assert_eq!(edit.status, 403, "{}", edit.body);

    // Deleted by its owner (not by an admin): members are told, history is gone.
    api.post(
        &members,
        Some(&ben),
        &json!({"userId": dan.id, "role": "admin"}),
    )
    .await?;
    let mut dan_ws = WsClient::authed(gw.addr(), &dan.access_token).await?;
    assert_eq!(api.delete(&path, Some(&dan)).await?.status, 403);
    assert_eq!(api.delete(&path, Some(&eve)).await?.status, 404);
    let deleted = api.delete(&path, Some(&ben)).await?;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    for ws in [&mut ben_ws, &mut dan_ws] {
        let event = ws.expect("conversation:deleted").await?;
        assert_eq!(event["data"]["conversationId"], group.as_str());
        assert_eq!(event["data"]["by"], ben.id.as_str());
    }
    assert_eq!(api.get(&path, Some(&ben)).await?.status, 404);
    let db = gw.cluster.client().await?;
    let id = uuid_of(&group);
    for table in ["messages", "message_search", "conversation_members"] {
        let left: i64 = db
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE conversation_id = $1::text::uuid"),
                &[&id],
            )
            .await?
            .get(0);
        assert_eq!(left, 0, "{table}");
    }

    // Every change is in the audit log once, with its actor and target.
    let rows = db
        .query(
            "SELECT action, actor::text, coalesce(replace(target_user::text, '-', ''), '') FROM audit_log
             WHERE target_conversation = $1::text::uuid ORDER BY id",
            &[&id],
        )
        .await?;
    let trail: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(2)))
        .collect();
    let user = |u: &TestUser| uuid_of(&u.id);
    assert_eq!(
        trail,
        [
            ("member.added".to_owned(), user(&cat)),
            ("member.role_changed".to_owned(), user(&ben)),
            ("conversation.updated".to_owned(), String::new()),
            ("conversation.updated".to_owned(), String::new()),
            ("member.removed".to_owned(), user(&cat)),
            ("member.role_changed".to_owned(), user(&ben)),
            ("member.left".to_owned(), user(&ann)),
            ("member.added".to_owned(), user(&dan)),
            ("conversation.deleted".to_owned(), String::new()),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn the_member_list_pages_by_role_then_joining() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc: Value = gw.get("/api/openapi.json").await?.body;
    let owner = api.register("pg_owner").await?;
    let mut others = Vec::new();
    for i in 0..4 {
        others.push(api.register(&format!("pg_m{i}")).await?);
    }
    let refs: Vec<&TestUser> = others.iter().collect();
    let group = api.group(&owner, "Paged", &refs).await?;
    let members = format!("/api/conversations/{group}/members");
    let (status, _) = patch(
        &api,
        &format!("{members}/{}", others[3].id),
        &owner,
        json!({"role": "admin"}),
    )
    .await?;
    assert_eq!(status, 200);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("{members}?limit=2&cursor={c}"),
            None => format!("{members}?limit=2"),
        };
        let page = api.get(&query, Some(&others[0])).await?;
        assert_eq!(page.status, 200, "{}", page.body);
        for member in page.body["data"].as_array().into_iter().flatten() {
            check_schema(&doc, "Member", member).map_err(anyhow::Error::msg)?;
            seen.push(member["username"].as_str().unwrap_or_default().to_owned());
        }
        if page.body["meta"]["hasMore"] != true {
            break;
        }
        cursor = page.body["meta"]["cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, ["pg_owner", "pg_m3", "pg_m0", "pg_m1", "pg_m2"]);
    let outsider = api.register("pg_out").await?;
    assert_eq!(api.get(&members, Some(&outsider)).await?.status, 404);
    let bad = api
        .get(&format!("{members}?cursor=zzz"), Some(&owner))
        .await?;
    assert_eq!(bad.status, 400);
    Ok(())
}
