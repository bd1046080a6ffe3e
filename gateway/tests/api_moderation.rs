//! Moderation end to end, with real REST and WebSocket clients, the real `parley admin` binary
//! and PostgreSQL: the admin role granted from the command line; deactivation (REST and CLI) that
//! closes the user's sockets at once, refuses their tokens and their sign-in, and reactivation;
//! an operator's one-time reset link; reports by members (404 for anyone else) resolved by
//! deleting the message (members told); an admin deleting any message; the audit log with its
//! filters and pages. Non-admins get FORBIDDEN from every admin route.

use std::path::Path;

use parley_testkit::api::{Api, TestUser, check_schema, seed_messages, uuid_of};
use parley_testkit::ws::WsClient;
use parley_testkit::{TestGateway, process};
use serde_json::{Value, json};

/// Runs `parley admin <args>` against the gateway's database; (exit code, stdout, stderr).
fn admin_cli(gw: &TestGateway, args: &[&str]) -> anyhow::Result<(i32, String, String)> {
    let url = gw.cluster.url();
    let mut all = vec!["--database-url", url.as_str(), "admin"];
    all.extend_from_slice(args);
    process::run(Path::new(env!("CARGO_BIN_EXE_parley")), &all, &[])
}

async fn login(api: &Api, username: &str, password: &str) -> anyhow::Result<(u16, Value)> {
    let response = api
        .post(
            "/api/auth/login",
            None,
            &json!({"username": username, "password": password}),
        )
        .await?;
    Ok((response.status.as_u16(), response.body))
}

async fn audit(api: &Api, admin: &TestUser, query: &str) -> anyhow::Result<Vec<Value>> {
    let page = api
        .get(&format!("/api/admin/audit?{query}"), Some(admin))
        .await?;
    anyhow::ensure!(page.status == 200, "audit: {}", page.body);
    Ok(page.body["data"].as_array().cloned().unwrap_or_default())
}

