//! WebSocket messaging end to end with real clients and PostgreSQL: ack after commit, fan-out to
//! every member's connections and nobody else, idempotent retries, errors that keep the
//! connection, seq order per conversation, and sends answered through a shutdown.

use std::time::Duration;

use parley_testkit::api::uuid_of;
use parley_testkit::ws::WsClient;
use parley_testkit::{TestGateway, TestUser};
use serde_json::json;

async fn three(gw: &TestGateway, prefix: &str) -> anyhow::Result<(TestUser, TestUser, TestUser)> {
    let api = gw.api();
    Ok((
        api.register(&format!("{prefix}_a")).await?,
        api.register(&format!("{prefix}_b")).await?,
        api.register(&format!("{prefix}_c")).await?,
    ))
}

#[tokio::test]
async fn send_is_acked_after_commit_and_fanned_out_to_members_only() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let (ann, ben, eve) = three(&gw, "fan").await?;
    let conv = gw.api().dm(&ann, &ben).await?;
    let mut ann_phone = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut ann_laptop = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut ben_phone = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let mut ben_laptop = WsClient::authed(gw.addr(), &ben.access_token).await?;
    let mut eve_ws = WsClient::authed(gw.addr(), &eve.access_token).await?;

    ann_phone
        .send_message("r1", &conv, "c-1", "hello ben")
        .await?;
    let sent = ann_phone.expect("message:sent").await?;
    assert_eq!(sent["id"], "r1", "the reply echoes the frame id");
    assert_eq!(sent["data"]["clientMessageId"], "c-1");
    let message = &sent["data"]["message"];
    assert_eq!(message["seq"], 1);
    assert_eq!(message["content"], "hello ben");
    // Committed before acknowledged.
    let db = gw.cluster.client().await?;
    let id = uuid_of(message["id"].as_str().unwrap_or_default());
    assert!(
        db.query_opt("SELECT 1 FROM messages WHERE id = $1::text::uuid", &[&id])
            .await?
            .is_some()
    );

    for client in [&mut ben_phone, &mut ben_laptop, &mut ann_laptop] {
        let received = client.expect("message:received").await?;
        assert_eq!(received["data"]["message"]["id"], message["id"]);
        assert!(received.get("id").is_none());
    }
    assert!(
        ann_phone.quiet_for(Duration::from_millis(300)).await?,
        "the sending connection gets only its ack"
    );
    assert!(
        eve_ws.quiet_for(Duration::from_millis(300)).await?,
        "a non-member hears nothing"
    );

    // A retry of the same clientMessageId answers with the original, and is not fanned out again.
    ann_laptop
        .send_message("r2", &conv, "c-1", "hello again")
        .await?;
    let again = ann_laptop.expect("message:sent").await?;
    assert_eq!(again["id"], "r2");
    assert_eq!(again["data"]["message"]["id"], message["id"]);
    assert_eq!(again["data"]["message"]["content"], "hello ben");
    assert!(ben_phone.quiet_for(Duration::from_millis(300)).await?);

    // A REST send reaches sockets too.
    let rest = gw
        .api()
        .post(
            &format!("/api/conversations/{conv}/messages"),
            Some(&ben),
            &json!({"clientMessageId": "web-1", "content": "from the web"}),
        )
        .await?;
    assert_eq!(rest.status, 201);
    for client in [
        &mut ann_phone,
        &mut ann_laptop,
        &mut ben_phone,
        &mut ben_laptop,
    ] {
        let received = client.expect("message:received").await?;
        assert_eq!(received["data"]["message"]["seq"], 2);
    }
    Ok(())
}

