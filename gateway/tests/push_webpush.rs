//! Web Push against PostgreSQL and a local push service: a browser's subscription (endpoint and
//! RFC 8291 keys) registered over REST; a message to its offline user arrives as one POST with
//! `Content-Encoding: aes128gcm`, `TTL`, `Urgency` and a VAPID `Authorization` whose ES256 token
//! verifies with the key `GET /api/push` hands browsers, for the endpoint's origin; the body
//! decrypts with the subscription's private key to the push's JSON. `410 Gone` removes the
//! subscription; endpoints outside `webpush_hosts` and malformed keys are refused.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parley_gateway::push::ece;
use parley_testkit::TestGateway;
use parley_testkit::webhook::WebhookReceiver;
use parley_testkit::ws::WsClient;
use ring::agreement;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn browsers_get_encrypted_vapid_signed_pushes() -> anyhow::Result<()> {
    let service = WebhookReceiver::start().await?;
    let gw = TestGateway::start_with(|c| {
        c.notifications.vapid_subject = "mailto:ops@example.com".to_owned();
        c.notifications.webpush_hosts = vec!["127.0.0.1".to_owned()];
        c.notifications.webpush_allow_http = true;
        c.notifications.push_interval = Duration::from_millis(50);
    })
    .await?;
    let api = gw.api();
    let ann = api.register("wp_ann").await?;
    let ben = api.register("wp_ben").await?;
    let dm = api.dm(&ann, &ben).await?;
    let channels = api.get("/api/push", Some(&ben)).await?;
    assert_eq!(channels.body["data"]["webhook"], false);
    let vapid_key = channels.body["data"]["vapidPublicKey"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(URL_SAFE_NO_PAD.decode(&vapid_key)?.len(), 65);

    // The browser's subscription: a P-256 key pair and a 16-byte auth secret.
    let rng = SystemRandom::new();
    let ua = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
        .map_err(|_| anyhow::anyhow!("key"))?;
    let ua_public = ua
        .compute_public_key()
        .map_err(|_| anyhow::anyhow!("public key"))?
        .as_ref()
        .to_vec();
    let mut auth = [0u8; 16];
    rng.fill(&mut auth).map_err(|_| anyhow::anyhow!("random"))?;
    let endpoint = format!("{}/wp/ben-1", service.url());
    let subscription = json!({"kind": "webpush", "endpoint": endpoint, "label": "Firefox",
        "keys": {"p256dh": URL_SAFE_NO_PAD.encode(&ua_public), "auth": URL_SAFE_NO_PAD.encode(auth)}});
    let made = api
        .post(
            "/api/users/me/push-subscriptions",
            Some(&ben),
            &subscription,
        )
        .await?;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(made.body["data"]["kind"], "webpush");

    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    ann_ws.sent(&dm, "w1", "lunch at noon?").await?;
    let got = service.wait_for(1, WAIT).await?;
    let push = &got[0];
    assert_eq!(push.path, "/hook/wp/ben-1");
    assert_eq!(push.header("content-encoding"), "aes128gcm");
    assert_eq!(push.header("ttl"), "86400");
    assert_eq!(push.header("urgency"), "normal");

    // VAPID: an ES256 token for this origin, verified with the key browsers subscribe with.
    let authorization = push.header("authorization");
    let (token, k) = authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .ok_or_else(|| anyhow::anyhow!("authorization: {authorization}"))?;
    assert_eq!(k, vapid_key);
    let (signed, sig) = token.rsplit_once('.').unwrap_or_default();
    signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_FIXED,
        URL_SAFE_NO_PAD.decode(k)?,
    )
    .verify(signed.as_bytes(), &URL_SAFE_NO_PAD.decode(sig)?)
    .map_err(|_| anyhow::anyhow!("the VAPID token does not verify"))?;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD.decode(signed.split('.').nth(1).unwrap_or_default())?,
    )?;
    let origin = service.url().trim_end_matches("/hook").to_owned();
    assert_eq!(claims["aud"], origin.as_str());
    assert_eq!(claims["sub"], "mailto:ops@example.com");

    // The body decrypts to the push.
    let plain = ece::decrypt(ua, &ua_public, &auth, &push.raw)?;
    let message: Value = serde_json::from_slice(&plain)?;
    assert_eq!(message["title"], "wp_ann");
    assert_eq!(message["body"], "lunch at noon?");
    assert_eq!(message["conversationId"], dm.as_str());

    // Gone: the subscription is removed.
    service.answer_next(&[410]);
    ann_ws.sent(&dm, "w2", "still there?").await?;
    service.wait_for(2, WAIT).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let devices = api.push_devices(&ben).await?;
    assert!(devices.is_empty(), "{devices:?}");

    // Refused: a host that is not a push service, keys that are not keys.
    let elsewhere = json!({"kind": "webpush", "endpoint": "https://internal.example/x",
        "keys": {"p256dh": URL_SAFE_NO_PAD.encode(&ua_public), "auth": URL_SAFE_NO_PAD.encode(auth)}});
    let refused = api
        .post("/api/users/me/push-subscriptions", Some(&ben), &elsewhere)
        .await?;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body["error"]["details"]["endpoint"].is_array(),
        "{}",
        refused.body
    );
    let bad_keys = json!({"kind": "webpush", "endpoint": endpoint,
        "keys": {"p256dh": "AAAA", "auth": "short"}});
    let refused = api
        .post("/api/users/me/push-subscriptions", Some(&ben), &bad_keys)
        .await?;
    assert_eq!(refused.status, 400);
    assert!(refused.body["error"]["details"]["keys.p256dh"].is_array());
    assert!(refused.body["error"]["details"]["keys.auth"].is_array());
    Ok(())
}