#[tokio::test]
async fn admins_deactivate_and_reactivate_accounts_from_rest_and_the_command_line()
-> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc: Value = gw.get("/api/openapi.json").await?.body;
    let ada = api.register("mod_ada").await?;
    let bob = api.register("mod_bob").await?;
    let cyd = api.register("mod_cyd").await?;

    // Not an admin yet: every admin route says FORBIDDEN.
    let bob_path = format!("/api/admin/users/{}", bob.id);
    for (method, path) in [
        (hyper::Method::GET, "/api/admin/audit".to_owned()),
        (hyper::Method::GET, "/api/admin/reports".to_owned()),
        (hyper::Method::GET, bob_path.clone()),
        (hyper::Method::POST, format!("{bob_path}/deactivate")),
    ] {
        let refused = api.send(method, &path, Some(&ada), None).await?;
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
        assert_eq!(refused.body["error"]["code"], "FORBIDDEN");
    }
    let (code, out, err) = admin_cli(&gw, &["grant", "mod_ada"])?;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("mod_ada is now a server admin"), "{out}");
    let (code, out, _) = admin_cli(&gw, &["grant", "mod_ada"])?;
    assert_eq!(code, 0);
    assert!(out.contains("already"), "{out}");
    let (code, _, err) = admin_cli(&gw, &["grant", "nobody_here"])?;
    assert_ne!(code, 0);
    assert!(err.contains("no user named nobody_here"), "{err}");
    let me = api.get("/api/users/me", Some(&ada)).await?;
    assert_eq!(me.body["data"]["isAdmin"], true);
    check_schema(&doc, "Me", &me.body["data"]).map_err(anyhow::Error::msg)?;

    // Deactivated over REST: Bob's socket closes, his token stops working, sign-in is refused.
    let mut bob_ws = WsClient::authed(gw.addr(), &bob.access_token).await?;
    let done = api
        .post(&format!("{bob_path}/deactivate"), Some(&ada), &json!(null))
        .await?;
    assert_eq!(done.status, 200, "{}", done.body);
    check_schema(&doc, "AdminUser", &done.body["data"]).map_err(anyhow::Error::msg)?;
    assert_eq!(done.body["data"]["deactivated"], true);
    assert_eq!(bob_ws.closed().await?.code, Some(4401));
    assert_eq!(api.get("/api/users/me", Some(&bob)).await?.status, 401);
    let (status, body) = login(&api, "mod_bob", "password123").await?;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "FORBIDDEN");
    let refresh = api
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refreshToken": bob.refresh_token}),
        )
        .await?;
    assert_eq!(refresh.status, 401, "{}", refresh.body);
    // A wrong password still says only that.
    let (status, _) = login(&api, "mod_bob", "wrong-password").await?;
    assert_eq!(status, 401);
    let self_off = api
        .post(
            &format!("/api/admin/users/{}/deactivate", ada.id),
            Some(&ada),
            &json!(null),
        )
        .await?;
    assert_eq!(self_off.status, 403);
    let back = api
        .post(&format!("{bob_path}/reactivate"), Some(&ada), &json!(null))
        .await?;
    assert_eq!(back.body["data"]["deactivated"], false, "{}", back.body);
    let (status, body) = login(&api, "mod_bob", "password123").await?;
    assert_eq!(status, 200, "{body}");

    // Deactivated from the command line while Cyd is connected: the running gateway hears it.
    let mut cyd_ws = WsClient::authed(gw.addr(), &cyd.access_token).await?;
    let (code, out, err) = admin_cli(&gw, &["deactivate", "mod_cyd"])?;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("mod_cyd is deactivated (1 sessions signed out)"),
        "{out}"
    );
    assert_eq!(cyd_ws.closed().await?.code, Some(4401));
    assert_eq!(api.get("/api/users/me", Some(&cyd)).await?.status, 401);
    assert_eq!(login(&api, "mod_cyd", "password123").await?.0, 403);
    let (code, out, _) = admin_cli(&gw, &["reactivate", "mod_cyd"])?;
    assert_eq!(code, 0);
    assert!(out.contains("may sign in again"), "{out}");
    assert_eq!(login(&api, "mod_cyd", "password123").await?.0, 200);

    // The trail: newest first, by actor and target, from where; the CLI's actor is null.
    let all = audit(&api, &ada, "").await?;
    let actions: Vec<&str> = all.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "user.reactivated",
            "user.deactivated",
            "user.reactivated",
            "user.deactivated",
            "admin.granted"
        ],
        "{all:?}"
    );
    for entry in &all {
        check_schema(&doc, "AuditEntry", entry).map_err(anyhow::Error::msg)?;
    }
    assert_eq!(all[0]["actorId"], Value::Null, "the command line");
    assert_eq!(all[1]["actorId"], Value::Null);
    assert_eq!(all[2]["actorId"], ada.id.as_str());
    assert_eq!(all[2]["targetUserId"], bob.id.as_str());
    assert_eq!(all[2]["clientIp"], "127.0.0.1");
    let by_ada = audit(&api, &ada, &format!("actor={}", ada.id)).await?;
    assert_eq!(by_ada.len(), 2);
    let on_cyd = audit(&api, &ada, &format!("target={}", cyd.id)).await?;
    assert_eq!(on_cyd.len(), 2);
    let granted = audit(&api, &ada, "action=admin.granted").await?;
    assert_eq!(granted.len(), 1);
    // Pages of one.
    let first = api.get("/api/admin/audit?limit=1", Some(&ada)).await?;
    assert_eq!(first.body["meta"]["hasMore"], true);
    let cursor = first.body["meta"]["cursor"].as_str().unwrap_or_default();
    let second = audit(&api, &ada, &format!("limit=1&cursor={cursor}")).await?;
    assert_eq!(second[0]["id"], all[1]["id"]);
    for bad in ["actor=nope", "cursor=x", "limit=0", "limit=101"] {
        let refused = api
            .get(&format!("/api/admin/audit?{bad}"), Some(&ada))
            .await?;
        assert_eq!(refused.status, 400, "{bad}: {}", refused.body);
    }
    Ok(())
}

