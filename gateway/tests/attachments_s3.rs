//! `uploads.store = "s3"`: the bytes go to an S3-compatible bucket (moto's S3 server, over real
//! signed HTTP), nothing stays on the local disk, and every reader of the local store's tests
//! gets the same answers: the image stripped and its thumbnails, ranges, the non-member's 404.
//! Two instances over one database and one bucket serve each other's uploads; the sweep removes
//! from the bucket what no upload holds any more.

use parley_testkit::files::{self, GPS_MARK};
use parley_testkit::fleet::TestFleet;
use parley_testkit::s3::TestS3;
use serde_json::json;

fn s3_config(c: &mut parley_shared::Config, s3: &TestS3) {
    c.uploads.store = "s3".to_owned();
    c.uploads.s3_endpoint = s3.endpoint();
    c.uploads.s3_bucket = s3.bucket.clone();
    c.uploads.s3_prefix = "parley/".to_owned();
    c.uploads.s3_access_key_id = "test".to_owned();
    c.uploads.s3_secret_access_key = "test-secret".to_owned();
    c.uploads.s3_allow_http = true;
}

#[tokio::test]
async fn attachments_live_in_the_bucket() -> anyhow::Result<()> {
    let s3 = TestS3::start("parley-test").await?;
    let fleet = TestFleet::start(2, |c| {
        s3_config(c, &s3);
        c.uploads.sweep_interval = std::time::Duration::from_millis(200);
    })
    .await?;
    let api = fleet.api(0);
    let (ann, ben, cat) = (
        api.register("s3_ann").await?,
        api.register("s3_ben").await?,
        api.register("s3_cat").await?,
    );
    let dm = api.dm(&ann, &ben).await?;
    let photo = api
        .upload(&ann, "pier.jpg", files::jpeg_with_gps(1600, 900)?)
        .await?;
    assert_eq!(photo.status, 201, "{}", photo.body);
    let photo = photo.body["data"].clone();
    assert_eq!(photo["thumbnails"], json!([320, 1280]));
    let id = photo["id"].as_str().unwrap_or_default().to_owned();
    let sent = api
        .post(
            &format!("/api/conversations/{dm}/messages"),
            Some(&ann),
            &json!({"clientMessageId": "s3-1", "attachments": [id]}),
        )
        .await?;
    assert_eq!(sent.status, 201, "{}", sent.body);

    // In the bucket (the blob and two thumbnails), not on the local disk.
    let keys = s3.keys().await?;
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(
        keys.iter().all(|k| k.starts_with("parley/blobs/")),
        "{keys:?}"
    );
    let local = fleet.data_dir().join("files/blobs");
    assert!(!local.exists() || std::fs::read_dir(&local)?.next().is_none());

    let got = api
        .get(&format!("/api/attachments/{id}"), Some(&ben))
        .await?;
    assert_eq!(got.status, 200);
    assert!(!got.raw.windows(GPS_MARK.len()).any(|w| w == GPS_MARK));
    assert_eq!(files::dimensions(&got.raw)?, (1600, 900));
    let part = api
        .get_with(
            &format!("/api/attachments/{id}"),
            &ben,
            &[("range", "bytes=2-5")],
        )
        .await?;
    assert_eq!((part.status.as_u16(), &part.raw[..]), (206, &got.raw[2..6]));
    let thumb = api
        .get(&format!("/api/attachments/{id}/thumbnails/320"), Some(&ben))
        .await?;
    assert_eq!(files::dimensions(&thumb.raw)?, (320, 180));
    assert_eq!(
        api.get(&format!("/api/attachments/{id}"), Some(&cat))
            .await?
            .status,
        404
    );

    // The other instance, on the same database and bucket, serves the same bytes.
    let there = fleet
        .api(1)
        .get(&format!("/api/attachments/{id}"), Some(&ben))
        .await?;
    assert_eq!((there.status.as_u16(), &there.raw), (200, &got.raw));

    // Deleting the message lets the sweep take its files out of the bucket.
    let message = sent.body["data"]["id"].as_str().unwrap_or_default();
    let deleted = api
        .delete(&format!("/api/messages/{message}"), Some(&ann))
        .await?;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !s3.keys().await?.is_empty() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the sweep left {:?}",
            s3.keys().await?
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(())
}