#[tokio::test]
async fn authentication_paths_and_deadlines() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.ws.auth_timeout = Duration::from_millis(400)).await?;
    let (ann, _, _) = three(&gw, "auth").await?;

    let mut by_frame = WsClient::connect(gw.addr(), None, &[]).await?;
    by_frame
        .send(&json!({"event": "auth", "id": "a1", "data": {"token": ann.access_token}}))
        .await?;
    let success = by_frame.expect("auth:success").await?;
    assert_eq!(success["id"], "a1");
    assert_eq!(success["data"]["userId"], ann.id.as_str());
    assert!(
        success["data"]["expiresAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let query = WsClient::connect_path(gw.addr(), &format!("/ws?token={}", ann.access_token)).await;
    assert!(query.is_ok(), "?token= works for browsers");
    query?.expect("auth:success").await?;

    let mut silent = WsClient::connect(gw.addr(), None, &[]).await?;
    let closed = silent.closed().await?;
    assert_eq!(closed.code, Some(4401), "no auth within the deadline");
    assert_eq!(
        silent.expect("auth:error").await?["data"]["code"],
        "UNAUTHORIZED"
    );

    let mut eager = WsClient::connect(gw.addr(), None, &[]).await?;
    eager
        .send_message("x", "conv_00000000000000000000000000000000", "c", "hi")
        .await?;
    assert_eq!(
        eager.closed().await?.code,
        Some(4401),
        "nothing but auth before auth"
    );

    let mut forged = WsClient::connect(gw.addr(), None, &[]).await?;
    forged
        .send(&json!({"event": "auth", "data": {"token": ann.refresh_token}}))
        .await?;
    assert_eq!(
        forged.closed().await?.code,
        Some(4401),
        "a refresh token is not an access token"
    );

    assert!(
        WsClient::connect(gw.addr(), Some("garbage"), &[])
            .await
            .is_err(),
        "a bad handshake token is refused before the upgrade"
    );
    Ok(())
}

#[tokio::test]
async fn errors_keep_the_connection_and_violations_close_it() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        // Two refused sends (not a member, no such conversation) count too: 4 in all.
        c.limits.send = "4/1m".parse().expect("rate");
        c.ws.max_message_bytes = 4096;
    })
    .await?;
    let (ann, ben, eve) = three(&gw, "err").await?;
    let conv = gw.api().dm(&ann, &ben).await?;
    let private = gw.api().dm(&ben, &eve).await?;
    let mut ws = WsClient::authed(gw.addr(), &ann.access_token).await?;

    ws.send_raw(tokio_tungstenite::tungstenite::Message::text("{not json"))
        .await?;
    assert_eq!(
        ws.expect("error").await?["data"]["code"],
        "VALIDATION_ERROR"
    );
    ws.send(&json!({"event": "dance", "id": "d"})).await?;
    let unknown = ws.expect("error").await?;
    assert_eq!(unknown["id"], "d");
    ws.send(&json!({"event": "ping", "id": "p"})).await?;
    assert_eq!(
        ws.expect("pong").await?["id"],
        "p",
        "still up after garbage"
    );

    ws.send_message("v", &conv, "c-empty", "").await?;
    let invalid = ws.expect("message:error").await?;
    assert_eq!(invalid["id"], "v");
    assert_eq!(invalid["data"]["clientMessageId"], "c-empty");
    assert_eq!(invalid["data"]["code"], "VALIDATION_ERROR");
    assert!(invalid["data"]["details"]["content"].is_array());

    ws.send_message("n", &private, "c-private", "let me in")
        .await?;
    let outsider = ws.expect("message:error").await?;
    assert_eq!(outsider["data"]["code"], "NOT_FOUND");
    ws.send_message(
        "m",
        "conv_00000000000000000000000000000000",
        "c-missing",
        "anyone",
    )
    .await?;
    assert_eq!(
        ws.expect("message:error").await?["data"]["code"],
        "NOT_FOUND",
        "missing and forbidden look alike"
    );

    for n in 0..2 {
        ws.send_message(&format!("ok{n}"), &conv, &format!("ok{n}"), "fine")
            .await?;
        ws.expect("message:sent").await?;
    }
    ws.send_message("slow", &conv, "c-slow", "too fast").await?;
    let limited = ws.expect("message:error").await?;
    assert_eq!(limited["data"]["code"], "RATE_LIMITED");
    assert_eq!(limited["data"]["retryable"], true);
    assert!(
        limited["data"]["retryAfter"]
            .as_u64()
            .is_some_and(|s| s >= 1)
    );

    ws.send(&json!({"event": "subscribe", "id": "s1", "data": {"conversationId": conv}}))
        .await?;
    assert_eq!(
        ws.expect("subscribed").await?["data"]["conversationId"],
        conv.as_str()
    );
    ws.send(&json!({"event": "subscribe", "id": "s2", "data": {"conversationId": private}}))
        .await?;
    let refused = ws.expect("error").await?;
    assert_eq!(
        (refused["id"].as_str(), refused["data"]["code"].as_str()),
        (Some("s2"), Some("NOT_FOUND"))
    );

    let mut big = WsClient::authed(gw.addr(), &ann.access_token).await?;
    big.send_raw(tokio_tungstenite::tungstenite::Message::text(
        "x".repeat(5000),
    ))
    .await?;
    assert_eq!(big.closed().await?.code, Some(1009));
    let mut binary = WsClient::authed(gw.addr(), &ann.access_token).await?;
    binary
        .send_raw(tokio_tungstenite::tungstenite::Message::binary(vec![
            1, 2, 3,
        ]))
        .await?;
    assert_eq!(binary.closed().await?.code, Some(1003));
    Ok(())
}

