//! Accounts over REST with a real HTTP client and PostgreSQL: sign-up, login, refresh rotation
//! with reuse detection, logout, token checks, profiles and search.

use parley_testkit::api::check_schema;
use parley_testkit::{TestGateway, http};
use serde_json::{Value, json};

async fn openapi(gw: &TestGateway) -> anyhow::Result<Value> {
    Ok(gw.get("/api/openapi.json").await?.body)
}

/// The usernames of a `GET /api/users` page, in order.
fn usernames(body: &serde_json::Value) -> Vec<&str> {
    body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["username"].as_str())
        .collect()
}

#[tokio::test]
async fn register_then_me_and_validation_names_fields() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc = openapi(&gw).await?;
    let created = api
        .post("/api/auth/register", None, &json!({"username": "alice", "password": "password123", "displayName": "Alice A", "email": "alice@example.com"}))
        .await?;
    assert_eq!(created.status, 201, "{}", created.body);
    check_schema(&doc, "AuthResponse", &created.body["data"]).map_err(anyhow::Error::msg)?;
    assert_eq!(created.body["data"]["user"]["displayName"], "Alice A");
    assert_eq!(created.body["data"]["expiresIn"], 900);
    let token = created.body["data"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let me = api.get_with_token("/api/users/me", &token).await?;
    assert_eq!(me.status, 200);
    check_schema(&doc, "Me", &me.body["data"]).map_err(anyhow::Error::msg)?;
    assert_eq!(me.body["data"]["email"], "alice@example.com");
    assert!(
        me.body["data"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("usr_"))
    );
    assert!(
        me.body["data"]["createdAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 24)
    );

    let again = api
        .post(
            "/api/auth/register",
            None,
            &json!({"username": "alice", "password": "password456"}),
        )
        .await?;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["error"]["code"], "CONFLICT");

    let cases = [
        (
            json!({"username": "al", "password": "password123"}),
            "username",
        ),
        (
            json!({"username": "Alice", "password": "password123"}),
            "username",
        ),
        (json!({"username": "bob", "password": "short"}), "password"),
        (json!({"username": "bob"}), "password"),
        (json!({"password": "password123"}), "username"),
        (
            json!({"username": "bob", "password": "password123", "admin": true}),
            "admin",
        ),
        (
            json!({"username": "bob", "password": "password123", "email": "nope"}),
            "email",
        ),
        (
            json!({"username": "bob", "password": "password123", "displayName": ""}),
            "displayName",
        ),
        (
            json!({"username": 5, "password": "password123"}),
            "username",
        ),
        (json!(["bob"]), "body"),
    ];
    for (body, field) in cases {
        let response = api.post("/api/auth/register", None, &body).await?;
        assert_eq!(response.status, 400, "{body}: {}", response.body);
        check_schema(&doc, "Error", &response.body).map_err(anyhow::Error::msg)?;
        assert_eq!(response.body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(response.body["error"]["retryable"], false);
        assert!(
            response.body["error"]["details"][field].is_array(),
            "{body} should name {field}: {}",
            response.body
        );
    }
    let garbage = http::request(
        gw.addr(),
        hyper::Method::POST,
        "/api/auth/register",
        &[],
        None,
    )
    .await?;
    assert_eq!(garbage.status, 400);
    Ok(())
}

#[tokio::test]
async fn login_failures_look_the_same() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    api.register("carol").await?;
    let ok = api
        .post(
            "/api/auth/login",
            None,
            &json!({"username": "carol", "password": "password123"}),
        )
        .await?;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["data"]["user"]["username"], "carol");
    let wrong = api
        .post(
            "/api/auth/login",
            None,
            &json!({"username": "carol", "password": "password124"}),
        )
        .await?;
    let unknown = api
        .post(
            "/api/auth/login",
            None,
            &json!({"username": "nobody", "password": "password123"}),
        )
        .await?;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(
        wrong.raw, unknown.raw,
        "unknown user and wrong password must be indistinguishable"
    );
    assert_eq!(wrong.body["error"]["code"], "UNAUTHORIZED");
    Ok(())
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() -> anyhow::Result<()> {
    // No grace: any second use of a rotated token is reuse (api_sessions tests the grace).
    let gw = TestGateway::start_with(|c| c.auth.refresh_grace = std::time::Duration::ZERO).await?;
    let api = gw.api();
    let dave = api.register("dave").await?;
    let first = api
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refreshToken": dave.refresh_token}),
        )
        .await?;
    assert_eq!(first.status, 200, "{}", first.body);
    let second_refresh = first.body["data"]["refreshToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let new_access = first.body["data"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(second_refresh, dave.refresh_token);
    let me = api.get_with_token("/api/users/me", &new_access).await?;
    assert_eq!(me.status, 200);

    // Replaying the rotated token is theft: refused, and the whole family dies with it.
    let replay = api
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refreshToken": dave.refresh_token}),
        )
        .await?;
    assert_eq!(replay.status, 401);
    let after = api
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refreshToken": second_refresh}),
        )
        .await?;
    assert_eq!(
        after.status, 401,
        "the newest token of a revoked family must fail too"
    );

    // Another login is a separate family and still works.
    let other = api
        .post(
            "/api/auth/login",
            None,
            &json!({"username": "dave", "password": "password123"}),
        )
        .await?;
    let token = other.body["data"]["refreshToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        api.post("/api/auth/refresh", None, &json!({"refreshToken": token}))
            .await?
            .status,
        200
    );

    for bad in ["", "rt_nope", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
        let response = api
            .post("/api/auth/refresh", None, &json!({"refreshToken": bad}))
            .await?;
        assert_eq!(response.status, 401, "{bad}");
    }
    Ok(())
}

