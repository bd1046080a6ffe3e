//! Limits an attacker runs into: every WebSocket event draws from a limit, NUL never reaches the
//! database (nor slows anyone else's batch), a full limiter still admits new clients, and failed
//! logins elsewhere cannot lock the owner out.

use std::net::{IpAddr, Ipv4Addr};

use parley_testkit::ws::WsClient;
use parley_testkit::{TestGateway, http};
use serde_json::{Value, json};

fn rate(value: &str) -> parley_shared::Rate {
    value.parse().expect("a valid rate")
}

fn code(frame: &Value) -> &str {
    frame["data"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn every_websocket_event_draws_from_a_limit() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        c.limits.ws_events = rate("6/1m");
        // Opening the DM below takes one of these.
        c.limits.api = rate("4/1m");
    })
    .await?;
    let api = gw.api();
    let (ann, ben) = (
        api.register("lim_ann").await?,
        api.register("lim_ben").await?,
    );
    let conv = api.dm(&ann, &ben).await?;
    let mut ws = WsClient::authed(gw.addr(), &ann.access_token).await?;

    // Subscriptions and presence queries: 6 in all, then RATE_LIMITED with a retry hint.
    for n in 0..3 {
        let answer = ws
            .ask(
                "subscribe",
                &format!("s{n}"),
                json!({"conversationId": conv}),
            )
            .await?;
        assert_eq!(answer["event"], "subscribed", "{answer}");
    }
    for n in 0..3 {
        let answer = ws
            .ask(
                "presence:subscribe",
                &format!("p{n}"),
                json!({"userIds": [ben.id]}),
            )
            .await?;
        assert_eq!(answer["event"], "presence:subscribed", "{answer}");
    }
    for (event, data) in [
        ("subscribe", json!({"conversationId": conv})),
        ("presence:subscribe", json!({"userIds": [ben.id]})),
        ("receipt:read", json!({"conversationId": conv, "seq": 1})),
        ("presence:set", json!({"status": "away"})),
        ("ping", json!({})),
    ] {
        let answer = ws.ask(event, "over", data).await?;
        assert_eq!(answer["event"], "error", "{event}: {answer}");
        assert_eq!(code(&answer), "RATE_LIMITED", "{event}");
        assert!(
            answer["data"]["retryAfter"]
                .as_u64()
                .is_some_and(|s| s >= 1),
            "{answer}"
        );
    }
    // Typing past the budget is dropped without a word; heartbeats are never refused.
    ws.send(&json!({"event": "typing:start", "data": {"conversationId": conv}}))
        .await?;
    ws.send(&json!({"event": "presence:heartbeat"})).await?;
    assert!(
        ws.quiet_for(std::time::Duration::from_millis(500)).await?,
        "{:?}",
        ws.backlog()
    );

    // Changes share the REST API's per-user allowance (3 left here): a fresh socket does not help.
    let mut other = WsClient::authed(gw.addr(), &ann.access_token).await?;
    other.send_message("m", &conv, "c1", "react to me").await?;
    let sent = other.expect("message:sent").await?;
    let message = sent["data"]["message"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut answers = Vec::new();
    for (n, emoji) in ["👍", "🎉", "😀", "🚀"].iter().enumerate() {
        let answer = other
            .ask(
                "message:react",
                &format!("r{n}"),
                json!({"messageId": message, "emoji": emoji}),
            )
            .await?;
        answers.push(answer["event"].as_str().unwrap_or_default().to_owned());
        if n == 3 {
            assert_eq!(code(&answer), "RATE_LIMITED", "{answer}");
        }
    }
    assert_eq!(
        answers,
        [
            "message:reacted",
            "message:reacted",
            "message:reacted",
            "error"
        ]
    );
    assert_eq!(
        gw.metric("parley_ws_rate_limited_total").await?,
        Some(7.0),
        "5 refused + 1 typing dropped + 1 change"
    );
    Ok(())
}

