//! Rate limits and request bounds: X-RateLimit-* headers, 429 with Retry-After and retryAfter,
//! per-IP sign-up, per-username login, per-user history, `limits.enabled = false`, body caps.

use parley_testkit::{TestGateway, http};
use serde_json::json;

fn rate(value: &str) -> parley_shared::Rate {
    value.parse().expect("a valid rate")
}

#[tokio::test]
async fn signups_per_ip_are_limited_with_headers_and_retry_hints() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.limits.register = rate("3/1h")).await?;
    let api = gw.api();
    let mut remaining = Vec::new();
    for n in 0..3 {
        let response = api
            .post(
                "/api/auth/register",
                None,
                &json!({"username": format!("rl_user{n}"), "password": "password123"}),
            )
            .await?;
        assert_eq!(response.status, 201);
        assert_eq!(response.headers["x-ratelimit-limit"], "3");
        remaining.push(
            response.headers["x-ratelimit-remaining"]
                .to_str()?
                .to_owned(),
        );
        let reset: i64 = response.headers["x-ratelimit-reset"].to_str()?.parse()?;
        assert!(reset > time::OffsetDateTime::now_utc().unix_timestamp());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let refused = api
        .post(
            "/api/auth/register",
            None,
            &json!({"username": "rl_user9", "password": "password123"}),
        )
        .await?;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.body["error"]["code"], "RATE_LIMITED");
    assert_eq!(refused.body["error"]["retryable"], true);
    let retry_after: u64 = refused.headers["retry-after"].to_str()?.parse()?;
    assert_eq!(refused.body["error"]["retryAfter"], retry_after);
    assert!(
        (1..=1200).contains(&retry_after),
        "one sign-up comes back after 20 minutes: {retry_after}"
    );
    assert_eq!(refused.headers["x-ratelimit-remaining"], "0");
    Ok(())
}

#[tokio::test]
async fn logins_are_limited_per_username() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.limits.login = rate("5/15m")).await?;
    let api = gw.api();
    api.register("target").await?;
    api.register("bystander").await?;
    // Only 5 attempts from this IP in all; spend 4 on the target with wrong passwords.
    for _ in 0..4 {
        let wrong = api
            .post(
                "/api/auth/login",
                None,
                &json!({"username": "target", "password": "wrongwrong"}),
            )
            .await?;
        assert_eq!(wrong.status, 401);
    }
    let fifth = api
        .post(
            "/api/auth/login",
            None,
            &json!({"username": "target", "password": "password123"}),
        )
        .await?;
    assert_eq!(fifth.status, 200, "the fifth attempt is still allowed");
    let sixth = api
        .post(
            "/api/auth/login",
            None,
            &json!({"username": "target", "password": "password123"}),
        )
        .await?;
    assert_eq!(
        sixth.status, 429,
        "even the right password waits once the limit is spent"
    );
    assert!(sixth.headers.contains_key("retry-after"));
    Ok(())
}

#[tokio::test]
async fn history_is_limited_per_user_and_every_api_answer_reports_its_limit() -> anyhow::Result<()>
{
    let gw = TestGateway::start_with(|c| c.limits.history = rate("2/1m")).await?;
    let api = gw.api();
    let (a, b) = (api.register("hl_a").await?, api.register("hl_b").await?);
    let conv = api.dm(&a, &b).await?;
    let path = format!("/api/conversations/{conv}/messages");
    assert_eq!(api.get(&path, Some(&a)).await?.status, 200);
    assert_eq!(api.get(&path, Some(&a)).await?.status, 200);
    let refused = api.get(&path, Some(&a)).await?;
    assert_eq!(refused.status, 429);
    assert!(
        refused.body["error"]["retryAfter"]
            .as_u64()
            .is_some_and(|s| (1..=30).contains(&s))
    );
    assert_eq!(
        api.get(&path, Some(&b)).await?.status,
        200,
        "b has an allowance of their own"
    );
    for path in ["/api/users/me", "/api/conversations", "/api/openapi.json"] {
        let response = api.get(path, Some(&a)).await?;
        for header in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ] {
            assert!(
                response.headers.contains_key(header),
                "{path} lacks {header}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn limits_can_be_turned_off() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        c.limits.enabled = false;
        c.limits.register = rate("1/1h");
    })
    .await?;
    let api = gw.api();
    for n in 0..3 {
        let response = api
            .post(
                "/api/auth/register",
                None,
                &json!({"username": format!("free{n}"), "password": "password123"}),
            )
            .await?;
        assert_eq!(response.status, 201);
        assert!(!response.headers.contains_key("x-ratelimit-limit"));
    }
    Ok(())
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_parsing() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.server.max_body_bytes = 1024).await?;
    let big = json!({"username": "big", "password": "x".repeat(2000)});
    let response = http::request(
        gw.addr(),
        hyper::Method::POST,
        "/api/auth/register",
        &[],
        Some(&big),
    )
    .await?;
    assert_eq!(response.status, 413);
    assert_eq!(response.body["error"]["code"], "PAYLOAD_TOO_LARGE");
    Ok(())
}
