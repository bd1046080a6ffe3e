//! Several instances under faults: Redis killed with `kill -9` and started again while messages
//! flow (every acknowledged message delivered everywhere, in order, gaps filled from PostgreSQL;
//! readiness says degraded, then ready), and a rolling restart of every instance in turn under
//! load (clients told 1012 reconnect elsewhere, resend with their client ids, gap-fill: nothing
//! lost, nothing doubled, nothing out of order).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use parley_testkit::TestFleet;
use parley_testkit::chat::Resilient;
use parley_testkit::ws::WsClient;
use serde_json::json;

async fn readiness(fleet: &TestFleet, i: usize) -> anyhow::Result<String> {
    let ready = parley_testkit::http::get(fleet.addr(i), "/health/ready").await?;
    Ok(ready.body["data"]["status"]
        .as_str()
        .unwrap_or("down")
        .to_owned())
}

async fn wait_for(fleet: &TestFleet, want: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    for i in 0..fleet.len() {
        while readiness(fleet, i).await? != want {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "instance {i} never became {want}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

async fn seqs(ws: &mut WsClient, count: usize) -> anyhow::Result<Vec<i64>> {
    let mut out = Vec::new();
    while out.len() < count {
        let frame = ws
            .expect("message:received")
            .await
            .with_context(|| format!("after {out:?}"))?;
        out.push(frame["data"]["message"]["seq"].as_i64().unwrap_or_default());
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_loses_nothing() -> anyhow::Result<()> {
    let mut fleet = TestFleet::start(2, |_| {}).await?;
    wait_for(&fleet, "ready").await?;
    let ann = fleet.api(0).register("rk_ann").await?;
    let ben = fleet.api(1).register("rk_ben").await?;
    let cat = fleet.api(0).register("rk_cat").await?;
    let dan = fleet.api(0).register("rk_dan").await?;
    let group = fleet.api(0).group(&ann, "Outage", &[&ben, &cat]).await?;
    let mut ben_ws = WsClient::authed(fleet.addr(1), &ben.access_token).await?;
    let mut cat_ws = WsClient::authed(fleet.addr(0), &cat.access_token).await?;
    let path = format!("/api/conversations/{group}/messages");
    let send = |api: parley_testkit::Api, n: usize, who: parley_testkit::TestUser| {
        let path = path.clone();
        async move {
            let body = json!({"clientMessageId": format!("k{n}"), "content": format!("m{n}")});
            let response = api.post(&path, Some(&who), &body).await?;
            anyhow::ensure!(
                response.status.as_u16() == 201,
                "send {n}: {}",
                response.body
            );
            anyhow::Ok(())
        }
    };
    for n in 1..=5 {
        send(fleet.api(0), n, ann.clone()).await?;
    }
    assert_eq!(seqs(&mut ben_ws, 5).await?, [1, 2, 3, 4, 5]);
    assert_eq!(seqs(&mut cat_ws, 5).await?, [1, 2, 3, 4, 5]);

    fleet.redis.kill();
    wait_for(&fleet, "degraded").await?;
    // Presence is unknown rather than wrong.
    let profile = fleet
        .api(1)
        .get(&format!("/api/users/{}", ann.id), Some(&ben))
        .await?;
    assert_eq!(profile.body["data"]["status"], "unknown");
    // Sends are acknowledged after commit with Redis down; the local member gets them live, the
    // member on the other instance from PostgreSQL, in order.
    for n in 6..=15 {
        send(fleet.api(0), n, ann.clone()).await?;
    }
    assert_eq!(seqs(&mut cat_ws, 10).await?, (6..=15).collect::<Vec<_>>());
    assert_eq!(seqs(&mut ben_ws, 10).await?, (6..=15).collect::<Vec<_>>());
    // A logout on instance 0 still closes the session's socket on instance 1.
    let mut dan_ws = WsClient::authed(fleet.addr(1), &dan.access_token).await?;
    let logout = fleet
        .api(0)
        .post(
            "/api/auth/logout",
            None,
            &json!({"refreshToken": dan.refresh_token}),
        )
        .await?;
    assert_eq!(logout.status.as_u16(), 204);
    assert_eq!(dan_ws.closed().await?.code, Some(4401));

    fleet.redis.restart().await?;
    wait_for(&fleet, "ready").await?;
    for n in 16..=20 {
        send(fleet.api(1), n, ben.clone()).await?;
    }
    assert_eq!(seqs(&mut cat_ws, 5).await?, (16..=20).collect::<Vec<_>>());
    // Ben sent these over REST: his socket receives them like any other.
    assert_eq!(seqs(&mut ben_ws, 5).await?, (16..=20).collect::<Vec<_>>());
    assert!(
        ben_ws.quiet_for(Duration::from_millis(300)).await?,
        "nothing doubled"
    );
    assert!(
        cat_ws.quiet_for(Duration::from_millis(100)).await?,
        "nothing doubled"
    );
    assert!(
        fleet
            .metric(1, "parley_cluster_repaired_messages_total")
            .await?
            .unwrap_or(0.0)
            >= 10.0
    );
    assert!(
        fleet
            .metric(0, "parley_cluster_reconnects_total")
            .await?
            .unwrap_or(0.0)
            >= 1.0
    );
    Ok(())
}

const CLIENTS: usize = 6;
const SENDS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let mut fleet = TestFleet::start(3, |c| {
        c.limits.ws_connect = "100000/1m".parse().expect("rate");
        c.limits.send = "100000/1m".parse().expect("rate");
        c.server.shutdown_grace = Duration::from_secs(5);
    })
    .await?;
    let mut users = Vec::new();
    for n in 0..CLIENTS {
        users.push(fleet.api(0).register(&format!("roll{n}")).await?);
    }
    let others: Vec<_> = users[1..].iter().collect();
    let group = fleet.api(0).group(&users[0], "Rolling", &others).await?;
    let pool = Arc::new(Mutex::new(fleet.addrs()));
    let mut tasks = Vec::new();
    for (n, user) in users.iter().enumerate() {
        let mut client = Resilient::connect(
            Arc::clone(&pool),
            &user.access_token,
            &format!("r{n}"),
            vec![group.clone()],
            n,
        )
        .await?;
        let group = group.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..SENDS {
                client.send(&group, &format!("{n}:{k}")).await?;
                client.pump(Duration::from_millis(30)).await?;
            }
            client.settle(Duration::from_secs(30)).await?;
            anyhow::Ok(client)
        }));
    }
    // Restart every instance in turn while the clients send: out of the pool, drained (1012),
    // started again on a new port, back in the pool.
    for i in 0..fleet.len() {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let leaving = fleet.addr(i);
        pool.lock().expect("pool").retain(|a| *a != leaving);
        fleet.stop(i).await;
        fleet.start_instance(i).await?;
        pool.lock().expect("pool").push(fleet.addr(i));
    }
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await??);
    }
    for client in &mut clients {
        client.resync(Duration::from_millis(200)).await?;
    }
    let db = fleet.cluster.client().await?;
    let rows = db
        .query("SELECT client_message_id, seq FROM messages", &[])
        .await?;
    let mut stored: HashMap<String, Vec<i64>> = HashMap::new();
    for row in &rows {
        stored.entry(row.get(0)).or_default().push(row.get(1));
    }
    let last = rows.iter().map(|r| r.get::<_, i64>(1)).max().unwrap_or(0);
    assert_eq!(rows.len(), CLIENTS * SENDS, "every send stored");
    assert_eq!(last as usize, CLIENTS * SENDS, "seq gap-free");
    let mut saw_1012 = false;
    for client in &clients {
        for (cid, seq) in &client.acked {
            assert_eq!(
                stored.get(cid),
                Some(&vec![*seq]),
                "{cid} stored once, at its seq"
            );
        }
        assert_eq!(client.acked.len(), SENDS, "every send acknowledged");
        assert_eq!(
            client.contiguous(&group),
            last,
            "every message reached every member"
        );
        assert_eq!(client.order_violations, 0, "live deliveries in seq order");
        assert_eq!(client.duplicates, 0, "no message delivered twice");
        saw_1012 |= client.closes.contains(&Some(1012));
    }
    assert!(saw_1012, "clients were told 1012 (reconnect elsewhere)");
    Ok(())
}