#[tokio::test]
async fn logout_revokes_the_session() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let erin = api.register("erin").await?;
    let out = api
        .post(
            "/api/auth/logout",
            None,
            &json!({"refreshToken": erin.refresh_token}),
        )
        .await?;
    assert_eq!(out.status, 204);
    assert!(out.raw.is_empty());
    let refresh = api
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refreshToken": erin.refresh_token}),
        )
        .await?;
    assert_eq!(refresh.status, 401);
    // Logging out twice, or with a token that never existed, says nothing either way.
    assert_eq!(
        api.post(
            "/api/auth/logout",
            None,
            &json!({"refreshToken": erin.refresh_token})
        )
        .await?
        .status,
        204
    );
    assert_eq!(
        api.post("/api/auth/logout", None, &json!({"refreshToken": "rt_x"}))
            .await?
            .status,
        204
    );
    Ok(())
}

#[tokio::test]
async fn protected_routes_need_a_valid_access_token() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let frank = api.register("frank").await?;
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("authorization", "Bearer".to_owned())],
        vec![("authorization", "Bearer garbage".to_owned())],
        vec![("authorization", format!("Basic {}", frank.access_token))],
        vec![("authorization", format!("Bearer {}", frank.refresh_token))],
        vec![("authorization", format!("Bearer {}x", frank.access_token))],
    ];
    for headers in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = http::request(
            gw.addr(),
            hyper::Method::GET,
            "/api/users/me",
            &headers,
            None,
        )
        .await?;
        assert_eq!(response.status, 401, "{headers:?}");
        assert_eq!(response.body["error"]["code"], "UNAUTHORIZED");
        assert_eq!(response.headers["www-authenticate"], "Bearer");
    }
    Ok(())
}

#[tokio::test]
async fn profiles_and_prefix_search() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc = openapi(&gw).await?;
    let gina = api.register("gina").await?;
    api.post(
        "/api/auth/register",
        None,
        &json!({"username": "al_one", "password": "password123", "displayName": "Zed"}),
    )
    .await?;
    api.post(
        "/api/auth/register",
        None,
        &json!({"username": "alx", "password": "password123"}),
    )
    .await?;
    api.post(
        "/api/auth/register",
        None,
        &json!({"username": "zoe", "password": "password123", "displayName": "Alma"}),
    )
    .await?;
    api.post(
        "/api/auth/register",
        None,
        &json!({"username": "walt", "password": "password123"}),
    )
    .await?;

    let profile = api
        .get(&format!("/api/users/{}", gina.id), Some(&gina))
        .await?;
    assert_eq!(profile.status, 200);
    check_schema(&doc, "User", &profile.body["data"]).map_err(anyhow::Error::msg)?;
    assert!(
        profile.body["data"].get("email").is_none(),
        "another user's email is private"
    );
    for path in [
        "/api/users/usr_00000000000000000000000000000000",
        "/api/users/garbage",
    ] {
        assert_eq!(api.get(path, Some(&gina)).await?.status, 404, "{path}");
    }

    let found = api.get("/api/users?query=al", Some(&gina)).await?;
    assert_eq!(found.status, 200);
    let names = usernames(&found.body);
    assert_eq!(
        names,
        ["al_one", "alx", "zoe", "walt"],
        "any part of a username or display name: prefixes first, then by username"
    );
    for (query, expected) in [
        ("lm", vec!["zoe"]),
        ("_on", vec!["al_one"]),
        ("LT", vec!["walt"]),
    ] {
        let found = api
            .get(&format!("/api/users?query={query}"), Some(&gina))
            .await?;
        let names = usernames(&found.body);
        assert_eq!(names, expected, "{query}");
    }
    let literal = api.get("/api/users?query=al_", Some(&gina)).await?;
    let names = usernames(&literal.body);
    assert_eq!(names, ["al_one"], "_ matches itself, not any character");
    let limited = api.get("/api/users?query=al&limit=1", Some(&gina)).await?;
    assert_eq!(limited.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(limited.body["meta"]["hasMore"], true);
    for bad in [
        "/api/users",
        "/api/users?query=",
        "/api/users?query=al&limit=51",
        "/api/users?query=al&limit=x",
    ] {
        let response = api.get(bad, Some(&gina)).await?;
        assert_eq!(response.status, 400, "{bad}");
    }
    Ok(())
}
