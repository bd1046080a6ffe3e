//! `parley backup` while Parley serves, then `parley restore` into a fresh data dir: the restored
//! instance serves the same conversations, messages and attachments, and the old tokens stay
//! valid.

use std::path::Path;
use std::time::Duration;

use parley_testkit::process::{ParleyProcess, run, wait_ready};
use parley_testkit::{Api, TestUser, scratch_dir};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_parley");

/// What a user sees: their conversations and every message in each.
async fn snapshot(api: &Api, user: &TestUser) -> anyhow::Result<Vec<(String, Vec<Value>)>> {
    let list = api.get("/api/conversations?limit=100", Some(user)).await?;
    anyhow::ensure!(list.status == 200, "{}", list.body);
    let mut out = Vec::new();
    for conversation in list.body["data"].as_array().into_iter().flatten() {
        let id = conversation["id"].as_str().unwrap_or_default().to_owned();
        let history = api
            .get(
                &format!("/api/conversations/{id}/messages?after=0&limit=100"),
                Some(user),
            )
            .await?;
        let messages = history.body["data"].as_array().cloned().unwrap_or_default();
        out.push((id, messages));
    }
    Ok(out)
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_into_a_fresh_data_dir() -> anyhow::Result<()> {
    let dir = scratch_dir("cli-backup")?;
    let source = dir.join("source").display().to_string();
    let target = dir.join("target").display().to_string();
    let backup = dir.join("backup").display().to_string();
    let serve = |data: &str| {
        ParleyProcess::serve(
            Path::new(BIN),
            &["--listen", "127.0.0.1:0", "--shards", "1"],
            &[
                ("PARLEY_DATA_DIR", data),
                ("PARLEY_LIMITS__SEND", "10000/1m"),
            ],
            Duration::from_secs(120),
        )
    };
    let first = serve(&source)?;
    wait_ready(first.addr).await?;
    let api = Api { addr: first.addr };
    let (ann, ben, cat) = (
        api.register("bk_ann").await?,
        api.register("bk_ben").await?,
        api.register("bk_cat").await?,
    );
    let dm = api.dm(&ann, &ben).await?;
    let group = api.group(&ann, "Backups", &[&ben, &cat]).await?;
    for (n, conv) in [&dm, &group, &dm, &group, &dm].iter().enumerate() {
        let body = json!({"clientMessageId": format!("m{n}"), "content": format!("kept {n}")});
        let sent = api
            .post(
                &format!("/api/conversations/{conv}/messages"),
                Some(&ann),
                &body,
            )
            .await?;
        assert_eq!(sent.status, 201);
    }
    let photo = api
        .upload(
            &ann,
            "kept.png",
            parley_testkit::files::png_with_text(300, 200)?,
        )
        .await?;
    assert_eq!(photo.status, 201, "{}", photo.body);
    let photo = photo.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let body = json!({"clientMessageId": "photo", "attachments": [photo]});
    let sent = api
        .post(
            &format!("/api/conversations/{dm}/messages"),
            Some(&ann),
            &body,
        )
        .await?;
    assert_eq!(sent.status, 201, "{}", sent.body);
    let bytes = api
        .get(&format!("/api/attachments/{photo}"), Some(&ben))
        .await?
        .raw;
    let before = snapshot(&api, &ann).await?;

    let (code, _, stderr) = run(
        Path::new(BIN),
        &["backup", "--to", &backup],
        &[("PARLEY_DATA_DIR", source.as_str())],
    )?;
    assert_eq!(code, 0, "backup while serving: {stderr}");
    assert!(Path::new(&backup).join("parley.dump").is_file());
    let (code, _, stderr) = run(
        Path::new(BIN),
        &["backup", "--to", &backup],
        &[("PARLEY_DATA_DIR", source.as_str())],
    )?;
    assert_ne!(code, 0, "never over an earlier backup: {stderr}");
    first.signal("TERM")?;
    first.wait(Duration::from_secs(60))?;

    let (code, _, stderr) = run(
        Path::new(BIN),
        &["restore", "--from", &backup],
        &[("PARLEY_DATA_DIR", target.as_str())],
    )?;
    assert_eq!(code, 0, "restore: {stderr}");
    let (code, _, stderr) = run(
        Path::new(BIN),
        &["restore", "--from", &backup],
        &[("PARLEY_DATA_DIR", target.as_str())],
    )?;
    assert_ne!(code, 0, "never over a live database: {stderr}");

    let restored = serve(&target)?;
    wait_ready(restored.addr).await?;
    let api = Api {
        addr: restored.addr,
    };
    let after = snapshot(&api, &ann).await?;
    assert_eq!(
        after, before,
        "the same conversations and messages, tokens still valid"
    );
    assert_eq!(after.len(), 2);
    assert_eq!(after.iter().map(|(_, m)| m.len()).sum::<usize>(), 6);
    let restored_bytes = api
        .get(&format!("/api/attachments/{photo}"), Some(&ben))
        .await?;
    assert_eq!(restored_bytes.status, 200);
    assert_eq!(
        restored_bytes.raw, bytes,
        "the attachment's file came back too"
    );
    // And it keeps working: a new message continues the sequence.
    let body = json!({"clientMessageId": "after", "content": "after the restore"});
    let sent = api
        .post(
            &format!("/api/conversations/{dm}/messages"),
            Some(&ben),
            &body,
        )
        .await?;
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert_eq!(sent.body["data"]["seq"], 5);
    restored.signal("TERM")?;
    restored.wait(Duration::from_secs(60))?;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