#[tokio::test]
async fn nul_is_refused_everywhere_and_never_slows_other_batches() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.limits.send = rate("100000/1m")).await?;
    let api = gw.api();
    let (ann, ben) = (
        api.register("nul_ann").await?,
        api.register("nul_ben").await?,
    );
    let conv = api.dm(&ann, &ben).await?;

    // REST: bodies and query strings, whatever the field.
    let send = api
        .post(
            &format!("/api/conversations/{conv}/messages"),
            Some(&ann),
            &json!({"clientMessageId": "n1", "content": "a\u{0}b"}),
        )
        .await?;
    assert_eq!(send.status, 400, "{}", send.body);
    assert_eq!(send.body["error"]["code"], "VALIDATION_ERROR");
    assert!(
        send.body["error"]["details"]["content"].is_array(),
        "{}",
        send.body
    );
    for path in [
        "/api/search/messages?q=a%00b",
        "/api/users?query=a%00",
        "/api/conversations?cursor=%00",
    ] {
        let response = api.get(path, Some(&ann)).await?;
        assert_eq!(response.status, 400, "{path}: {}", response.body);
        assert_eq!(response.body["error"]["code"], "VALIDATION_ERROR", "{path}");
    }
    for (path, body) in [
        (
            "/api/auth/login",
            json!({"username": "nul_ann\u{0}", "password": "password123"}),
        ),
        (
            "/api/auth/register",
            json!({"username": "nul_cat", "password": "password123", "displayName": "C\u{0}"}),
        ),
    ] {
        let response = api.post(path, None, &body).await?;
        assert_eq!(response.status, 400, "{path}: {}", response.body);
    }

    // WebSocket: a NUL send is refused at validation while another user's sends commit in
    // batches as usual (before, each NUL row broke its batch and forced one-by-one commits).
    let mut bad = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let mut good = WsClient::authed(gw.addr(), &ann.access_token).await?;
    for n in 0..20 {
        bad.send_message(&format!("b{n}"), &conv, &format!("bad{n}"), "x\u{0}y")
            .await?;
    }
    for n in 0..100 {
        good.send_message(&format!("g{n}"), &conv, &format!("good{n}"), "fine")
            .await?;
    }
    for n in 0..20 {
        let answer = bad
            .expect_where("message:error", |f| f["id"] == format!("b{n}"))
            .await?;
        assert_eq!(code(&answer), "VALIDATION_ERROR");
    }
    for n in 0..100 {
        good.expect_where("message:sent", |f| f["id"] == format!("g{n}"))
            .await?;
    }
    assert_eq!(
        gw.metric("parley_persister_failed_attempts_total").await?,
        Some(0.0),
        "no batch failed"
    );
    let page = api
        .get(
            &format!("/api/conversations/{conv}/messages?limit=100"),
            Some(&ann),
        )
        .await?;
    assert_eq!(page.body["data"].as_array().map(Vec::len), Some(100));
    Ok(())
}

#[tokio::test]
async fn a_full_limiter_still_admits_new_clients() -> anyhow::Result<()> {
    // Room for 16 keys per limiter; 40 addresses each sign up once.
    let gw = TestGateway::start_with(|c| {
        c.limits.max_keys = 16;
        c.limits.register = rate("1/1h");
    })
    .await?;
    for n in 1..=40u8 {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 3, n));
        let body = json!({"username": format!("full_{n}"), "password": "password123"});
        let response = http::request_from(
            source,
            gw.addr(),
            hyper::Method::POST,
            "/api/auth/register",
            &[],
            Some(&body),
        )
        .await?;
        assert_eq!(response.status, 201, "client {n}: {}", response.body);
    }
    Ok(())
}

/// `POST /api/auth/login` from `source`.
async fn login_from(
    gw: &TestGateway,
    source: IpAddr,
    username: &str,
    password: &str,
) -> anyhow::Result<u16> {
    let body = json!({"username": username, "password": password});
    let response = http::request_from(
        source,
        gw.addr(),
        hyper::Method::POST,
        "/api/auth/login",
        &[],
        Some(&body),
    )
    .await?;
    Ok(response.status.as_u16())
}

#[tokio::test]
async fn failed_logins_elsewhere_never_lock_the_owner_out() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        c.limits.login_failures = rate("5/15m");
        c.limits.login_account_failures = rate("12/1h");
    })
    .await?;
    gw.api().register("owner").await?;
    let owner = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 4, 1));
    for _ in 0..5 {
        assert_eq!(
            login_from(&gw, attacker, "owner", "guess-guess").await?,
            401
        );
    }
    assert_eq!(
        login_from(&gw, attacker, "owner", "guess-guess").await?,
        429,
        "the guesser is stopped for this account"
    );
    assert_eq!(
        login_from(&gw, attacker, "owner", "password123").await?,
        429,
        "even with the right password, from the client that failed"
    );
    assert_eq!(
        login_from(&gw, owner, "owner", "password123").await?,
        200,
        "the owner, elsewhere, logs in"
    );
    // More guessers spend the account's backstop (12 failures in all)...
    for n in 2..=3u8 {
        let guesser = IpAddr::V4(Ipv4Addr::new(127, 0, 4, n));
        for _ in 0..5 {
            login_from(&gw, guesser, "owner", "guess-guess").await?;
        }
    }
    // ...after which a client that has failed for the account is refused at once, but one that
    // never failed (the owner) still gets in with the right password.
    let clumsy = IpAddr::V4(Ipv4Addr::new(127, 0, 4, 9));
    assert_eq!(login_from(&gw, clumsy, "owner", "typo-typo").await?, 401);
    assert_eq!(login_from(&gw, clumsy, "owner", "password123").await?, 429);
    assert_eq!(login_from(&gw, owner, "owner", "password123").await?, 200);
    Ok(())
}
