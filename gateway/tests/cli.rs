//! The `parley` binary as a user runs it: flags, configuration errors, `serve` on the embedded
//! PostgreSQL (start, stop, restart with data kept), `serve` and `migrate` on an existing server.

use std::path::Path;
use std::time::Duration;

use parley_testkit::process::{ParleyProcess, processes_mentioning, run, wait_ready};
use parley_testkit::{TestCluster, scratch_dir};

const BIN: &str = env!("CARGO_BIN_EXE_parley");

fn bin() -> &'static Path {
    Path::new(BIN)
}

#[test]
fn version_and_help() -> anyhow::Result<()> {
    let (code, stdout, _) = run(bin(), &["--version"], &[])?;
    assert_eq!(code, 0);
    assert_eq!(
        stdout.trim(),
        format!("parley {}", env!("CARGO_PKG_VERSION"))
    );
    let (code, stdout, _) = run(bin(), &["--help"], &[])?;
    assert_eq!(code, 0);
    for word in [
        "serve",
        "migrate",
        "--listen",
        "--database-url",
        "--data-dir",
        "--shards",
        "--config",
    ] {
        assert!(stdout.contains(word), "help lacks {word}:\n{stdout}");
    }
    Ok(())
}

#[test]
fn configuration_errors_name_the_key() -> anyhow::Result<()> {
    let dir = scratch_dir("cli-config")?;
    let unknown = dir.join("unknown.toml");
    std::fs::write(&unknown, "[server]\nlisten = \"127.0.0.1:1\"\nshard = 3\n")?;
    let bad_type = dir.join("bad-type.toml");
    std::fs::write(&bad_type, "[database]\npool_size = \"lots\"\n")?;
    let unknown = unknown.display().to_string();
    let bad_type = bad_type.display().to_string();
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["--config", &unknown, "config"],
            vec![],
            "`server.shard`",
        ),
        (
            vec!["--config", &bad_type, "config"],
            vec![],
            "`database.pool_size`",
        ),
        (
            vec!["config"],
            vec![("PARLEY_SERVER__BACKLOG", "many")],
            "PARLEY_SERVER__BACKLOG",
        ),
        (
            vec!["config"],
            vec![("PARLEY_LIMITZ__SEND", "1/1m")],
            "`limitz.send`",
        ),
        (
            vec!["config"],
            vec![("PARLEY_LOG__FORMAT", "xml")],
            "`log.format`",
        ),
        (
            vec!["config", "--listen", "not-an-address"],
            vec![],
            "`server.listen`",
        ),
        (
            vec!["config"],
            vec![("PARLEY_SHARDS", "-1")],
            "`server.shards`",
        ),
        (
            vec!["config"],
            vec![("PARLEY_LOG__LEVEL", "info,[")],
            "`log.level`",
        ),
        (
            vec!["--config", "/nonexistent/parley.toml", "config"],
            vec![],
            "/nonexistent/parley.toml",
        ),
    ];
    for (args, env, expected) in cases {
        let (code, _, stderr) = run(bin(), &args, &env)?;
        assert_eq!(
            code, 2,
            "{args:?} {env:?} should be refused; stderr: {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{args:?} {env:?}: {stderr:?} should mention {expected}"
        );
    }
    let (code, stdout, _) = run(
        bin(),
        &[
            "config",
            "--shards",
            "3",
            "--database-url",
            "postgres://u:hunter2@db/parley",
        ],
        &[("PARLEY_SERVER__BACKLOG", "77")],
    )?;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("shards = 3") && stdout.contains("backlog = 77"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("hunter2"),
        "the password must be redacted: {stdout}"
    );
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