#[tokio::test]
async fn a_reset_link_works_once_before_it_expires_and_ends_every_session() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let eve = api.register("rst_eve").await?;
    let mut eve_ws = WsClient::authed(gw.addr(), &eve.access_token).await?;
    let (code, out, err) = admin_cli(
        &gw,
        &[
            "reset-password",
            "rst_eve",
            "--url",
            "https://chat.example/",
        ],
    )?;
    assert_eq!(code, 0, "{out}{err}");
    let link = out.lines().next().unwrap_or_default();
    let token = link
        .strip_prefix("https://chat.example/reset-password#token=")
        .unwrap_or_else(|| panic!("a link: {out}"))
        .to_owned();
    // The password rule holds, and a token that is no link's is refused.
    for (body, field) in [
        (
            json!({"token": token, "newPassword": "short"}),
            "newPassword",
        ),
        (
            json!({"token": "rt_nope", "newPassword": "a-new-password"}),
            "token",
        ),
        (
            json!({"token": "x", "newPassword": "a-new-password"}),
            "token",
        ),
    ] {
        let refused = api.post("/api/auth/reset-password", None, &body).await?;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(
            refused.body["error"]["details"][field].is_array(),
            "{}",
            refused.body
        );
    }
    let reset = api
        .post(
            "/api/auth/reset-password",
            None,
            &json!({"token": token, "newPassword": "a-new-password"}),
        )
        .await?;
    assert_eq!(reset.status, 204, "{}", reset.body);
    assert_eq!(eve_ws.closed().await?.code, Some(4401));
    assert_eq!(api.get("/api/users/me", Some(&eve)).await?.status, 401);
    assert_eq!(login(&api, "rst_eve", "password123").await?.0, 401);
    assert_eq!(login(&api, "rst_eve", "a-new-password").await?.0, 200);
    let again = api
        .post(
            "/api/auth/reset-password",
            None,
            &json!({"token": token, "newPassword": "another-password"}),
        )
        .await?;
    assert_eq!(again.status, 400, "a link works once: {}", again.body);

    // An expired link, and a new link replacing an unused one.
    let (_, out, _) = admin_cli(&gw, &["reset-password", "rst_eve", "--valid", "1s"])?;
    let expired = out
        .split("#token=")
        .nth(1)
        .and_then(|t| t.lines().next())
        .unwrap_or_default()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let late = api
        .post(
            "/api/auth/reset-password",
            None,
            &json!({"token": expired, "newPassword": "another-password"}),
        )
        .await?;
    assert_eq!(late.status, 400, "{}", late.body);
    let (_, out, _) = admin_cli(&gw, &["reset-password", "rst_eve"])?;
    let older = out.split("#token=").nth(1).and_then(|t| t.lines().next());
    let (_, out, _) = admin_cli(&gw, &["reset-password", "rst_eve"])?;
    let newer = out.split("#token=").nth(1).and_then(|t| t.lines().next());
    let replaced = api
        .post(
            "/api/auth/reset-password",
            None,
            &json!({"token": older, "newPassword": "another-password"}),
        )
        .await?;
    assert_eq!(replaced.status, 400, "{}", replaced.body);
    let used = api
        .post(
            "/api/auth/reset-password",
            None,
            &json!({"token": newer, "newPassword": "another-password"}),
        )
        .await?;
    assert_eq!(used.status, 204, "{}", used.body);
    let (code, _, err) = admin_cli(&gw, &["reset-password", "rst_eve", "--valid", "30d"])?;
    assert_ne!(code, 0);
    assert!(err.contains("7 days"), "{err}");
    // Audited, and the link's token is in no audit detail.
    let client = gw.cluster.client().await?;
    let rows = client
        .query(
            "SELECT action, coalesce(details::text, '') FROM audit_log ORDER BY id",
            &[],
        )
        .await?;
    let actions: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "user.password_reset")
            .count(),
        2
    );
    assert!(rows.iter().all(|r| !r.get::<_, String>(1).contains("rt_")));
    Ok(())
}

