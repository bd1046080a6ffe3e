//! An upload cut off by `kill -9` of the real binary: nothing of it is visible afterwards (no
//! blob, no upload row; its temporary file lives only in the scratch directory, which the next
//! start empties), and uploads work again after the restart.

use std::path::Path;
use std::time::Duration;

use parley_testkit::api::Api;
use parley_testkit::process::{ParleyProcess, wait_ready};
use parley_testkit::{TestCluster, scratch_dir};
use tokio::io::AsyncWriteExt;

const BIN: &str = env!("CARGO_BIN_EXE_parley");

fn serve(url: &str, data: &str) -> anyhow::Result<ParleyProcess> {
    ParleyProcess::serve(
        Path::new(BIN),
        &["--listen", "127.0.0.1:0", "--database-url", url],
        &[("PARLEY_DATA_DIR", data)],
        Duration::from_secs(60),
    )
}

/// Bytes in the files under `dir` (recursively).
fn bytes_under(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            bytes_under(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

#[tokio::test]
async fn a_kill_9_during_an_upload_leaves_no_visible_partial_file() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let url = cluster.url();
    let dir = scratch_dir("upload-crash")?;
    let data = dir.display().to_string();
    let parley = serve(&url, &data)?;
    wait_ready(parley.addr).await?;
    let api = Api { addr: parley.addr };
    let ann = api.register("crash_up_ann").await?;

    let mut raw = tokio::net::TcpStream::connect(parley.addr).await?;
    let head = format!(
        "POST /api/uploads?name=big.bin HTTP/1.1\r\nhost: x\r\nauthorization: {}\r\ncontent-length: {}\r\n\r\n",
        ann.bearer(),
        8 << 20
    );
    raw.write_all(head.as_bytes()).await?;
    raw.write_all(&vec![0x5a; 3 << 20]).await?;
    let scratch = dir.join("files/tmp");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while bytes_under(&scratch)? < 1 << 20 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the upload never reached the scratch directory"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    parley.signal("KILL")?;
    let (status, _) = parley.wait(Duration::from_secs(20))?;
    assert!(!status.success());
    drop(raw);

    let db = cluster.client().await?;
    let rows: i64 = db
        .query_one("SELECT count(*) FROM uploads", &[])
        .await?
        .get(0);
    assert_eq!(rows, 0, "no upload row for a cut-off upload");
    assert_eq!(bytes_under(&dir.join("files/blobs"))?, 0, "no blob either");

    let parley = serve(&url, &data)?;
    wait_ready(parley.addr).await?;
    assert_eq!(
        bytes_under(&scratch)?,
        0,
        "the next start empties the scratch directory"
    );
    let api = Api { addr: parley.addr };
    let done = api
        .upload(&ann, "small.txt", b"after the crash".to_vec())
        .await?;
    assert_eq!(done.status, 201, "{}", done.body);
    let id = done.body["data"]["id"].as_str().unwrap_or_default();
    let back = api
        .get(&format!("/api/attachments/{id}"), Some(&ann))
        .await?;
    assert_eq!(&back.raw[..], b"after the crash");
    parley.signal("TERM")?;
    parley.wait(Duration::from_secs(30))?;
    Ok(())
}
