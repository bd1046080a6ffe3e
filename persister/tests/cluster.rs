//! The embedded cluster, migrations, schema rules and the durability check, on real PostgreSQL.

use std::time::Duration;

use parley_persister::db;
use parley_persister::embedded::find_binaries;
use parley_persister::migrate::{self, MIGRATIONS};
use parley_persister::{DbError, EmbeddedError, MigrateError};
use parley_testkit::TestCluster;

#[tokio::test]
async fn embedded_cluster_stops_and_restarts_with_its_data() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start().await?;
    let client = cluster.client().await?;
    client
        .batch_execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
        .await?;
    drop(client);

    cluster.pg_mut().stop()?;
    assert!(!cluster.pg_mut().is_running());
    assert!(
        cluster.client().await.is_err(),
        "a stopped server must refuse connections"
    );

    cluster.pg_mut().restart(Duration::from_secs(60))?;
    assert!(cluster.pg_mut().is_running());
    let client = cluster.client().await?;
    let value: String = client.query_one("SELECT v FROM kept", &[]).await?.get(0);
    assert_eq!(value, "still here");
    Ok(())
}

#[tokio::test]
async fn migrations_apply_once_even_when_run_concurrently() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let mut a = cluster.client().await?;
    let mut b = cluster.client().await?;
    let (first, second) = tokio::join!(migrate::migrate(&mut a), migrate::migrate(&mut b));
    let (first, second) = (first?, second?);
    let latest = migrate::latest_version();
    assert_eq!(first.version, latest);
    assert_eq!(second.version, latest);
    let mut applied = [first.applied, second.applied].concat();
    applied.sort_unstable();
    let every: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(
        applied, every,
        "each migration applied by exactly one of the runs"
    );

    let again = migrate::migrate(&mut a).await?;
    assert!(again.applied.is_empty());
    let rows: i64 = a
        .query_one("SELECT count(*) FROM parley_migrations", &[])
        .await?
        .get(0);
    assert_eq!(rows, MIGRATIONS.len() as i64);
    assert_eq!(migrate::applied_version(&a).await?, latest);
    Ok(())
}

#[tokio::test]
async fn edited_or_unknown_migrations_are_refused() -> anyhow::Result<()> {
    let cluster = TestCluster::migrated().await?;
    let mut client = cluster.client().await?;
    client
        .execute(
            "UPDATE parley_migrations SET checksum = 'edited' WHERE version = 1",
            &[],
        )
        .await?;
    let err = migrate::migrate(&mut client)
        .await
        .expect_err("checksum differs");
    assert!(
        matches!(err, MigrateError::Modified { version: 1, .. }),
        "{err}"
    );

    client
        .batch_execute(&format!(
            "UPDATE parley_migrations SET checksum = '{}' WHERE version = 1;
             INSERT INTO parley_migrations (version, name, checksum) VALUES (9999, 'future', 'x')",
            migrate::checksum(MIGRATIONS[0].sql)
        ))
        .await?;
    let err = migrate::migrate(&mut client)
        .await
        .expect_err("newer schema");
    assert!(
        matches!(err, MigrateError::Newer { version: 9999, .. }),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn unsafe_durability_is_refused_unless_allowed() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let client = cluster.client().await?;
    db::check_durability(&client, false).await?;
    client
        .batch_execute("ALTER SYSTEM SET synchronous_commit = off")
        .await?;
    client.batch_execute("SELECT pg_reload_conf()").await?;
    // A reload reaches sessions at their next command; a new session sees it for sure.
    let client = cluster.client().await?;
    let err = db::check_durability(&client, false)
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            DbError::UnsafeDurability {
                setting: "synchronous_commit",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("--allow-unsafe-durability"));
    db::check_durability(&client, true).await?;
    Ok(())
}

#[test]
fn missing_server_binaries_say_how_to_install_them() {
    let err = find_binaries(Some(std::path::Path::new("/nonexistent/pg/bin")))
        .expect_err("nothing there");
    assert!(matches!(err, EmbeddedError::NoBinaries { .. }));
    let text = err.to_string();
    assert!(text.contains("apt-get install postgresql"), "{text}");
    assert!(text.contains("/nonexistent/pg/bin"), "{text}");
}