#[tokio::test]
async fn members_report_messages_and_admins_act_on_the_reports() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc: Value = gw.get("/api/openapi.json").await?.body;
    let root = api.register("rep_root").await?;
    let ann = api.register("rep_ann").await?;
    let ben = api.register("rep_ben").await?;
    let out = api.register("rep_out").await?;
    admin_cli(&gw, &["grant", "rep_root"])?;
    let group = api.group(&ann, "Reported", &[&ben]).await?;
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let sent = ben_ws.sent(&group, "r1", "something awful").await?;
    let message = sent["id"].as_str().unwrap_or_default().to_owned();
    let report_path = format!("/api/messages/{message}/report");

    // A member reports; the same member again gets the same report; others get 404.
    let filed = api
        .post(&report_path, Some(&ann), &json!({"reason": "abuse"}))
        .await?;
    assert_eq!(filed.status, 201, "{}", filed.body);
    check_schema(&doc, "Report", &filed.body["data"]).map_err(anyhow::Error::msg)?;
    assert_eq!(filed.body["data"]["reportedUserId"], ben.id.as_str());
    assert_eq!(filed.body["data"]["status"], "open");
    let again = api
        .post(&report_path, Some(&ann), &json!({"reason": "still abuse"}))
        .await?;
    assert_eq!(again.body["data"]["id"], filed.body["data"]["id"]);
    for (who, path) in [
        (&out, report_path.clone()),
        (
            &ann,
            "/api/messages/msg_00000000000000000000000000000000/report".to_owned(),
        ),
    ] {
        let hidden = api.post(&path, Some(who), &json!({"reason": "x"})).await?;
        assert_eq!(hidden.status, 404, "{}", hidden.body);
    }
    for reason in [json!(""), json!("  "), json!("x".repeat(1001))] {
        let refused = api
            .post(&report_path, Some(&ben), &json!({ "reason": reason }))
            .await?;
        assert_eq!(refused.status, 400, "{}", refused.body);
    }
    let non_admin = api.get("/api/admin/reports", Some(&ann)).await?;
    assert_eq!(non_admin.status, 403);

    // The queue, then the admin deletes the message from it: members get `message:deleted`.
    let queue = api.get("/api/admin/reports", Some(&root)).await?;
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert_eq!(queue.body["data"].as_array().map(Vec::len), Some(1));
    let report_id = filed.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let resolve_path = format!("/api/admin/reports/{report_id}/resolve");
    let bad = api
        .post(&resolve_path, Some(&root), &json!({"action": "ban"}))
        .await?;
    assert_eq!(bad.status, 400);
    let resolved = api
        .post(
            &resolve_path,
            Some(&root),
            &json!({"action": "delete_message"}),
        )
        .await?;
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    check_schema(&doc, "Report", &resolved.body["data"]).map_err(anyhow::Error::msg)?;
    assert_eq!(resolved.body["data"]["resolution"], "message_deleted");
    assert_eq!(resolved.body["data"]["resolvedBy"], root.id.as_str());
    for ws in [&mut ann_ws, &mut ben_ws] {
        let deleted = ws
            .expect_where("message:deleted", |f| {
                f["data"]["message"]["id"] == message.as_str()
            })
            .await?;
        assert_eq!(deleted["data"]["message"]["content"], "");
    }
    let open = api.get("/api/admin/reports", Some(&root)).await?;
    assert_eq!(open.body["data"].as_array().map(Vec::len), Some(0));
    let every = api
        .get("/api/admin/reports?status=all", Some(&root))
        .await?;
    assert_eq!(every.body["data"].as_array().map(Vec::len), Some(1));
    // A deleted message can no longer be reported.
    let gone = api
        .post(&report_path, Some(&ben), &json!({"reason": "late"}))
        .await?;
    assert_eq!(gone.status, 404);

    // An admin deletes any message directly, though not a member; others may not.
    let second = ann_ws.sent(&group, "r2", "another one").await?;
    let second = second["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/api/admin/messages/{second}");
    assert_eq!(api.delete(&path, Some(&ben)).await?.status, 403);
    let deleted = api.delete(&path, Some(&root)).await?;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    check_schema(&doc, "Message", &deleted.body["data"]).map_err(anyhow::Error::msg)?;
    assert!(deleted.body["data"]["deletedAt"].is_string());
    ben_ws
        .expect_where("message:deleted", |f| {
            f["data"]["message"]["id"] == second.as_str()
        })
        .await?;
    let missing = api
        .delete(
            "/api/admin/messages/msg_00000000000000000000000000000000",
            Some(&root),
        )
        .await?;
    assert_eq!(missing.status, 404);
    let history = api
        .get(&format!("/api/conversations/{group}/messages"), Some(&ann))
        .await?;
    let contents: Vec<&str> = history.body["data"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["content"].as_str()).collect())
        .unwrap_or_default();
    assert!(contents.iter().all(|c| c.is_empty()), "{contents:?}");

    let trail = audit(&api, &root, &format!("target={}", ben.id)).await?;
    let actions: Vec<&str> = trail.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        ["report.resolved", "message.deleted_by_admin"],
        "{trail:?}"
    );
    assert_eq!(trail[0]["details"]["resolution"], "message_deleted");
    assert_eq!(trail[1]["messageId"], message.as_str());
    Ok(())
}

