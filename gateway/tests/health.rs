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
