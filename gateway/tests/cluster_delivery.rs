//! Several instances over one PostgreSQL and one Redis: a group whose members are spread over
//! three instances and whose senders write from every instance at once; every member's
//! connection receives every message once, in `seq` order, wherever it was committed.

use std::collections::BTreeSet;
use std::time::Duration;

use parley_testkit::ws::WsClient;
use parley_testkit::{TestFleet, TestUser};
use serde_json::json;

const INSTANCES: usize = 3;
const PER_SENDER: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_spread_over_instances_sees_every_message_in_order() -> anyhow::Result<()> {
    let fleet = TestFleet::start(INSTANCES, |_| {}).await?;
    let mut users: Vec<TestUser> = Vec::new();
    for n in 0..INSTANCES * 2 {
        users.push(
            fleet
                .api(n % INSTANCES)
                .register(&format!("spread{n}"))
                .await?,
        );
    }
    let others: Vec<&TestUser> = users[1..].iter().collect();
    let group = fleet.api(0).group(&users[0], "Spread", &others).await?;
    // Each member on "their" instance; two per instance.
    let mut sockets = Vec::new();
    for (n, user) in users.iter().enumerate() {
        sockets.push(WsClient::authed(fleet.addr(n % INSTANCES), &user.access_token).await?);
    }
    // Every member sends from its own instance, concurrently.
    let mut senders = Vec::new();
    for (n, user) in users.iter().enumerate() {
        let api = fleet.api(n % INSTANCES);
        let (user, group) = (user.clone(), group.clone());
        senders.push(tokio::spawn(async move {
            for k in 0..PER_SENDER {
                let body =
                    json!({"clientMessageId": format!("s{n}-{k}"), "content": format!("{n}/{k}")});
                let response = api
                    .post(
                        &format!("/api/conversations/{group}/messages"),
                        Some(&user),
                        &body,
                    )
                    .await?;
                anyhow::ensure!(response.status.as_u16() == 201, "send: {}", response.body);
            }
            anyhow::Ok(())
        }));
    }
    for sender in senders {
        sender.await??;
    }
    let total = (INSTANCES * 2 * PER_SENDER) as i64;
    for (n, socket) in sockets.iter_mut().enumerate() {
        let mut seqs = Vec::new();
        while seqs.len() < total as usize {
            let frame = socket.expect("message:received").await?;
            seqs.push(frame["data"]["message"]["seq"].as_i64().unwrap_or_default());
        }
        let sorted: Vec<i64> = (1..=total).collect();
        assert_eq!(
            seqs,
            sorted,
            "member {n} (instance {}) in seq order, once each",
            n % INSTANCES
        );
        assert!(
            socket.quiet_for(Duration::from_millis(200)).await?,
            "member {n}: nothing after the last message"
        );
    }
    // Every instance delivered what the others committed through Redis, and none gave up.
    for i in 0..INSTANCES {
        assert!(
            fleet
                .metric(i, "parley_cluster_received_total")
                .await?
                .unwrap_or(0.0)
                > 0.0
        );
        assert_eq!(
            fleet.metric(i, "parley_cluster_skipped_total").await?,
            Some(0.0)
        );
        assert_eq!(fleet.metric(i, "parley_cluster_redis_up").await?, Some(1.0));
    }
    let stored: BTreeSet<i64> = fleet
        .cluster
        .client()
        .await?
        .query("SELECT seq FROM messages", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored.len() as i64, total);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_without_recipients_skips_events_until_one_connects() -> anyhow::Result<()> {
    let fleet = TestFleet::start(2, |_| {}).await?;
    let ann = fleet.api(0).register("uw_ann").await?;
    let ben = fleet.api(0).register("uw_ben").await?;
    let dm = fleet.api(0).dm(&ann, &ben).await?;
    let mut ben_zero = WsClient::authed(fleet.addr(0), &ben.access_token).await?;
    let path = format!("/api/conversations/{dm}/messages");
    for k in 0..5 {
        let body = json!({"clientMessageId": format!("u{k}"), "content": "hi"});
        assert_eq!(
            fleet
                .api(0)
                .post(&path, Some(&ann), &body)
                .await?
                .status
                .as_u16(),
            201
        );
        ben_zero.expect("message:received").await?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while fleet
        .metric(1, "parley_cluster_unwanted_total")
        .await?
        .unwrap_or(0.0)
        < 5.0
    {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "instance 1 delivered them"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Ben connects to instance 1 too: from then on it delivers, in order.
    let mut ben_one = WsClient::authed(fleet.addr(1), &ben.access_token).await?;
    for k in 5..8 {
        let body = json!({"clientMessageId": format!("u{k}"), "content": "hi"});
        assert_eq!(
            fleet
                .api(0)
                .post(&path, Some(&ann), &body)
                .await?
                .status
                .as_u16(),
            201
        );
    }
    for seq in 6..=8 {
        let frame = ben_one.expect("message:received").await?;
        assert_eq!(frame["data"]["message"]["seq"], seq);
    }
    Ok(())
}
