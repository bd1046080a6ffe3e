//! Health endpoints and shutdown, against an in-process gateway and a real PostgreSQL.

use std::time::Duration;

use parley_testkit::TestGateway;
use parley_testkit::http;

#[tokio::test]
async fn live_and_ready_answer_on_every_shard() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    // Connections are spread over shards by the kernel; enough requests reach both.
    for _ in 0..8 {
        let live = gw.get("/health/live").await?;
        assert_eq!(live.status, 200);
        assert_eq!(live.body["data"]["status"], "live");
        let ready = gw.get("/health/ready").await?;
        assert_eq!(ready.status, 200, "{:?}", ready.body);
        assert_eq!(ready.body["data"]["status"], "ready");
        assert_eq!(ready.headers["content-type"], "application/json");
    }
    Ok(())
}

#[tokio::test]
async fn readiness_follows_the_database() -> anyhow::Result<()> {
    let mut gw = TestGateway::start().await?;
    assert_eq!(gw.get("/health/ready").await?.status, 200);

    gw.cluster.pg_mut().stop()?;
    for _ in 0..4 {
        let ready = gw.get("/health/ready").await?;
        assert_eq!(ready.status, 503, "{:?}", ready.body);
        assert_eq!(ready.body["error"]["code"], "DB_ERROR");
        assert_eq!(ready.body["error"]["retryable"], true);
        // Liveness is about the process, not its dependencies.
        assert_eq!(gw.get("/health/live").await?.status, 200);
    }

    gw.cluster.pg_mut().restart(Duration::from_secs(60))?;
    let mut statuses = Vec::new();
    for _ in 0..50 {
        let status = gw.get("/health/ready").await?.status;
        statuses.push(status);
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        statuses.last().copied(),
        Some(hyper::StatusCode::OK),
        "{statuses:?}"
    );
    Ok(())
}

#[tokio::test]
async fn readiness_fails_when_the_schema_is_behind() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let client = gw.cluster.client().await?;
    client
        .batch_execute("DELETE FROM parley_migrations")
        .await?;
    let ready = gw.get("/health/ready").await?;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["error"]["code"], "DB_ERROR");
    Ok(())
}

#[tokio::test]
async fn unknown_routes_get_the_error_envelope() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let missing = gw.get("/nope").await?;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body,
        serde_json::json!({"error": {
            "code": "NOT_FOUND",
            "message": "No route for GET /nope",
            "retryable": false
        }})
    );
    let wrong_method =
        http::request(gw.addr(), hyper::Method::POST, "/health/live", &[], None).await?;
    assert_eq!(wrong_method.status, 404);
    Ok(())
}

#[tokio::test]
async fn shutdown_stops_accepting_and_closes_idle_connections() -> anyhow::Result<()> {
    let mut gw =
        TestGateway::start_with(|c| c.server.shutdown_grace = Duration::from_secs(30)).await?;
    let addr = gw.addr();
    // An idle keep-alive connection must not hold shutdown for the whole grace period.
    let idle = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(idle)).await?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get("/health/live")
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    assert_eq!(sender.send_request(request).await?.status(), 200);

    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || {
        gw.shutdown();
        gw
    })
    .await?;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "an idle connection held shutdown for the whole grace period"
    );
    // The server closed the idle connection, and nothing listens any more.
    let _ = tokio::time::timeout(Duration::from_secs(5), driver).await?;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    Ok(())
}

#[tokio::test]
async fn metrics_are_exposed_in_prometheus_text() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let (ann, ben) = (api.register("m_ann").await?, api.register("m_ben").await?);
    let conv = api.dm(&ann, &ben).await?;
    let path = format!("/api/conversations/{conv}/messages");
    for n in 0..3 {
        let body = serde_json::json!({"clientMessageId": format!("m{n}"), "content": "counted"});
        assert_eq!(api.post(&path, Some(&ann), &body).await?.status, 201);
    }
    let duplicate = serde_json::json!({"clientMessageId": "m0", "content": "counted"});
    assert_eq!(api.post(&path, Some(&ann), &duplicate).await?.status, 200);
    let _socket = parley_testkit::ws::WsClient::authed(gw.addr(), &ben.access_token).await?;

    // Not served without the token; with it, the exposition.
    assert_eq!(http::get(gw.addr(), "/metrics").await?.status, 401);
    let bearer = format!("Bearer {}", parley_testkit::gateway::TEST_METRICS_TOKEN);
    let response = http::request(
        gw.addr(),
        hyper::Method::GET,
        "/metrics",
        &[("authorization", &bearer)],
        None,
    )
    .await?;
    assert_eq!(response.status, 200);
    assert!(
        response.headers["content-type"]
            .to_str()?
            .starts_with("text/plain")
    );
    let text = String::from_utf8(response.raw.to_vec())?;
    let value = |sample: &str| parley_testkit::gateway::metric_sample(&text, sample);
    assert_eq!(
        value("parley_sends_total{result=\"stored\"}"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(value("parley_sends_total{result=\"duplicate\"}"), Some(1.0));
    assert_eq!(
        value("parley_persister_batch_size_count"),
        Some(4.0),
        "each send was its own batch here"
    );
    assert!(value("parley_persister_commit_seconds_count").is_some_and(|n| n >= 4.0));
    // Every send's wait for its commit, and each committed message's trip to the shards (two
    // shards: each observes the three new messages).
    assert_eq!(
        value("parley_persister_send_to_commit_seconds_count"),
        Some(4.0)
    );
    // (The shards take their inboxes on their own threads: wait for both.)
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while gw
        .metric("parley_fanout_commit_to_delivery_seconds_count")
        .await?
        != Some(6.0)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "both shards observe"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let sockets: f64 = text
        .lines()
        .filter(|l| l.starts_with("parley_ws_connections{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(sockets, 1.0, "one socket open, on one of the shards");
    for family in [
        "parley_http_requests_total",
        "parley_ws_frames_total",
        "parley_persister_queue_depth",
        "parley_ws_dropped_ephemeral_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing"
        );
    }
    Ok(())
}
