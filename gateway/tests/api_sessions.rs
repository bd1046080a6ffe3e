//! Sessions that end when they should: logout, log out everywhere, signing one device out,
//! password change and refresh-token reuse refuse the old access token at once on REST, on new
//! WebSocket handshakes and on in-band re-auth (and after a restart); concurrent refreshes of one
//! token both succeed within the grace.

use std::time::Duration;

use parley_testkit::api::check_schema;
use parley_testkit::ws::WsClient;
use parley_testkit::{TestGateway, TestUser, http};
use serde_json::{Value, json};

/// `GET /api/users/me` with a raw access token: the status.
async fn me_status(gw: &TestGateway, access: &str) -> anyhow::Result<u16> {
    let response = gw.api().get_with_token("/api/users/me", access).await?;
    Ok(response.status.as_u16())
}

/// Logs `username` in with `user_agent`; returns (access, refresh).
async fn login(
    gw: &TestGateway,
    username: &str,
    password: &str,
    user_agent: &str,
) -> anyhow::Result<(String, String)> {
    let response = http::request(
        gw.addr(),
        hyper::Method::POST,
        "/api/auth/login",
        &[("user-agent", user_agent)],
        Some(&json!({"username": username, "password": password})),
    )
    .await?;
    anyhow::ensure!(response.status == 200, "login: {}", response.body);
    let data = &response.body["data"];
    Ok((
        data["accessToken"].as_str().unwrap_or_default().to_owned(),
        data["refreshToken"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// A user acting with another session's access token.
fn with_access(user: &TestUser, access: &str) -> TestUser {
    TestUser {
        access_token: access.to_owned(),
        ..user.clone()
    }
}

/// Whether a WebSocket handshake with `token` is accepted.
async fn handshake_ok(gw: &TestGateway, token: &str) -> bool {
    WsClient::authed(gw.addr(), token).await.is_ok()
}

#[tokio::test]
async fn logout_refuses_the_old_access_token_at_once_everywhere() -> anyhow::Result<()> {
    let mut gw = TestGateway::start().await?;
    let api = gw.api();
    let user = api.register("gone_soon").await?;
    let (laptop, _) = login(&gw, "gone_soon", "password123", "laptop").await?;
    let mut other_socket = WsClient::authed(gw.addr(), &laptop).await?;
    assert_eq!(me_status(&gw, &user.access_token).await?, 200);

    let out = api
        .post(
            "/api/auth/logout",
            None,
            &json!({"refreshToken": user.refresh_token}),
        )
        .await?;
    assert_eq!(out.status, 204);
    // At once: no wait for the 15-minute token to expire.
    assert_eq!(me_status(&gw, &user.access_token).await?, 401, "REST");
    assert!(!handshake_ok(&gw, &user.access_token).await, "new socket");
    let reauth = other_socket
        .ask("auth", "again", json!({"token": user.access_token}))
        .await?;
    assert_eq!(reauth["event"], "auth:error", "in-band re-auth: {reauth}");
    assert_eq!(other_socket.closed().await?.code, Some(4401));
    assert_eq!(
        me_status(&gw, &laptop).await?,
        200,
        "the other login lives on"
    );

    // The revocation survives a restart (rebuilt from the database).
    gw.restart().await?;
    assert_eq!(
        me_status(&gw, &user.access_token).await?,
        401,
        "after restart"
    );
    assert!(!handshake_ok(&gw, &user.access_token).await);
    assert_eq!(me_status(&gw, &laptop).await?, 200);
    Ok(())
}

#[tokio::test]
async fn password_change_ends_every_other_session() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let user = api.register("changer").await?;
    let (phone, phone_refresh) = login(&gw, "changer", "password123", "phone").await?;
    let mut phone_socket = WsClient::authed(gw.addr(), &phone).await?;
    let path = "/api/auth/password";

    let wrong = api
        .post(
            path,
            Some(&user),
            &json!({"currentPassword": "nope-nope", "newPassword": "brand-new-pw"}),
        )
        .await?;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(wrong.body["error"]["details"]["currentPassword"].is_array());
    let short = api
        .post(
            path,
            Some(&user),
            &json!({"currentPassword": "password123", "newPassword": "short"}),
        )
        .await?;
    assert!(
        short.body["error"]["details"]["newPassword"].is_array(),
        "{}",
        short.body
    );
    assert_eq!(me_status(&gw, &phone).await?, 200, "nothing changed yet");

    let changed = api
        .post(
            path,
            Some(&user),
            &json!({"currentPassword": "password123", "newPassword": "brand-new-pw"}),
        )
        .await?;
    assert_eq!(changed.status, 204, "{}", changed.body);
    assert_eq!(
        me_status(&gw, &phone).await?,
        401,
        "the phone's token is refused at once"
    );
    assert_eq!(
        phone_socket.closed().await?.code,
        Some(4401),
        "and its socket closed"
    );
    let refresh = api
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refreshToken": phone_refresh}),
        )
        .await?;
    assert_eq!(refresh.status, 401);
    assert_eq!(
        me_status(&gw, &user.access_token).await?,
        200,
        "the changing session stays"
    );
    assert!(
        login(&gw, "changer", "password123", "x").await.is_err(),
        "old password"
    );
    login(&gw, "changer", "brand-new-pw", "x").await?;
    Ok(())
}

#[tokio::test]
async fn sessions_are_listed_and_can_be_signed_out() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc = api.get("/api/openapi.json", None).await?.body;
    let user = api.register("many_devices").await?;
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
    let (desktop, _) = login(&gw, "many_devices", "password123", chrome).await?;
    let (phone, _) = login(&gw, "many_devices", "password123", iphone).await?;
    let desktop_user = with_access(&user, &desktop);

    let listed = api.get("/api/auth/sessions", Some(&desktop_user)).await?;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let sessions: Vec<Value> = listed.body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    for session in &sessions {
        check_schema(&doc, "Session", session).map_err(anyhow::Error::msg)?;
    }
    let devices: Vec<&str> = sessions
        .iter()
        .filter_map(|s| s["device"].as_str())
        .collect();
    assert!(
        devices.contains(&"Chrome on Linux") && devices.contains(&"Safari on iPhone"),
        "{devices:?}"
    );
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device"], "Chrome on Linux");
    let phone_id = sessions
        .iter()
        .find(|s| s["device"] == "Safari on iPhone")
        .and_then(|s| s["id"].as_str())
        .unwrap_or_default()
        .to_owned();

    // Another user cannot see or end these.
    let stranger = api.register("stranger_s").await?;
    let theirs = api
        .delete(&format!("/api/auth/sessions/{phone_id}"), Some(&stranger))
        .await?;
    assert_eq!(theirs.status, 404);
    assert_eq!(me_status(&gw, &phone).await?, 200);

    let signed_out = api
        .delete(
            &format!("/api/auth/sessions/{phone_id}"),
            Some(&desktop_user),
        )
        .await?;
    assert_eq!(signed_out.status, 204);
    assert_eq!(
        me_status(&gw, &phone).await?,
        401,
        "the phone is signed out at once"
    );
    let again = api
        .delete(
            &format!("/api/auth/sessions/{phone_id}"),
            Some(&desktop_user),
        )
        .await?;
    assert_eq!(again.status, 404, "already ended");

    // Everywhere else, then everywhere.
    let others = api
        .delete("/api/auth/sessions?keepCurrent=true", Some(&desktop_user))
        .await?;
    assert_eq!(others.status, 204);
    assert_eq!(me_status(&gw, &user.access_token).await?, 401);
    assert_eq!(me_status(&gw, &desktop).await?, 200);
    let all = api
        .delete("/api/auth/sessions", Some(&desktop_user))
        .await?;
    assert_eq!(all.status, 204);
    assert_eq!(
        me_status(&gw, &desktop).await?,
        401,
        "log out everywhere includes this one"
    );
    Ok(())
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_both_succeed() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.auth.refresh_grace = Duration::from_secs(2)).await?;
    let api = gw.api();
    let user = api.register("two_tabs").await?;
    let body = json!({"refreshToken": user.refresh_token});
    let (a, b) = tokio::join!(
        api.post("/api/auth/refresh", None, &body),
        api.post("/api/auth/refresh", None, &body)
    );
    let (a, b) = (a?, b?);
    assert_eq!(
        (a.status.as_u16(), b.status.as_u16()),
        (200, 200),
        "{} {}",
        a.body,
        b.body
    );
    for answer in [&a, &b] {
        let access = answer.body["data"]["accessToken"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(me_status(&gw, access).await?, 200, "the session lives on");
        let next = answer.body["data"]["refreshToken"]
            .as_str()
            .unwrap_or_default();
        let refreshed = api
            .post("/api/auth/refresh", None, &json!({"refreshToken": next}))
            .await?;
        assert_eq!(refreshed.status, 200, "each tab keeps refreshing");
    }
    // After the grace, presenting the first token again is reuse: the session is revoked.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let replay = api.post("/api/auth/refresh", None, &body).await?;
    assert_eq!(replay.status, 401);
    let access = a.body["data"]["accessToken"].as_str().unwrap_or_default();
    assert_eq!(
        me_status(&gw, access).await?,
        401,
        "reuse revoked the session at once"
    );
    Ok(())
}
