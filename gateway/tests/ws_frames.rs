//! WebSocket conformance with raw frames over a plain TCP socket (the Autobahn suite cannot run
//! here): fragmented messages, control frames, violations and their close codes, token expiry.

use std::time::Duration;

use parley_testkit::TestGateway;
use parley_testkit::raw::{Raw, encode};
use parley_testkit::ws::WsClient;
use serde_json::json;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn fragments_control_frames_and_violations() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.ws.max_message_bytes = 1024).await?;
    let user = gw.api().register("raw_user").await?;

    let mut raw = Raw::connect(gw.addr(), Some(&user.access_token)).await?;
    // A message in three fragments, with a ping in the middle (allowed between fragments).
    raw.frame(false, 0x1, br#"{"event":"pi"#).await?;
    raw.frame(true, 0x9, b"hey").await?;
    raw.frame(false, 0x0, br#"ng","id":"#).await?;
    raw.frame(true, 0x0, br#""f1"}"#).await?;
    let (opcode, payload) = raw.read_frame().await?;
    assert_eq!(
        (opcode, payload.as_slice()),
        (0xA, b"hey".as_slice()),
        "a ping is answered with its payload"
    );
    let (opcode, payload) = raw.read_frame().await?;
    assert_eq!(opcode, 0x1);
    let pong: serde_json::Value = serde_json::from_slice(&payload)?;
    assert_eq!(pong, json!({"event": "pong", "id": "f1", "data": {}}));
    // Several frames in one write (the reader takes them one at a time), and a frame dribbled
    // in byte by byte.
    let mut burst = Vec::new();
    for n in 0..3 {
        burst.extend(encode(
            true,
            0x1,
            format!(r#"{{"event":"ping","id":"b{n}"}}"#).as_bytes(),
        ));
    }
    burst.extend(encode(true, 0x9, b""));
    raw.stream.write_all(&burst).await?;
    for n in 0..3 {
        let (_, payload) = raw.read_frame().await?;
        let pong: serde_json::Value = serde_json::from_slice(&payload)?;
        assert_eq!(pong["id"], json!(format!("b{n}")));
    }
    assert_eq!(
        raw.read_frame().await?,
        (0xA, Vec::new()),
        "empty ping, empty pong"
    );
    for byte in encode(true, 0x1, br#"{"event":"ping","id":"slow"}"#) {
        raw.stream.write_all(&[byte]).await?;
        raw.stream.flush().await?;
    }
    let (_, payload) = raw.read_frame().await?;
    assert!(String::from_utf8_lossy(&payload).contains("slow"));
    // The client closes: the server answers with a close and ends.
    raw.frame(true, 0x8, &1000u16.to_be_bytes()).await?;
    assert_eq!(raw.close_code().await?, 1000);

    /// (fin, opcode, payload)
    type Frames = Vec<(bool, u8, Vec<u8>)>;
    let cases: Vec<(&str, Frames, u16)> = vec![
        (
            "continuation without a start",
            vec![(true, 0x0, b"x".to_vec())],
            1002,
        ),
        (
            "new text inside a fragmented one",
            vec![(false, 0x1, b"{".to_vec()), (true, 0x1, b"{}".to_vec())],
            1002,
        ),
        (
            "fragments over the size cap",
            vec![(false, 0x1, vec![b' '; 800]), (true, 0x0, vec![b' '; 800])],
            1009,
        ),
        (
            "one frame over the size cap",
            vec![(true, 0x1, vec![b' '; 2000])],
            1009,
        ),
        ("invalid UTF-8", vec![(true, 0x1, vec![0xff, 0xfe])], 1007),
        ("binary", vec![(true, 0x2, vec![1, 2])], 1003),
        ("unknown opcode", vec![(true, 0x3, vec![])], 1002),
    ];
    // A client frame without a mask is refused (RFC 6455 5.1).
    let mut raw = Raw::connect(gw.addr(), Some(&user.access_token)).await?;
    raw.stream.write_all(&[0x81, 0x02, b'{', b'}']).await?;
    assert_eq!(raw.close_code().await?, 1002, "unmasked");
    for (name, frames, code) in cases {
        let mut raw = Raw::connect(gw.addr(), Some(&user.access_token)).await?;
        for (fin, opcode, payload) in frames {
            raw.frame(fin, opcode, &payload).await?;
        }
        assert_eq!(raw.close_code().await?, code, "{name}");
    }
    // The gateway is unharmed.
    assert_eq!(gw.get("/health/ready").await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn an_expired_token_closes_the_socket_unless_renewed() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.auth.access_ttl = Duration::from_secs(2)).await?;
    let api = gw.api();
    let user = api.register("expiring").await?;
    let mut lapsing = WsClient::authed(gw.addr(), &user.access_token).await?;
    let mut renewing = WsClient::authed(gw.addr(), &user.access_token).await?;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let fresh = api
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refreshToken": user.refresh_token}),
        )
        .await?;
    let token = fresh.body["data"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    renewing
        .send(&json!({"event": "auth", "id": "renew", "data": {"token": token}}))
        .await?;
    assert_eq!(renewing.expect("auth:success").await?["id"], "renew");
    assert_eq!(
        lapsing.closed().await?.code,
        Some(4401),
        "the token ran out"
    );
    renewing
        .send(&json!({"event": "ping", "id": "still"}))
        .await?;
    assert_eq!(
        renewing.expect("pong").await?["id"],
        "still",
        "the renewed socket lives on"
    );
    Ok(())
}

#[tokio::test]
async fn logout_and_token_reuse_close_that_sessions_sockets() -> anyhow::Result<()> {
    // No refresh grace: the replay below is reuse at once.
    let gw = TestGateway::start_with(|c| c.auth.refresh_grace = Duration::ZERO).await?;
    let api = gw.api();
    let phone = api.register("revoked").await?;
    let login = |password: &'static str| async move {
        let response = api
            .post(
                "/api/auth/login",
                None,
                &json!({"username": "revoked", "password": password}),
            )
            .await?;
        anyhow::ensure!(response.status == 200, "{}", response.body);
        let data = &response.body["data"];
        Ok::<_, anyhow::Error>((
            data["accessToken"].as_str().unwrap_or_default().to_owned(),
            data["refreshToken"].as_str().unwrap_or_default().to_owned(),
        ))
    };
    let (laptop_access, laptop_refresh) = login("password123").await?;
    let mut phone_a = WsClient::authed(gw.addr(), &phone.access_token).await?;
    let mut phone_b = WsClient::authed(gw.addr(), &phone.access_token).await?;
    let mut laptop = WsClient::authed(gw.addr(), &laptop_access).await?;

    let out = api
        .post(
            "/api/auth/logout",
            None,
            &json!({"refreshToken": phone.refresh_token}),
        )
        .await?;
    assert_eq!(out.status, 204);
    for socket in [&mut phone_a, &mut phone_b] {
        assert_eq!(
            socket.closed().await?.code,
            Some(4401),
            "every socket of the ended session closes"
        );
        assert_eq!(
            socket.expect("auth:error").await?["data"]["code"],
            "UNAUTHORIZED"
        );
    }
    laptop
        .send(&json!({"event": "ping", "id": "alive"}))
        .await?;
    assert_eq!(
        laptop.expect("pong").await?["id"],
        "alive",
        "another login of the same user is untouched"
    );

    // Replaying a rotated refresh token revokes that family, and its sockets close too.
    let rotated = api
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refreshToken": laptop_refresh}),
        )
        .await?;
    assert_eq!(rotated.status, 200);
    let replay = api
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refreshToken": laptop_refresh}),
        )
        .await?;
    assert_eq!(replay.status, 401);
    assert_eq!(laptop.closed().await?.code, Some(4401));
    Ok(())
}
