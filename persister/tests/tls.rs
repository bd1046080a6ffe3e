//! PostgreSQL over TLS: a cluster the test starts with `ssl = on`, listening on TCP, with a
//! certificate the test makes; `sslmode` and `sslrootcert` in the URL decide how the server is
//! checked (`require`, `verify-ca`, `verify-full`), for one connection and for a pool.

use std::time::Duration;

use parley_persister::db;
use parley_testkit::tls::{TestCa, free_port};
use parley_testkit::{TestCluster, scratch_dir};

async fn encrypted(url: &str) -> anyhow::Result<bool> {
    let config = db::parse_url(url, Duration::from_secs(5))?;
    let client = db::connect(&config).await?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

#[tokio::test]
async fn sslmode_and_sslrootcert_decide_how_the_server_is_checked() -> anyhow::Result<()> {
    let dir = scratch_dir("tls")?;
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs)?;
    let owner = parley_persister::embedded::server_account()?;
    let ca = TestCa::new("Parley test CA")?;
    let server = ca.server(&["localhost", "127.0.0.1"], &certs, "server", owner)?;
    let ca_file = certs.join("ca.pem");
    ca.write(&ca_file)?;
    let stranger = TestCa::new("Someone else's CA")?;
    let stranger_file = certs.join("stranger.pem");
    stranger.write(&stranger_file)?;
    let port = free_port()?;
    let _cluster = TestCluster::start_with(dir.join("cluster"), |options| {
        options.port = port;
        options.settings = vec![
            (
                "listen_addresses".to_owned(),
                "127.0.0.1,127.0.0.2".to_owned(),
            ),
            ("ssl".to_owned(), "on".to_owned()),
            (
                "ssl_cert_file".to_owned(),
                server.cert.display().to_string(),
            ),
            ("ssl_key_file".to_owned(), server.key.display().to_string()),
        ];
    })
    .await?;
    let base = format!("host=127.0.0.1 port={port} user=parley dbname=postgres");
    let ca = ca_file.display();
    let stranger = stranger_file.display();
    let url = |host: &str, query: &str| format!("postgres://parley@{host}:{port}/postgres?{query}");

    assert!(
        encrypted(&format!("{base} sslmode=require")).await?,
        "require: encrypted"
    );
    assert!(encrypted(&format!("{base} sslmode=verify-ca sslrootcert={ca}")).await?);
    assert!(
        encrypted(&url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={ca}")
        ))
        .await?
    );
    assert!(
        encrypted(&url(
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={ca}")
        ))
        .await?
    );
    assert!(
        !encrypted(&format!("{base} sslmode=disable")).await?,
        "disable: plain"
    );
    assert!(
        encrypted(&base).await?,
        "libpq's default (prefer) encrypts when the server offers it"
    );

    // A certificate from another CA is refused by every verifying mode.
    for refused in [
        format!("{base} sslmode=verify-ca sslrootcert={stranger}"),
        url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={stranger}"),
        ),
        // Without sslrootcert, verify-full checks against the public roots: a private CA fails.
        url("localhost", "sslmode=verify-full"),
    ] {
        assert!(encrypted(&refused).await.is_err(), "{refused}");
    }
    // An address the certificate does not name: verify-full refuses, verify-ca accepts.
    let unnamed = url(
        "127.0.0.2",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert!(encrypted(&unnamed).await.is_err(), "{unnamed}");
    let chain_only = url("127.0.0.2", &format!("sslmode=verify-ca&sslrootcert={ca}"));
    assert!(encrypted(&chain_only).await?, "{chain_only}");

    // The pools the shards use go through the same TLS configuration.
    let config = db::parse_url(
        &url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ),
        Duration::from_secs(5),
    )?;
    assert!(config.uses_tls());
    let pool = db::pool(config, 2, Duration::from_secs(5));
    let conn = pool.get().await?;
    let row = conn
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?;
    assert!(row.get::<_, bool>(0));
    Ok(())
}
