//! Push through the webhook channel against PostgreSQL and a real HTTP receiver: a member with no
//! connected device gets one signed POST per message (never the sender, never while connected,
//! not while muted unless urgent); failed attempts are retried with the same idempotency key and
//! dead-lettered after the bound; `410 Gone` removes the device; a delivery still pending when the
//! gateway stops goes out after it starts again, once; devices are listed and removed over REST.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use parley_shared::config::PushContent;
use parley_testkit::TestGateway;
use parley_testkit::webhook::{Received, WebhookReceiver};
use parley_testkit::ws::WsClient;
use serde_json::json;
use sha2::Sha256;

const SECRET: &str = "a-webhook-secret-of-at-least-32-characters";
const WAIT: Duration = Duration::from_secs(10);

async fn start(receiver: &WebhookReceiver) -> anyhow::Result<TestGateway> {
    start_saying(receiver, PushContent::Full).await
}

async fn start_saying(
    receiver: &WebhookReceiver,
    content: PushContent,
) -> anyhow::Result<TestGateway> {
    let url = receiver.url();
    TestGateway::start_with(move |c| {
        c.notifications.push_content = content;
        c.notifications.webhook_url = url;
        c.notifications.webhook_secret = SECRET.to_owned();
        c.notifications.push_interval = Duration::from_millis(50);
        c.notifications.push_retry_base = Duration::from_millis(100);
        c.notifications.push_retry_max = Duration::from_millis(200);
        c.notifications.push_attempts = 6;
        c.presence.offline_grace = Duration::from_millis(200);
        c.presence.coalesce = Duration::from_millis(50);
    })
    .await
}

/// Checks `Parley-Signature` against the exact bytes received.
fn signed(request: &Received) -> bool {
    let Some((t, v1)) = request
        .signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(&request.raw);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex == v1
}

#[tokio::test]
async fn offline_members_get_one_signed_push_per_message() -> anyhow::Result<()> {
    let receiver = WebhookReceiver::start().await?;
    let gw = start(&receiver).await?;
    let api = gw.api();
    let ann = api.register("push_ann").await?;
    let ben = api.register("push_ben").await?;
    let dm = api.dm(&ann, &ben).await?;
    let device = api.register_push(&ben, "apns-token-1").await?;
    assert!(device.starts_with("dev_"), "{device}");
    // Registering the same token again is the same device.
    assert_eq!(api.register_push(&ben, "apns-token-1").await?, device);
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;

    ann_ws.sent(&dm, "p1", "hello ben").await?;
    let got = receiver.wait_for(1, WAIT).await?;
    let push = &got[0];
    assert!(signed(push), "signature: {push:?}");
    assert_eq!(
        push.idempotency_key,
        push.body["id"].as_str().unwrap_or("-")
    );
    let body = &push.body;
    assert_eq!(body["deviceToken"], "apns-token-1");
    assert_eq!(body["userId"], ben.id.as_str());
    assert_eq!(body["conversationId"], dm.as_str());
    assert_eq!(body["senderId"], ann.id.as_str());
    assert_eq!(
        (body["title"].as_str(), body["body"].as_str()),
        (Some("push_ann"), Some("hello ben"))
    );
    assert_eq!(body["priority"], "normal");

    // Connected: no push. Muted (after leaving): none either, unless urgent.
    let ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;
    tokio::time::sleep(Duration::from_millis(400)).await;
    ann_ws.sent(&dm, "p2", "you are here").await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.received().len(), 1, "no push to a connected user");
    ben_ws.close().await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let prefs = format!("/api/conversations/{dm}/notifications");
    let muted = json!({"level": "all", "mutedUntil": "2099-01-01T00:00:00Z"});
    assert_eq!(api.put(&prefs, Some(&ben), &muted).await?.status, 200);
    ann_ws.sent(&dm, "p3", "muted").await?;
    ann_ws
        .send(&json!({"event": "message:send", "id": "p4", "data": {
            "conversationId": dm, "clientMessageId": "p4", "content": "urgent one", "priority": "urgent"}}))
        .await?;
    ann_ws
        .expect_where("message:sent", |f| f["id"] == "p4")
        .await?;
    let got = receiver.wait_for(2, WAIT).await?;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.received().len(), 2, "the muted one is not pushed");
    assert_eq!(
        (
            got[1].body["body"].as_str(),
            got[1].body["priority"].as_str()
        ),
        (Some("urgent one"), Some("urgent"))
    );
    assert_eq!(
        gw.metric("parley_push_total{result=\"sent\"}").await?,
        Some(2.0)
    );

    // The devices list, and removal.
    let listed = api.push_devices(&ben).await?;
    assert_eq!(listed[0]["id"], device.as_str());
    assert!(listed[0]["lastSuccessAt"].is_string());
    assert!(
        listed[0].get("token").is_none(),
        "the token is not shown again"
    );
    let path = format!("/api/users/me/push-subscriptions/{device}");
    assert_eq!(
        api.delete(&path, Some(&ann)).await?.status,
        404,
        "not Ann's device"
    );
    assert_eq!(api.delete(&path, Some(&ben)).await?.status, 204);
    assert_eq!(api.delete(&path, Some(&ben)).await?.status, 404);
    Ok(())
}