/// Regression (found by the authorisation model): the open-report cap was checked before the
/// message, so a reporter at the cap got 429 for a message they cannot see (not the 404 of any
/// such id) and for a message they had reported already (not that first report).
#[tokio::test]
async fn the_open_report_cap_comes_after_the_message_and_a_repeat() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let ann = api.register("cap_ann").await?;
    let ben = api.register("cap_ben").await?;
    let eve = api.register("cap_eve").await?;
    let dm = api.dm(&ann, &ben).await?;
    let hidden = api.dm(&ben, &eve).await?;
    let db = gw.cluster.client().await?;
    seed_messages(&db, &dm, &ben.id, 101).await?;
    seed_messages(&db, &hidden, &ben.id, 1).await?;
    let first = |conv: &str, after: i64| {
        format!("/api/conversations/{conv}/messages?after={after}&limit=1")
    };
    let id_at = |page: &Value| {
        page["data"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    // Ann has 100 open reports (the cap), of the DM's first 100 messages.
    let reported = id_at(&api.get(&first(&dm, 0), Some(&ann)).await?.body);
    let filed = api
        .post(
            &format!("/api/messages/{reported}/report"),
            Some(&ann),
            &json!({"reason": "r"}),
        )
        .await?;
    assert_eq!(filed.status, 201, "{}", filed.body);
    db.execute(
        "INSERT INTO message_reports (id, message_id, conversation_id, reported_user, reporter_id, reason)
         SELECT gen_random_uuid(), id, conversation_id, sender_id, $2::text::uuid, 'seeded'
         FROM messages WHERE conversation_id = $1::text::uuid AND seq BETWEEN 2 AND 100",
        &[&uuid_of(&dm), &uuid_of(&ann.id)],
    )
    .await?;

    let report = |id: String| {
        let ann = &ann;
        async move {
            api.post(
                &format!("/api/messages/{id}/report"),
                Some(ann),
                &json!({"reason": "r"}),
            )
            .await
        }
    };
    let fresh = id_at(&api.get(&first(&dm, 100), Some(&ann)).await?.body);
    let capped = report(fresh).await?;
    assert_eq!(capped.status, 429, "{}", capped.body);
    assert_eq!(capped.body["error"]["code"], "RATE_LIMITED");
    let repeat = report(reported).await?;
    assert_eq!(repeat.status, 201, "{}", repeat.body);
    assert_eq!(repeat.body["data"]["id"], filed.body["data"]["id"]);
    let unseen = id_at(&api.get(&first(&hidden, 0), Some(&ben)).await?.body);
    let refused = report(unseen).await?;
    assert_eq!(refused.status, 404, "{}", refused.body);
    Ok(())
}