#[tokio::test]
async fn every_receiver_sees_one_gap_free_order() -> anyhow::Result<()> {
    let gw =
        TestGateway::start_with(|c| c.limits.send = "100000/1m".parse().expect("rate")).await?;
    let (ann, ben, cat) = three(&gw, "ord").await?;
    let group = gw.api().group(&ann, "order", &[&ben, &cat]).await?;
    let mut watchers = vec![
        WsClient::authed(gw.addr(), &cat.access_token).await?,
        WsClient::authed(gw.addr(), &cat.access_token).await?,
    ];
    let mut senders = Vec::new();
    for user in [&ann, &ben] {
        senders.push(WsClient::authed(gw.addr(), &user.access_token).await?);
    }
    const PER_SENDER: usize = 60;
    for n in 0..PER_SENDER {
        for (s, sender) in senders.iter_mut().enumerate() {
            sender
                .send_message(&format!("{s}-{n}"), &group, &format!("{s}-{n}"), "burst")
                .await?;
        }
    }
    for sender in &mut senders {
        let mut last = 0;
        for _ in 0..PER_SENDER {
            let seq = sender.expect("message:sent").await?["data"]["message"]["seq"]
                .as_i64()
                .unwrap_or_default();
            assert!(seq > last, "a sender's acks arrive in seq order");
            last = seq;
        }
    }
    for watcher in &mut watchers {
        let mut seqs = Vec::new();
        for _ in 0..PER_SENDER * 2 {
            seqs.push(
                watcher.expect("message:received").await?["data"]["message"]["seq"]
                    .as_i64()
                    .unwrap_or_default(),
            );
        }
        assert_eq!(
            seqs,
            (1..=(PER_SENDER as i64 * 2)).collect::<Vec<_>>(),
            "in seq order, none missing"
        );
    }
    Ok(())
}

#[tokio::test]
async fn connections_per_user_are_capped_and_origins_checked() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        c.ws.max_per_user = 2;
        c.ws.allowed_origins = vec!["https://chat.example".to_owned()];
    })
    .await?;
    let (ann, _, _) = three(&gw, "cap").await?;
    let first = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let _second = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let mut third = WsClient::connect(gw.addr(), Some(&ann.access_token), &[]).await?;
    assert_eq!(third.closed().await?.code, Some(4429));
    first.close().await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    WsClient::authed(gw.addr(), &ann.access_token).await?;

    assert!(
        WsClient::connect(
            gw.addr(),
            Some(&ann.access_token),
            &[("origin", "https://evil.example")]
        )
        .await
        .is_err()
    );
    assert!(
        WsClient::connect(
            gw.addr(),
            Some(&ann.access_token),
            &[("origin", "https://chat.example")]
        )
        .await
        .is_ok()
    );
    Ok(())
}

#[tokio::test]
async fn shutdown_answers_every_send_in_flight() -> anyhow::Result<()> {
    let mut gw =
        TestGateway::start_with(|c| c.limits.send = "100000/1m".parse().expect("rate")).await?;
    let (ann, ben, _) = three(&gw, "down").await?;
    let conv = gw.api().dm(&ann, &ben).await?;
    let mut ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    const SENDS: usize = 200;
    for n in 0..SENDS {
        ws.send_message(&format!("{n}"), &conv, &format!("k{n}"), "in flight")
            .await?;
    }
    let stopper = tokio::task::spawn_blocking(move || {
        gw.shutdown();
        gw
    });
    let mut answered = 0;
    let mut acked = 0;
    let code = loop {
        match ws.next().await {
            Ok(frame) if frame["event"] == "message:sent" => {
                answered += 1;
                acked += 1;
            }
            Ok(frame) if frame["event"] == "message:error" => answered += 1,
            Ok(_) => {}
            Err(error) => break error.to_string(),
        }
    };
    let gw = stopper.await?;
    assert!(
        code.contains("1001") || code.contains("Away"),
        "closed with 1001: {code}"
    );
    assert_eq!(answered, SENDS, "every send got an answer before the close");
    let stored = gw.cluster.message_count().await?;
    assert_eq!(
        stored, acked as i64,
        "exactly the acknowledged messages are stored"
    );
    Ok(())
}