/// Sends `content` from `ws` into `conv` (urgent when asked) and waits for the commit.
async fn send(
    ws: &mut WsClient,
    conv: &str,
    id: &str,
    content: &str,
    urgent: bool,
) -> anyhow::Result<()> {
    let priority = if urgent { "urgent" } else { "normal" };
    let data = json!({"conversationId": conv, "clientMessageId": id, "content": content, "priority": priority});
    let answer = ws.ask("message:send", id, data).await?;
    anyhow::ensure!(answer["event"] == "message:sent", "{answer}");
    Ok(())
}

/// The pushed bodies after `from` requests (sorted: deliveries run concurrently), once the outbox
/// had time to act.
async fn pushed_since(receiver: &WebhookReceiver, from: usize) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut bodies = receiver.received()[from..]
        .iter()
        .filter_map(|r| r.body["body"].as_str().map(str::to_owned))
        .collect::<Vec<_>>();
    bodies.sort();
    bodies
}

#[tokio::test]
async fn level_and_quiet_hours_decide_what_an_offline_member_is_pushed() -> anyhow::Result<()> {
    let receiver = WebhookReceiver::start().await?;
    let gw = start(&receiver).await?;
    let api = gw.api();
    let ann = api.register("pref_ann").await?;
    let ben = api.register("pref_ben").await?;
    let dm = api.dm(&ann, &ben).await?;
    api.register_push(&ben, "ben-phone").await?;
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let prefs = format!("/api/conversations/{dm}/notifications");
    let level = |level: &str| json!({"level": level, "mutedUntil": null});

    // Mentions only: a mention and an urgent message, nothing else.
    assert_eq!(
        api.put(&prefs, Some(&ben), &level("mentions"))
            .await?
            .status,
        200
    );
    let seen = receiver.received().len();
    send(&mut ann_ws, &dm, "m1", "plain", false).await?;
    send(&mut ann_ws, &dm, "m2", "hey @pref_ben", false).await?;
    send(&mut ann_ws, &dm, "m3", "urgent plain", true).await?;
    assert_eq!(
        pushed_since(&receiver, seen).await,
        vec!["hey @pref_ben", "urgent plain"]
    );

    // Off: nothing at all, urgent or mentioned.
    assert_eq!(
        api.put(&prefs, Some(&ben), &level("off")).await?.status,
        200
    );
    let seen = receiver.received().len();
    send(&mut ann_ws, &dm, "o1", "plain", false).await?;
    send(&mut ann_ws, &dm, "o2", "@pref_ben urgent", true).await?;
    assert_eq!(pushed_since(&receiver, seen).await, Vec::<String>::new());

    // Quiet hours covering now: only urgent.
    assert_eq!(
        api.put(&prefs, Some(&ben), &level("all")).await?.status,
        200
    );
    api.quiet_now(&ben).await?;
    let seen = receiver.received().len();
    send(&mut ann_ws, &dm, "q1", "in quiet hours", false).await?;
    send(
        &mut ann_ws,
        &dm,
        "q2",
        "@pref_ben mentioned in quiet hours",
        false,
    )
    .await?;
    send(&mut ann_ws, &dm, "q3", "urgent in quiet hours", true).await?;
    assert_eq!(
        pushed_since(&receiver, seen).await,
        vec!["urgent in quiet hours"]
    );

    // Quiet hours over: everything again.
    let cleared = json!({"dndSchedule": null});
    assert_eq!(
        api.put("/api/users/me/notifications", Some(&ben), &cleared)
            .await?
            .status,
        200
    );
    let seen = receiver.received().len();
    send(&mut ann_ws, &dm, "a1", "all again", false).await?;
    assert_eq!(pushed_since(&receiver, seen).await, vec!["all again"]);
    Ok(())
}

