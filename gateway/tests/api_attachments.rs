//! Files and images end to end, with real HTTP and WebSocket clients and PostgreSQL: an image and
//! a PDF uploaded, sent, delivered with their metadata (live, in history), fetched by members
//! whole, by range and as thumbnails, with the image's EXIF (GPS) gone; a non-member gets the same
//! 404 as a missing id and cannot attach another's upload; an upload attaches once (a retry with
//! the same client id returns the original); deleting the message ends access. Hostile uploads:
//! over-size, over quota, a decompression bomb, an SVG with script, HTML, an executable named
//! like a photo, an empty and a stalled body are refused or neutralised.

use std::time::Duration;

use parley_testkit::TestGateway;
use parley_testkit::api::{Api, TestUser, check_schema};
use parley_testkit::files::{self, GPS_MARK};
use parley_testkit::ws::WsClient;
use serde_json::{Value, json};

async fn uploaded(api: &Api, user: &TestUser, name: &str, bytes: Vec<u8>) -> anyhow::Result<Value> {
    let response = api.upload(user, name, bytes).await?;
    anyhow::ensure!(
        response.status == 201,
        "upload {name}: {} {}",
        response.status,
        response.body
    );
    Ok(response.body["data"].clone())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn header<'a>(response: &'a parley_testkit::http::JsonResponse, name: &str) -> &'a str {
    response
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn images_and_files_reach_members_only() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc = gw.get("/api/openapi.json").await?.body;
    let (ann, ben, cat) = (
        api.register("att_ann").await?,
        api.register("att_ben").await?,
        api.register("att_cat").await?,
    );
    let dm = api.dm(&ann, &ben).await?;
    let mut ben_ws = WsClient::authed(gw.addr(), &ben.access_token).await?;

    let photo = uploaded(&api, &ann, "beach.jpg", files::jpeg_with_gps(2000, 1000)?).await?;
    check_schema(&doc, "Attachment", &photo).map_err(anyhow::Error::msg)?;
    assert_eq!(
        (
            &photo["kind"],
            &photo["mimeType"],
            &photo["width"],
            &photo["height"],
            &photo["name"]
        ),
        (
            &json!("image"),
            &json!("image/jpeg"),
            &json!(2000),
            &json!(1000),
            &json!("beach.jpg")
        )
    );
    assert_eq!(photo["thumbnails"], json!([320, 1280]));
    let pdf = uploaded(&api, &ann, "Q3 report.pdf", files::pdf()).await?;
    assert_eq!(
        (&pdf["kind"], &pdf["mimeType"]),
        (&json!("file"), &json!("application/pdf"))
    );
    let (photo_id, pdf_id) = (
        photo["id"].as_str().unwrap_or_default(),
        pdf["id"].as_str().unwrap_or_default(),
    );

    // The owner sees an upload before sending it; nobody else does.
    assert_eq!(
        api.get(&format!("/api/attachments/{photo_id}"), Some(&ann))
            .await?
            .status,
        200
    );
    let path = format!("/api/conversations/{dm}/messages");
    let sent = api
        .post(
            &path,
            Some(&ann),
            &json!({"clientMessageId": "p1", "content": "look!", "attachments": [photo_id]}),
        )
        .await?;
    assert_eq!(sent.status, 201, "{}", sent.body);
    check_schema(&doc, "Message", &sent.body["data"]).map_err(anyhow::Error::msg)?;
    assert_eq!(
        sent.body["data"]["contentType"], "image",
        "derived: every attachment is an image"
    );
    assert_eq!(sent.body["data"]["attachments"][0], photo);
    let file_sent = api
        .post(
            &path,
            Some(&ann),
            &json!({"clientMessageId": "p2", "attachments": [pdf_id]}),
        )
        .await?;
    assert_eq!(file_sent.status, 201, "{}", file_sent.body);
    assert_eq!(
        (
            &file_sent.body["data"]["contentType"],
            &file_sent.body["data"]["content"]
        ),
        (&json!("file"), &json!(""))
    );

    // Over the WebSocket too: ben answers with an image of his own, which ann receives.
    let mut ann_ws = WsClient::authed(gw.addr(), &ann.access_token).await?;
    let reply = uploaded(&api, &ben, "reply.png", files::png_with_text(64, 64)?).await?;
    let answer = ben_ws
        .ask(
            "message:send",
            "w1",
            json!({"conversationId": dm, "clientMessageId": "w1", "attachments": [reply["id"]]}),
        )
        .await?;
    assert_eq!(answer["event"], "message:sent", "{answer}");
    assert_eq!(answer["data"]["message"]["contentType"], "image");
    assert_eq!(answer["data"]["message"]["attachments"][0], reply);
    let got_reply = ann_ws
        .expect_where("message:received", |f| {
            f["data"]["message"]["clientMessageId"] == "w1"
        })
        .await?;
    assert_eq!(
        got_reply["data"]["message"]["attachments"][0]["id"],
        reply["id"]
    );
    let bad = ben_ws
        .ask(
            "message:send",
            "w2",
            json!({"conversationId": dm, "clientMessageId": "w2", "attachments": "att_x"}),
        )
        .await?;
    assert_eq!(bad["event"], "message:error", "{bad}");

    // And in a reconnecting client's sync.
    ann_ws
        .send(&json!({"event": "sync:request", "id": "s", "data": {
            "conversations": [{"conversationId": dm, "lastSeq": 0}]
        }}))
        .await?;
    let synced = ann_ws.expect("sync:response").await?;
    let synced: Vec<&Value> = synced["data"]["messages"]
        .as_array()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    assert!(
        synced.iter().any(|m| m["attachments"][0]["id"] == photo_id),
        "{synced:?}"
    );

    // Delivered live and in history with the metadata.
    let live = ben_ws
        .expect_where("message:received", |f| {
            f["data"]["message"]["clientMessageId"] == "p1"
        })
        .await?;
    assert_eq!(live["data"]["message"]["attachments"][0]["id"], photo_id);
    let history = api.get(&path, Some(&ben)).await?;
    let listed: Vec<&Value> = history.body["data"]
        .as_array()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    assert!(
        listed.iter().any(|m| m["attachments"][0]["id"] == pdf_id),
        "{}",
        history.body
    );

    // A member gets the bytes: the image without its EXIF, inline; the PDF as a download.
    let got = api
        .get_with(&format!("/api/attachments/{photo_id}"), &ben, &[])
        .await?;
    assert_eq!(got.status, 200);
    assert_eq!(header(&got, "content-type"), "image/jpeg");
    assert!(
        header(&got, "content-disposition").starts_with("inline"),
        "{:?}",
        got.headers
    );
    assert_eq!(header(&got, "x-content-type-options"), "nosniff");
    assert!(header(&got, "content-security-policy").contains("sandbox"));
    assert!(
        !contains(&got.raw, GPS_MARK),
        "EXIF is stripped from what is served"
    );
    assert_eq!(files::dimensions(&got.raw)?, (2000, 1000));
    assert_eq!(
        got.raw.len() as i64,
        photo["size"].as_i64().unwrap_or_default()
    );
    let etag = header(&got, "etag").to_owned();
    let cached = api
        .get_with(
            &format!("/api/attachments/{photo_id}"),
            &ben,
            &[("if-none-match", &etag)],
        )
        .await?;
    assert_eq!(cached.status, 304);
    for (size, longest) in [(320, 320), (1280, 1280)] {
        let thumb = api
            .get_with(
                &format!("/api/attachments/{photo_id}/thumbnails/{size}"),
                &ben,
                &[],
            )
            .await?;
        assert_eq!(
            (thumb.status.as_u16(), header(&thumb, "content-type")),
            (200, "image/jpeg")
        );
        assert_eq!(files::dimensions(&thumb.raw)?, (longest, longest / 2));
    }
    assert_eq!(
        api.get(
            &format!("/api/attachments/{photo_id}/thumbnails/640"),
            Some(&ben)
        )
        .await?
        .status,
        404
    );
    let whole = api
        .get_with(&format!("/api/attachments/{pdf_id}"), &ben, &[])
        .await?;
    assert!(header(&whole, "content-disposition").starts_with("attachment"));
    assert!(header(&whole, "content-disposition").contains("filename*=UTF-8''Q3%20report.pdf"));
    assert_eq!(&whole.raw[..], &files::pdf()[..]);
    let part = api
        .get_with(
            &format!("/api/attachments/{pdf_id}"),
            &ben,
            &[("range", "bytes=0-7")],
        )
        .await?;
    assert_eq!(part.status, 206);
    assert_eq!(&part.raw[..], b"%PDF-1.4");
    assert_eq!(
        header(&part, "content-range"),
        format!("bytes 0-7/{}", files::pdf().len())
    );
    let tail = api
        .get_with(
            &format!("/api/attachments/{pdf_id}"),
            &ben,
            &[("range", "bytes=-6")],
        )
        .await?;
    assert_eq!(
        (tail.status.as_u16(), &tail.raw[..]),
        (206, &b"%%EOF\n"[..])
    );
    let beyond = api
        .get_with(
            &format!("/api/attachments/{pdf_id}"),
            &ben,
            &[("range", "bytes=999999-")],
        )
        .await?;
    assert_eq!(beyond.status, 416);

    // A non-member: the same 404 as for an id that does not exist.
    let theirs = api
        .get(&format!("/api/attachments/{photo_id}"), Some(&cat))
        .await?;
    let missing = api
        .get(
            "/api/attachments/att_0000000000000000000000000000ffff",
            Some(&cat),
        )
        .await?;
    assert_eq!((theirs.status.as_u16(), &theirs.body), (404, &missing.body));
    assert_eq!(
        api.get(
            &format!("/api/attachments/{photo_id}/thumbnails/320"),
            Some(&cat)
        )
        .await?
        .status,
        404
    );
    // Nobody attaches another's upload, and an upload attaches once.
    let cat_dm = api.dm(&cat, &ann).await?;
    let stolen = api
        .post(
            &format!("/api/conversations/{cat_dm}/messages"),
            Some(&cat),
            &json!({"clientMessageId": "s", "attachments": [photo_id]}),
        )
        .await?;
    assert_eq!(
        (stolen.status.as_u16(), &stolen.body["error"]["code"]),
        (400, &json!("VALIDATION_ERROR"))
    );
    let again = api
        .post(
            &path,
            Some(&ann),
            &json!({"clientMessageId": "p3", "attachments": [photo_id]}),
        )
        .await?;
    assert_eq!(again.status, 400, "{}", again.body);
    let retry = api
        .post(
            &path,
            Some(&ann),
            &json!({"clientMessageId": "p1", "content": "look!", "attachments": [photo_id]}),
        )
        .await?;
    assert_eq!(
        retry.status, 200,
        "a retry returns the original: {}",
        retry.body
    );
    assert_eq!(retry.body["data"]["id"], sent.body["data"]["id"]);

    // Search finds attachments by name and by kind, and only in the caller's conversations.
    let found = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|hit| {
                hit["message"]["clientMessageId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let mut by_name = Vec::new();
    for _ in 0..100 {
        by_name = found(
            &api.get("/api/search/messages?q=report", Some(&ben))
                .await?
                .body,
        );
        if !by_name.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(by_name, ["p2"], "a file is found by its name");
    assert_eq!(
        found(
            &api.get("/api/search/messages?q=beach", Some(&ben))
                .await?
                .body
        ),
        ["p1"]
    );
    let images = api
        .get("/api/search/messages?q=has%3Aimage", Some(&ben))
        .await?;
    assert_eq!(images.status, 200, "{}", images.body);
    assert_eq!(found(&images.body), ["w1", "p1"], "newest first");
    assert_eq!(
        found(
            &api.get("/api/search/messages?q=has%3Afile", Some(&ben))
                .await?
                .body
        ),
        ["p2"]
    );
    assert_eq!(
        found(
            &api.get("/api/search/messages?q=report%20has%3Aimage", Some(&ben))
                .await?
                .body
        ),
        Vec::<String>::new()
    );
    assert!(
        found(
            &api.get("/api/search/messages?q=has%3Aimage", Some(&cat))
                .await?
                .body
        )
        .is_empty()
    );

    // Deleting the message ends access to what it held.
    let message = sent.body["data"]["id"].as_str().unwrap_or_default();
    let deleted = api
        .delete(&format!("/api/messages/{message}"), Some(&ann))
        .await?;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["data"]["attachments"], json!([]));
    for user in [&ben, &ann] {
        assert_eq!(
            api.get(&format!("/api/attachments/{photo_id}"), Some(user))
                .await?
                .status,
            404
        );
    }
    Ok(())
}

#[tokio::test]
async fn hostile_uploads_are_refused_or_neutralised() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        c.uploads.max_bytes = 256 << 10;
        c.uploads.quota_bytes = 512 << 10;
        c.server.body_read_timeout = Duration::from_millis(500);
    })
    .await?;
    let api = gw.api();
    let (eve, bob) = (api.register("hx_eve").await?, api.register("hx_bob").await?);
    let dm = api.dm(&eve, &bob).await?;
    let path = format!("/api/conversations/{dm}/messages");

    let big = api
        .upload(&eve, "big.bin", vec![7u8; (256 << 10) + 1])
        .await?;
    assert_eq!(
        (big.status.as_u16(), &big.body["error"]["code"]),
        (413, &json!("PAYLOAD_TOO_LARGE"))
    );
    let bomb = api.upload(&eve, "bomb.png", files::png_bomb()).await?;
    assert_eq!(
        bomb.status, 400,
        "a decompression bomb is refused from its header: {}",
        bomb.body
    );
    assert!(
        bomb.body["error"]["details"]["body"][0]
            .as_str()
            .unwrap_or_default()
            .contains("100000x100000")
    );
    let empty = api.upload(&eve, "empty", Vec::new()).await?;
    assert_eq!(empty.status, 400);

    // Script-bearing files are stored but never run: text, a download, nosniff, sandboxed.
    for (name, bytes) in [
        ("logo.svg", files::SVG_WITH_SCRIPT.to_vec()),
        (
            "page.html",
            b"<html><script>alert(document.cookie)</script></html>".to_vec(),
        ),
    ] {
        let stored = uploaded(&api, &eve, name, bytes).await?;
        assert_eq!(
            (&stored["kind"], &stored["mimeType"]),
            (&json!("file"), &json!("text/plain; charset=utf-8"))
        );
        let id = stored["id"].as_str().unwrap_or_default();
        let served = api
            .get(&format!("/api/attachments/{id}"), Some(&eve))
            .await?;
        assert_eq!(header(&served, "content-type"), "text/plain; charset=utf-8");
        assert!(header(&served, "content-disposition").starts_with("attachment"));
        assert_eq!(header(&served, "x-content-type-options"), "nosniff");
        assert!(header(&served, "content-security-policy").contains("sandbox"));
    }
    // An executable named like a photo is a file, and cannot be sent as an image.
    let fake = uploaded(&api, &eve, "cat.jpg", files::executable()).await?;
    assert_eq!(
        (&fake["kind"], &fake["mimeType"]),
        (&json!("file"), &json!("application/x-executable"))
    );
    let as_image = api
        .post(
            &path,
            Some(&eve),
            &json!({"clientMessageId": "x1", "contentType": "image", "attachments": [fake["id"]]}),
        )
        .await?;
    assert_eq!(as_image.status, 400, "{}", as_image.body);
    // A PNG keeps its picture and loses its text chunk.
    let png = uploaded(&api, &eve, "dot.png", files::png_with_text(400, 300)?).await?;
    let served = api
        .get(
            &format!(
                "/api/attachments/{}",
                png["id"].as_str().unwrap_or_default()
            ),
            Some(&eve),
        )
        .await?;
    assert!(!contains(&served.raw, GPS_MARK));
    assert_eq!(files::dimensions(&served.raw)?, (400, 300));
    assert_eq!(
        png["thumbnails"],
        json!([320]),
        "only sizes smaller than the image"
    );

    // The quota counts what is stored: two of 200 KB fit in 512 KiB with the rest, a third does
    // not (for that user only).
    uploaded(&api, &eve, "a.bin", vec![1u8; 200_000]).await?;
    uploaded(&api, &eve, "b.bin", vec![2u8; 200_000]).await?;
    let over = api.upload(&eve, "c.bin", vec![3u8; 200_000]).await?;
    assert_eq!(over.status, 413, "{}", over.body);
    assert!(
        over.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("quota")
    );
    uploaded(&api, &bob, "c.bin", vec![3u8; 200_000]).await?;

    // A stalled body is cut off.
    let mut raw = tokio::net::TcpStream::connect(gw.addr()).await?;
    let head = format!(
        "POST /api/uploads?name=slow HTTP/1.1\r\nhost: x\r\nauthorization: {}\r\ncontent-length: 1000\r\n\r\nonly ten b",
        eve.bearer()
    );
    tokio::io::AsyncWriteExt::write_all(&mut raw, head.as_bytes()).await?;
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut raw, &mut answer),
    )
    .await??;
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(
        gw.metric("parley_upload_refusals_total{reason=\"slow\"}")
            .await?,
        Some(1.0)
    );
    // Nothing half-received is left behind.
    let scratch = std::fs::read_dir(gw.data_dir().join("files/tmp"))?.count();
    assert_eq!(scratch, 0);
    Ok(())
}

#[tokio::test]
async fn uploads_are_limited_per_user() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.limits.uploads = "2/1m".parse().expect("rate")).await?;
    let api = gw.api();
    let (ann, ben) = (
        api.register("lim_ann").await?,
        api.register("lim_ben").await?,
    );
    for n in 0..2u8 {
        uploaded(&api, &ann, "note.txt", vec![b'a' + n; 10]).await?;
    }
    let third = api.upload(&ann, "note.txt", b"third".to_vec()).await?;
    assert_eq!(third.status, 429, "{}", third.body);
    assert_eq!(third.body["error"]["retryable"], true);
    uploaded(&api, &ben, "note.txt", b"ben's".to_vec()).await?;
    assert_eq!(
        gw.metric("parley_upload_refusals_total{reason=\"rate_limited\"}")
            .await?,
        Some(1.0)
    );
    Ok(())
}
