//! One owner per port and per data dir: a second `parley serve` on a port or a data dir already in
//! use exits with code 2 and says who holds it, while the first keeps serving (ready, its tokens
//! valid, its embedded PostgreSQL untouched).

use std::path::Path;
use std::time::Duration;

use parley_testkit::process::{ParleyProcess, run, wait_ready};
use parley_testkit::{Api, http, scratch_dir};

const BIN: &str = env!("CARGO_BIN_EXE_parley");

#[tokio::test]
async fn a_second_serve_on_a_used_port_or_data_dir_exits_and_the_first_keeps_serving()
-> anyhow::Result<()> {
    let dir = scratch_dir("cli-owner")?;
    let first_data = dir.join("first").display().to_string();
    let other_data = dir.join("other").display().to_string();
    let first = ParleyProcess::serve(
        Path::new(BIN),
        &["--listen", "127.0.0.1:0", "--shards", "2"],
        &[("PARLEY_DATA_DIR", first_data.as_str())],
        Duration::from_secs(120),
    )?;
    wait_ready(first.addr).await?;
    let api = Api { addr: first.addr };
    let user = api.register("first_owner").await?;
    let port = first.addr.to_string();

    // The same port, another data dir: refused before it binds anything.
    let (code, _, stderr) = run(
        Path::new(BIN),
        &["serve", "--listen", &port],
        &[("PARLEY_DATA_DIR", other_data.as_str())],
    )?;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("already in use"), "{stderr}");

    // The same data dir, another port: refused, naming the holder; its PostgreSQL untouched.
    let (code, _, stderr) = run(
        Path::new(BIN),
        &["serve", "--listen", "127.0.0.1:0"],
        &[("PARLEY_DATA_DIR", first_data.as_str())],
    )?;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("in use by another Parley") && stderr.contains(&first.pid().to_string()),
        "{stderr}"
    );
    assert!(
        !stderr.contains("stopping it"),
        "never stops the live database: {stderr}"
    );
    // `migrate` on the embedded cluster of a running Parley is refused the same way.
    let (code, _, stderr) = run(
        Path::new(BIN),
        &["migrate"],
        &[("PARLEY_DATA_DIR", first_data.as_str())],
    )?;
    assert_eq!(code, 2, "{stderr}");

    // Every request still reaches the first, with its tokens, and its database answers.
    for _ in 0..20 {
        let me = api.get("/api/users/me", Some(&user)).await?;
        assert_eq!(me.status, 200, "{}", me.body);
    }
    assert_eq!(http::get(first.addr, "/health/ready").await?.status, 200);
    first.signal("TERM")?;
    let (status, stderr) = first.wait(Duration::from_secs(60))?;
    assert!(status.success(), "{stderr}");

    // Once it has stopped, the data dir and the port are free again.
    let again = ParleyProcess::serve(
        Path::new(BIN),
        &["--listen", &port],
        &[("PARLEY_DATA_DIR", first_data.as_str())],
        Duration::from_secs(120),
    )?;
    wait_ready(again.addr).await?;
    assert_eq!(api.get("/api/users/me", Some(&user)).await?.status, 200);
    again.signal("TERM")?;
    let (status, stderr) = again.wait(Duration::from_secs(60))?;
    assert!(status.success(), "{stderr}");
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
