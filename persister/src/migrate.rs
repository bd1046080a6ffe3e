//! Schema migrations: the files in `migrations/`, compiled in, applied in order exactly once and
//! recorded in `parley_migrations` with a checksum so an edited migration is caught.

use tokio_postgres::Client;

use crate::error::{DbError, MigrateError};

/// One migration file, `migrations/NNNN_name.sql`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. A test checks this list against the files in `migrations/`.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "hot_path",
        sql: include_str!("../../migrations/0002_hot_path.sql"),
    },
    Migration {
        version: 3,
        name: "sessions",
        sql: include_str!("../../migrations/0003_sessions.sql"),
    },
    Migration {
        version: 4,
        name: "member_version",
        sql: include_str!("../../migrations/0004_member_version.sql"),
    },
    Migration {
        version: 5,
        name: "client_key",
        sql: include_str!("../../migrations/0005_client_key.sql"),
    },
    Migration {
        version: 6,
        name: "people_search",
        sql: include_str!("../../migrations/0006_people_search.sql"),
    },
    Migration {
        version: 7,
        name: "mentions",
        sql: include_str!("../../migrations/0007_mentions.sql"),
    },
    Migration {
        version: 8,
        name: "notification_preferences",
        sql: include_str!("../../migrations/0008_notification_preferences.sql"),
    },
    Migration {
        version: 9,
        name: "urgent",
        sql: include_str!("../../migrations/0009_urgent.sql"),
    },
    Migration {
        version: 10,
        name: "push",
        sql: include_str!("../../migrations/0010_push.sql"),
    },
    Migration {
        version: 11,
        name: "webpush",
        sql: include_str!("../../migrations/0011_webpush.sql"),
    },
    Migration {
        version: 12,
        name: "mfa",
        sql: include_str!("../../migrations/0012_mfa.sql"),
    },
    Migration {
        version: 13,
        name: "blocks",
        sql: include_str!("../../migrations/0013_blocks.sql"),
    },
    Migration {
        version: 14,
        name: "moderation",
        sql: include_str!("../../migrations/0014_moderation.sql"),
    },
    Migration {
        version: 15,
        name: "groups",
        sql: include_str!("../../migrations/0015_groups.sql"),
    },
    Migration {
        version: 16,
        name: "privacy",
        sql: include_str!("../../migrations/0016_privacy.sql"),
    },
    Migration {
        version: 17,
        name: "retention",
        sql: include_str!("../../migrations/0017_retention.sql"),
    },
    Migration {
        version: 18,
        name: "attachments",
        sql: include_str!("../../migrations/0018_attachments.sql"),
    },
];

/// Serialises concurrent `migrate` runs (several processes starting at once).
const LOCK_KEY: i64 = 0x7061_726c_6579; // "parley"

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this run, in order.
    pub applied: Vec<i32>,
    /// The schema version after the run.
    pub version: i32,
}

/// The newest version this build knows.
pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// A stable checksum of a migration's text (FNV-1a 64, hex).
pub fn checksum(sql: &str) -> String {
    let hash = sql.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// The highest applied version, 0 when nothing is (or the bookkeeping table is missing).
pub async fn applied_version(client: &Client) -> Result<i32, DbError> {
    let row = client
        .query_one(
            "SELECT CASE WHEN to_regclass('parley_migrations') IS NULL THEN 0 \
             ELSE (SELECT coalesce(max(version), 0) FROM parley_migrations) END",
            &[],
        )
        .await;
    match row {
        Ok(row) => Ok(row.get(0)),
        // The table was dropped between the two halves of the statement: nothing applied.
        Err(error) if error.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
            Ok(0)
        }
        Err(error) => Err(DbError::Query(error)),
    }
}

/// Applies every migration not yet applied, in one transaction, under an advisory lock.
pub async fn migrate(client: &mut Client) -> Result<MigrationReport, MigrateError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    // "relation already exists, skipping" is not news.
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS parley_migrations (
             version    integer PRIMARY KEY,
             name       text        NOT NULL,
             checksum   text        NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let rows = tx
        .query(
            "SELECT version, name, checksum FROM parley_migrations ORDER BY version",
            &[],
        )
        .await?;
    let latest = latest_version();
    let mut version = 0;
    for row in &rows {
        let applied_version: i32 = row.get(0);
        let name: String = row.get(1);
        let applied_sum: String = row.get(2);
        let Some(known) = MIGRATIONS.iter().find(|m| m.version == applied_version) else {
            return Err(MigrateError::Newer {
                version: applied_version,
                latest,
            });
        };
        let current = checksum(known.sql);
        if current != applied_sum {
            return Err(MigrateError::Modified {
                version: applied_version,
                name,
                applied: applied_sum,
                current,
            });
        }
        version = version.max(applied_version);
    }
    let mut applied = Vec::new();
    let already = version;
    for migration in MIGRATIONS.iter().filter(|m| m.version > already) {
        tx.batch_execute(migration.sql)
            .await
            .map_err(|source| MigrateError::Failed {
                version: migration.version,
                name: migration.name,
                source,
            })?;
        tx.execute(
            "INSERT INTO parley_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[
                &migration.version,
                &migration.name,
                &checksum(migration.sql),
            ],
        )
        .await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
        applied.push(migration.version);
        version = migration.version;
    }
    tx.commit().await?;
    Ok(MigrationReport { applied, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.name))
            .collect();
        assert_eq!(
            files, listed,
            "MIGRATIONS must list every file in migrations/, in order"
        );
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                migration.version,
                index as i32 + 1,
                "versions are 1, 2, 3, ..."
            );
        }
    }

    #[test]
    fn checksum_is_stable() {
        assert_eq!(checksum(""), "cbf29ce484222325");
        assert_ne!(checksum("a"), checksum("b"));
    }
}