#[tokio::test]
async fn push_content_sender_and_none_keep_the_text_at_home() -> anyhow::Result<()> {
    for (content, tag) in [(PushContent::Sender, "s"), (PushContent::None, "n")] {
        let receiver = WebhookReceiver::start().await?;
        let gw = start_saying(&receiver, content).await?;
        let api = gw.api();
        let ann = api.register(&format!("content_ann_{tag}")).await?;
        let ben = api.register(&format!("content_ben_{tag}")).await?;
        let dm = api.dm(&ann, &ben).await?;
        api.register_push(&ben, "phone").await?;
        let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
        ann_ws.sent(&dm, "c1", "the secret plan").await?;
        let got = receiver.wait_for(1, WAIT).await?;
        let body = &got[0].body;
        assert_eq!(body["body"], "New message", "{content:?}");
        assert!(
            !got[0].raw.windows(6).any(|w| w == b"secret"),
            "{content:?}"
        );
        let (title, sender) = match content {
            PushContent::Sender => (ann.username.clone(), ann.username.clone()),
            _ => ("Parley".to_owned(), String::new()),
        };
        assert_eq!(body["title"], title.as_str(), "{content:?}");
        assert_eq!(body["senderName"], sender.as_str(), "{content:?}");
    }
    Ok(())
}

#[tokio::test]
async fn failures_retry_with_one_key_then_dead_letter_and_gone_removes() -> anyhow::Result<()> {
    let receiver = WebhookReceiver::start().await?;
    let gw = start(&receiver).await?;
    let api = gw.api();
    let ann = api.register("retry_ann").await?;
    let ben = api.register("retry_ben").await?;
    let dm = api.dm(&ann, &ben).await?;
    api.register_push(&ben, "fcm-token").await?;
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;

    // Five failures, then delivered: six requests, one key, one delivery.
    let failures = [500, 503, 500, 502, 504];
    receiver.answer_next(&failures);
    ann_ws.sent(&dm, "r1", "sixth time lucky").await?;
    let got = receiver.wait_for(6, WAIT).await?;
    let keys: Vec<&str> = got.iter().map(|r| r.idempotency_key.as_str()).collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "one key: {keys:?}");
    assert_eq!(
        got.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![500, 503, 500, 502, 504, 201]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 6, "once delivered, never again");

    // Six failures: dead-lettered, nothing more.
    receiver.answer_next(&[500; 6]);
    ann_ws.sent(&dm, "r2", "never arrives").await?;
    receiver.wait_for(12, WAIT).await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        receiver.received().len(),
        12,
        "no attempt past push_attempts"
    );
    assert_eq!(
        gw.metric("parley_push_total{result=\"dead\"}").await?,
        Some(1.0)
    );
    assert_eq!(api.push_devices(&ben).await?[0]["failures"], 6);

    // Gone: the device is forgotten.
    receiver.answer_next(&[410]);
    ann_ws.sent(&dm, "r3", "gone").await?;
    receiver.wait_for(13, WAIT).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let devices = api.push_devices(&ben).await?;
    assert!(devices.is_empty(), "{devices:?}");
    Ok(())
}

#[tokio::test]
async fn a_delivery_failing_across_a_restart_goes_out_once_with_its_key() -> anyhow::Result<()> {
    let receiver = WebhookReceiver::start().await?;
    let mut gw = start(&receiver).await?;
    let api = gw.api();
    let ann = api.register("restart_ann").await?;
    let ben = api.register("restart_ben").await?;
    let dm = api.dm(&ann, &ben).await?;
    api.register_push(&ben, "tok").await?;
    receiver.answer_next(&[500]);
    let post = api
        .post(
            &format!("/api/conversations/{dm}/messages"),
            Some(&ann),
            &json!({"clientMessageId": "s1", "content": "across a restart"}),
        )
        .await?;
    assert_eq!(post.status, 201);
    receiver.wait_for(1, WAIT).await?;
    gw.restart().await?;
    let got = receiver.wait_for(2, WAIT).await?;
    assert_eq!(got[0].idempotency_key, got[1].idempotency_key);
    assert_eq!(got[1].status, 201);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), 2, "delivered once");
    Ok(())
}

#[tokio::test]
async fn devices_need_push_configured_and_are_bounded() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let ann = api.register("nopush_ann").await?;
    let body = json!({"kind": "webhook", "token": "t"});
    let refused = api
        .post("/api/users/me/push-subscriptions", Some(&ann), &body)
        .await?;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body["error"]["details"]["kind"].is_array(),
        "{}",
        refused.body
    );
    drop(gw);
    let receiver = WebhookReceiver::start().await?;
    let gw = start(&receiver).await?;
    let api = gw.api();
    let ben = api.register("bound_ben").await?;
    for i in 0..10 {
        api.register_push(&ben, &format!("token-{i}")).await?;
    }
    let eleventh = api
        .post(
            "/api/users/me/push-subscriptions",
            Some(&ben),
            &json!({"kind": "webhook", "token": "token-10"}),
        )
        .await?;
    assert_eq!(eleventh.status, 400, "{}", eleventh.body);
    let bad = api
        .post(
            "/api/users/me/push-subscriptions",
            Some(&ben),
            &json!({"kind": "carrier-pigeon", "token": ""}),
        )
        .await?;
    assert_eq!(bad.status, 400);
    Ok(())
}
