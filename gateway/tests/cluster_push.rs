//! Push with several instances over one PostgreSQL and one Redis: messages of one conversation
//! committed on both instances at once reach an offline member's device exactly once each, and
//! a member connected to the other instance gets none (presence is the fleet's); a conversation's
//! first message committed on an instance slower to push than the one holding its second is
//! pushed too.

use std::collections::HashMap;
use std::time::Duration;

use parley_testkit::TestFleet;
use parley_testkit::webhook::WebhookReceiver;
use parley_testkit::ws::WsClient;
use serde_json::json;

const PER_SENDER: usize = 20;
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_go_out_once_over_instances_and_never_to_a_connected_member() -> anyhow::Result<()> {
    let receiver = WebhookReceiver::start().await?;
    let url = receiver.url();
    let fleet = TestFleet::start(2, move |c| {
        c.notifications.webhook_url = url;
        c.notifications.webhook_secret = "a-webhook-secret-of-at-least-32-characters".to_owned();
        c.notifications.push_interval = Duration::from_millis(50);
    })
    .await?;
    fleet.joined(0).await?;
    fleet.joined(1).await?;
    let (api0, api1) = (fleet.api(0), fleet.api(1));
    let ann = api0.register("fleetpush_ann").await?;
    let ben = api0.register("fleetpush_ben").await?;
    let cy = api1.register("fleetpush_cy").await?;
    let group = api0.group(&ann, "Fleet", &[&ben, &cy]).await?;
    api0.register_push(&ben, "ben-phone").await?;
    api1.register_push(&cy, "cy-phone").await?;
    // Cy is connected to instance 1; instance 0 must see it before anything is sent.
    let _cy_ws = WsClient::authed(fleet.addr(1), &cy.access_token).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = api0
            .get(&format!("/api/users/{}", cy.id), Some(&ann))
            .await?;
        if seen.body["data"]["status"] == "online" {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "instance 0 never saw Cy online: {}",
            seen.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Ann writes through instance 0 and Cy through instance 1, at the same time.
    let mut senders = Vec::new();
    for (api, user, tag) in [(api0, ann.clone(), "a"), (api1, cy.clone(), "c")] {
        let group = group.clone();
        senders.push(tokio::spawn(async move {
            for k in 0..PER_SENDER {
                let body = json!({"clientMessageId": format!("{tag}{k}"), "content": format!("{tag}/{k}")});
                let made = api
                    .post(&format!("/api/conversations/{group}/messages"), Some(&user), &body)
                    .await?;
                anyhow::ensure!(made.status == 201, "send: {}", made.body);
            }
            anyhow::Ok(())
        }));
    }
    for sender in senders {
        sender.await??;
    }
    let total = 2 * PER_SENDER;
    receiver.wait_for(total, WAIT).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = receiver.received();
    let mut per_key: HashMap<&str, usize> = HashMap::new();
    for request in &got {
        *per_key.entry(request.idempotency_key.as_str()).or_insert(0) += 1;
    }
    assert_eq!(got.len(), total, "one request per message: {per_key:?}");
    assert!(per_key.values().all(|n| *n == 1), "{per_key:?}");
    assert!(
        got.iter().all(|r| r.body["userId"] == ben.id.as_str()),
        "only Ben (offline) is pushed to"
    );
    let mut bodies: Vec<String> = got
        .iter()
        // A group's push may name its sender first ("Ann: ...").
        .filter_map(|r| {
            r.body["body"]
                .as_str()?
                .rsplit(": ")
                .next()
                .map(str::to_owned)
        })
        .collect();
    bodies.sort();
    let mut expected: Vec<String> = (0..PER_SENDER)
        .flat_map(|k| [format!("a/{k}"), format!("c/{k}")])
        .collect();
    expected.sort();
    assert_eq!(bodies, expected);
    Ok(())
}

/// Regression (clean-clone CI, cc47363: 39 of 40 pushes, seq 1 missing): a conversation without a
/// watermark started at the lowest seq the enqueuing instance had heard of, so when the instance
/// holding seq 2 enqueued first, seq 1 (committed by the other) was skipped for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_message_is_pushed_when_another_instance_enqueues_the_second_first()
-> anyhow::Result<()> {
    let receiver = WebhookReceiver::start().await?;
    let url = receiver.url();
    let mut fleet = TestFleet::start(1, move |c| {
        c.notifications.webhook_url = url;
        c.notifications.webhook_secret = "a-webhook-secret-of-at-least-32-characters".to_owned();
        c.notifications.push_interval = Duration::from_millis(20);
    })
    .await?;
    // Instance 1 waits long before it enqueues what it committed: instance 0 goes first.
    let slow = fleet
        .add(|c| c.notifications.push_interval = Duration::from_secs(3))
        .await?;
    let (fast, slow) = (fleet.api(0), fleet.api(slow));
    let ann = fast.register("firstpush_ann").await?;
    let ben = fast.register("firstpush_ben").await?;
    let dm = fast.group(&ann, "First", &[&ben]).await?;
    fast.register_push(&ben, "ben-phone").await?;
    for (api, id, content) in [(&slow, "s1", "one"), (&fast, "f2", "two")] {
        let body = json!({"clientMessageId": id, "content": content});
        let made = api
            .post(
                &format!("/api/conversations/{dm}/messages"),
                Some(&ann),
                &body,
            )
            .await?;
        anyhow::ensure!(made.status == 201, "send: {}", made.body);
    }
    receiver.wait_for(2, WAIT).await?;
    // Past the slow instance's round: it finds both pushed and adds nothing.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut bodies: Vec<String> = receiver
        .received()
        .iter()
        .filter_map(|r| {
            r.body["body"]
                .as_str()?
                .rsplit(": ")
                .next()
                .map(str::to_owned)
        })
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["one", "two"]);
    Ok(())
}