#[tokio::test]
async fn serve_runs_its_own_postgres_and_stops_it() -> anyhow::Result<()> {
    let dir = scratch_dir("cli-serve")?;
    let data_dir = dir.join("data");
    let data = data_dir.display().to_string();
    let args = ["--listen", "127.0.0.1:0", "--shards", "2"];
    let env = [("PARLEY_DATA_DIR", data.as_str())];

    let parley = ParleyProcess::serve(bin(), &args, &env, Duration::from_secs(120))?;
    wait_ready(parley.addr).await?;
    assert!(
        data_dir.join("pg/data/PG_VERSION").exists(),
        "the cluster lives in <data-dir>/pg"
    );
    let user = parley_testkit::Api { addr: parley.addr }
        .register("survivor")
        .await?;
    let secret = std::fs::metadata(data_dir.join("jwt-secret"))?;
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&secret.permissions()) & 0o777,
        0o600
    );
    assert!(
        !processes_mentioning(&data).is_empty(),
        "PostgreSQL runs from the data dir"
    );
    parley.signal("INT")?;
    let (status, stderr) = parley.wait(Duration::from_secs(60))?;
    assert!(status.success(), "exit {status}: {stderr}");
    assert!(
        stderr.contains("initialised the embedded PostgreSQL cluster"),
        "{stderr}"
    );
    assert_eq!(
        processes_mentioning(&data),
        Vec::<u32>::new(),
        "no process left behind"
    );

    // Second start: same data, no initdb, migrations already applied; logs as JSON lines.
    let env = [
        ("PARLEY_DATA_DIR", data.as_str()),
        ("PARLEY_LOG__FORMAT", "json"),
    ];
    let parley = ParleyProcess::serve(bin(), &args, &env, Duration::from_secs(120))?;
    wait_ready(parley.addr).await?;
    let me = parley_testkit::Api { addr: parley.addr }
        .get("/api/users/me", Some(&user))
        .await?;
    assert_eq!(me.status, 200, "tokens survive a restart: {}", me.body);
    parley.signal("TERM")?;
    let (status, stderr) = parley.wait(Duration::from_secs(60))?;
    assert!(status.success(), "exit {status}: {stderr}");
    assert!(
        !stderr.contains("initialised"),
        "the data must be reused: {stderr}"
    );
    assert!(
        !stderr.contains("applied migration"),
        "migrations apply once: {stderr}"
    );
    assert_eq!(processes_mentioning(&data), Vec::<u32>::new());
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

#[tokio::test]
async fn serve_and_migrate_work_against_an_existing_server() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let url = cluster.url();

    let (code, stdout, stderr) = run(bin(), &["migrate", "--database-url", &url], &[])?;
    assert_eq!(code, 0, "{stderr}");
    let all: Vec<i32> = parley_persister::migrate::MIGRATIONS
        .iter()
        .map(|m| m.version)
        .collect();
    assert!(
        stdout.contains(&format!("applied migrations {all:?}")),
        "{stdout}"
    );
    let (code, stdout, _) = run(
        bin(),
        &["migrate"],
        &[("PARLEY_DATABASE_URL", url.as_str())],
    )?;
    assert_eq!(code, 0);
    assert!(stdout.contains("up to date"), "{stdout}");

    let parley = ParleyProcess::serve(
        bin(),
        &["--listen", "127.0.0.1:0", "--database-url", &url],
        &[],
        Duration::from_secs(60),
    )?;
    wait_ready(parley.addr).await?;
    parley.signal("TERM")?;
    let (status, stderr) = parley.wait(Duration::from_secs(60))?;
    assert!(status.success(), "{stderr}");
    // Parley must leave a server it did not start running.
    assert!(cluster.client().await.is_ok());
    Ok(())
}

#[tokio::test]
async fn unsafe_durability_needs_the_flag() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let client = cluster.client().await?;
    client.batch_execute("ALTER SYSTEM SET fsync = off").await?;
    client.batch_execute("SELECT pg_reload_conf()").await?;
    let url = cluster.url();
    let (code, _, stderr) = run(bin(), &["migrate", "--database-url", &url], &[])?;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("fsync") && stderr.contains("--allow-unsafe-durability"),
        "{stderr}"
    );
    let (code, _, stderr) = run(
        bin(),
        &[
            "migrate",
            "--database-url",
            &url,
            "--allow-unsafe-durability",
        ],
        &[],
    )?;
    assert_eq!(code, 0, "{stderr}");
    Ok(())
}
