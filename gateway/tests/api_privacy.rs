//! Data exports and account deletion end to end, with real REST clients, the real `parley admin` binary and
//! PostgreSQL: a user's export is prepared in the background, downloaded once by its owner (404
//! for anyone else, and the second time), and holds exactly their data: their profile,
//! memberships, sessions, settings, every message they sent (edited and deleted ones as stored)
//! and every reaction they gave, and no other user's message content. The command line writes
//! the same archive to a new 0600 file. Each request, download and CLI export is audited once.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use hyper::Method;
use parley_testkit::api::{Api, TestUser, check_schema};
use parley_testkit::ws::WsClient;
use parley_testkit::{TestGateway, process};
use serde_json::{Value, json};

/// Polls the user's exports until `id` is ready.
async fn ready(api: &Api, user: &TestUser, id: &str) -> anyhow::Result<Value> {
    for _ in 0..100 {
        let list = api.get("/api/users/me/exports", Some(user)).await?;
        anyhow::ensure!(list.status == 200, "list: {}", list.body);
        let found = list.body["data"]
            .as_array()
            .and_then(|all| all.iter().find(|e| e["id"] == id).cloned());
        match found {
            Some(export) if export["status"] == "ready" => return Ok(export),
            Some(export) if export["status"] == "failed" => {
                anyhow::bail!("export failed: {export}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    anyhow::bail!("export {id} never became ready")
}

#[tokio::test]
async fn an_export_holds_exactly_the_users_data_and_is_downloaded_once() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc: Value = gw.get("/api/openapi.json").await?.body;
    let ann = api.register("exp_ann").await?;
    let ben = api.register("exp_ben").await?;
    let dm = api.dm(&ann, &ben).await?;
    let group = api.group(&ben, "Club", &[&ann]).await?;
    let mut mine = Vec::new();
    mine.push(api.say(&ann, &dm, 1, "ann says hello").await?);
    mine.push(api.say(&ann, &group, 2, "ann in the club").await?);
    let edited = api.say(&ann, &dm, 3, "ann before the edit").await?;
    mine.push(edited.clone());
    let theirs = api.say(&ben, &dm, 4, "BEN-SECRET-CONTENT").await?;
    api.say(&ben, &group, 5, "BEN-CLUB-SECRET").await?;
    let edit = api
        .send(
            Method::PATCH,
            &format!("/api/messages/{edited}"),
            Some(&ann),
            Some(&json!({"content": "ann after the edit"})),
        )
        .await?;
    assert_eq!(edit.status, 200, "{}", edit.body);
    let mut ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let reacted = ws
        .ask(
            "message:react",
            "r",
            json!({"messageId": theirs, "emoji": "👍", "action": "add"}),
        )
        .await?;
    assert_eq!(reacted["event"], "message:reacted", "{reacted}");

    // Asked for: prepared in the background; asking again answers the same export.
    let asked = api
        .post("/api/users/me/export", Some(&ann), &json!(null))
        .await?;
    assert_eq!(asked.status, 202, "{}", asked.body);
    check_schema(&doc, "Export", &asked.body["data"]).map_err(anyhow::Error::msg)?;
    let id = asked.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let again = api
        .post("/api/users/me/export", Some(&ann), &json!(null))
        .await?;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["data"]["id"], id.as_str());
    let export = ready(&api, &ann, &id).await?;
    assert!(export["bytes"].as_i64().unwrap_or(0) > 0, "{export}");

    // Someone else cannot take it.
    let path = format!("/api/users/me/exports/{id}/download");
    assert_eq!(api.get(&path, Some(&ben)).await?.status, 404);
    let downloaded = api.get(&path, Some(&ann)).await?;
    assert_eq!(downloaded.status, 200);
    let disposition = downloaded
        .headers
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        disposition.starts_with("attachment; filename=\"parley-export-"),
        "{disposition}"
    );
    let text = String::from_utf8(downloaded.raw.to_vec())?;
    let archive: Value = serde_json::from_str(&text)?;
    check_schema(&doc, "ExportArchive", &archive).map_err(anyhow::Error::msg)?;
    assert_eq!(archive["format"], "parley-export/1");
    assert_eq!(archive["user"]["id"], ann.id.as_str());
    assert_eq!(archive["user"]["username"], "exp_ann");
    let mut ids: Vec<String> = archive["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    mine.sort();
    assert_eq!(ids, mine, "exactly ann's messages");
    assert!(text.contains("ann after the edit"));
    for secret in ["BEN-SECRET-CONTENT", "BEN-CLUB-SECRET"] {
        assert!(
            !text.contains(secret),
            "another user's content leaked into the export"
        );
    }
    assert_eq!(archive["reactions"][0]["messageId"], theirs.as_str());
    assert_eq!(archive["memberships"].as_array().map(Vec::len), Some(2));
    assert!(
        archive["sessions"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
    // Downloaded once: gone.
    assert_eq!(api.get(&path, Some(&ann)).await?.status, 404);
    let list = api.get("/api/users/me/exports", Some(&ann)).await?;
    assert_eq!(list.body["data"][0]["status"], "downloaded");
    let db = gw.cluster.client().await?;
    let parts: i64 = db
        .query_one("SELECT count(*) FROM data_export_parts", &[])
        .await?
        .get(0);
    assert_eq!(parts, 0, "a downloaded archive leaves no parts");

    // The command line writes the same archive to a new file of its own.
    let dir = tempfile_dir()?;
    let file = dir.join("ann.json");
    let url = gw.cluster.url();
    let to = file.to_string_lossy().into_owned();
    let args = [
        "--database-url",
        url.as_str(),
        "admin",
        "export",
        "exp_ann",
        "--to",
        to.as_str(),
    ];
    let (code, out, err) = process::run(Path::new(env!("CARGO_BIN_EXE_parley")), &args, &[])?;
    assert_eq!(code, 0, "{out}{err}");
    let written: Value = serde_json::from_slice(&std::fs::read(&file)?)?;
    assert_eq!(written["messages"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        std::fs::metadata(&file)?.permissions().mode() & 0o777,
        0o600
    );
    let (code, _, err) = process::run(Path::new(env!("CARGO_BIN_EXE_parley")), &args, &[])?;
    assert_ne!(code, 0, "an existing file is never overwritten");
    assert!(err.contains("must not exist"), "{err}");

    let rows = db
        .query(
            "SELECT action FROM audit_log WHERE target_user = $1::text::uuid ORDER BY id",
            &[&parley_testkit::api::uuid_of(&ann.id)],
        )
        .await?;
    let actions: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        actions,
        [
            "user.export_requested",
            "user.export_downloaded",
            "user.exported"
        ]
    );
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("parley-export-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn count(db: &tokio_postgres::Client, sql: &str, user: &str) -> anyhow::Result<i64> {
    Ok(db
        .query_one(sql, &[&parley_testkit::api::uuid_of(user)])
        .await?
        .get(0))
}

#[tokio::test]
async fn a_deleted_account_leaves_anonymous_history_and_no_rows() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let ann = api.register("del_ann").await?;
    let ben = api.register("del_ben").await?;
    let cat = api.register("del_cat").await?;
    let mine = api.group(&ann, "Mine", &[&ben, &cat]).await?;
    let role = api
        .send(
            Method::PATCH,
            &format!("/api/conversations/{mine}/members/{}", ben.id),
            Some(&ann),
            Some(&json!({"role": "admin"})),
        )
        .await?;
    assert_eq!(role.status, 200, "{}", role.body);
    let theirs = api.group(&ben, "Theirs", &[&ann]).await?;
    let dm = api.dm(&ann, &ben).await?;
    let in_mine = api.say(&ann, &mine, 1, "ann writes in mine").await?;
    api.say(&ann, &theirs, 2, "ann writes in theirs").await?;
    api.say(&ann, &dm, 3, "ann writes to ben").await?;
    api.say(&ben, &mine, 4, "ben answers").await?;
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;

    // The password (a wrong one counts as a failed login), then the account goes.
    let wrong = api
        .send(
            Method::DELETE,
            "/api/users/me",
            Some(&ann),
            Some(&json!({"password": "not it at all"})),
        )
        .await?;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(wrong.body["error"]["details"]["password"].is_array());
    let deleted = api
        .send(
            Method::DELETE,
            "/api/users/me",
            Some(&ann),
            Some(&json!({"password": "password123"})),
        )
        .await?;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(ann_ws.closed().await?.code, Some(4401));
    assert_eq!(api.get("/api/users/me", Some(&ann)).await?.status, 401);

    // Ben hears it all: out of both groups, Mine handed to him (its admin), the DM closed.
    for group in [&mine, &theirs] {
        ben_ws
            .expect_where("conversation:member_removed", |f| {
                f["data"]["conversationId"] == group.as_str()
            })
            .await?;
    }
    ben_ws
        .expect_where("conversation:updated", |f| {
            f["data"]["ownerId"] == ben.id.as_str()
        })
        .await?;
    ben_ws
        .expect_where("message:received", |f| {
            f["data"]["message"]["content"]
                == "Deleted user deleted their account; this conversation is closed"
        })
        .await?;
    let dm_history = api
        .get(
            &format!("/api/conversations/{dm}/messages?limit=50"),
            Some(&ben),
        )
        .await?;
    assert_eq!(dm_history.status, 200, "Ben keeps the DM's history");
    assert!(
        dm_history.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|m| m["content"] != "ann writes to ben"),
        "{}",
        dm_history.body
    );
    let refused = api
        .post(
            &format!("/api/conversations/{dm}/messages"),
            Some(&ben),
            &json!({"clientMessageId": "late", "content": "are you there?"}),
        )
        .await?;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "FORBIDDEN");
    // Their messages read as a deleted user's; the tombstone is never found.
    let sender = api
        .get(&format!("/api/users/{}", ann.id), Some(&ben))
        .await?;
    assert_eq!(
        sender.body["data"]["displayName"], "Deleted user",
        "{}",
        sender.body
    );
    let found = api.get("/api/users?query=deleted", Some(&ben)).await?;
    assert_eq!(
        found.body["data"].as_array().map(Vec::len),
        Some(0),
        "{}",
        found.body
    );
    let history = api
        .get(
            &format!("/api/conversations/{mine}/messages?limit=50"),
            Some(&cat),
        )
        .await?;
    let messages = history.body["data"].as_array().cloned().unwrap_or_default();
    let old = messages
        .iter()
        .find(|m| m["id"] == in_mine.as_str())
        .expect("the message keeps its place");
    assert_eq!(old["content"], "");
    assert!(old["deletedAt"].is_string());
    assert!(
        messages
            .iter()
            .any(|m| m["content"] == "Deleted user left and made del_ben the owner"),
        "{messages:?}"
    );
    assert!(
        !history.raw.windows(8).any(|w| w == b"del_ann\""),
        "the name is gone"
    );
    // The username is free again.
    let again = api.register("del_ann").await?;
    assert_ne!(again.id, ann.id);

    let db = gw.cluster.client().await?;
    for (table, sql) in [
        (
            "users with a name, an email or a password",
            "SELECT count(*) FROM users WHERE id = $1::text::uuid
             AND (display_name <> 'Deleted user' OR email IS NOT NULL OR password_hash <> '!'
                  OR deleted_at IS NULL OR username NOT LIKE 'deleted%')",
        ),
        (
            "user_blocks",
            "SELECT count(*) FROM user_blocks WHERE blocker_id = $1::text::uuid OR blocked_id = $1::text::uuid",
        ),
        (
            "data_exports",
            "SELECT count(*) FROM data_exports WHERE user_id = $1::text::uuid",
        ),
        (
            "auth_sessions",
            "SELECT count(*) FROM auth_sessions WHERE user_id = $1::text::uuid",
        ),
        (
            "conversation_members",
            "SELECT count(*) FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.user_id = $1::text::uuid AND c.kind = 'group'",
        ),
        (
            "message_reactions",
            "SELECT count(*) FROM message_reactions WHERE user_id = $1::text::uuid",
        ),
        (
            "push_subscriptions",
            "SELECT count(*) FROM push_subscriptions WHERE user_id = $1::text::uuid",
        ),
        (
            "message_search words",
            "SELECT count(*) FROM message_search s JOIN messages m ON m.id = s.message_id
             WHERE m.sender_id = $1::text::uuid AND m.content_type = 'text'
               AND s.search <> ''::tsvector",
        ),
        (
            "messages with content (but the notices of the deletion, which name no one)",
            "SELECT count(*) FROM messages WHERE sender_id = $1::text::uuid AND content <> ''
             AND content NOT LIKE 'Deleted user %'",
        ),
    ] {
        assert_eq!(count(&db, sql, &ann.id).await?, 0, "{table}");
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM audit_log WHERE action = 'user.deleted' AND target_user = $1::text::uuid", &ann.id).await?,
        1
    );

    // From the command line, with messages deleted outright: a group with no one else goes too.
    let dan = api.register("del_dan").await?;
    let alone = api.group(&dan, "Alone", &[]).await?;
    api.say(&dan, &alone, 5, "dan alone").await?;
    let shared = api.group(&ben, "Shared", &[&dan]).await?;
    api.say(&dan, &shared, 6, "dan shares").await?;
    let url = gw.cluster.url();
    let args = [
        "--database-url",
        url.as_str(),
        "admin",
        "delete-user",
        "del_dan",
    ];
    let env = [("PARLEY_PRIVACY__DELETE_MESSAGES", "true")];
    let (code, out, err) = process::run(Path::new(env!("CARGO_BIN_EXE_parley")), &args, &env)?;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("del_dan is deleted"), "{out}");
    assert_eq!(
        api.get(&format!("/api/conversations/{alone}"), Some(&ben))
            .await?
            .status,
        404
    );
    let kept: i64 = db
        .query_one(
            "SELECT count(*) FROM conversations WHERE id = $1::text::uuid",
            &[&parley_testkit::api::uuid_of(&alone)],
        )
        .await?
        .get(0);
    assert_eq!(kept, 0, "the group of one went with its member");
    assert_eq!(count(&db, "SELECT count(*) FROM messages WHERE sender_id = $1::text::uuid AND content_type = 'text'", &dan.id).await?, 0);
    let shared_history = api
        .get(
            &format!("/api/conversations/{shared}/messages?limit=50"),
            Some(&ben),
        )
        .await?;
    assert!(
        shared_history.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["content"] == "Deleted user left"),
        "{}",
        shared_history.body
    );
    let (code, _, err) = process::run(Path::new(env!("CARGO_BIN_EXE_parley")), &args, &env)?;
    assert_ne!(code, 0);
    assert!(err.contains("no user named del_dan"), "{err}");
    Ok(())
}
