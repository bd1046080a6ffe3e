//! Errors at the persister's boundaries: the embedded cluster, connections, migrations.

use std::path::PathBuf;
use std::time::Duration;

use parley_shared::ErrorCode;

/// Why the embedded PostgreSQL could not be set up, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found; looked in: {}. \
         Install them (Debian/Ubuntu: `apt-get install postgresql`), point database.pg_bin_dir at \
         them, or give an existing server with --database-url",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoBinaries { searched: Vec<PathBuf> },
    #[error(
        "Parley runs as root and PostgreSQL refuses to, but there is no `postgres` user to run it \
         as; install the postgresql package (it creates the user) or run Parley as a normal user"
    )]
    NoServerUser,
    #[error(
        "the `postgres` user cannot reach {dir} (it needs search permission, e.g. `chmod o+x {dir}`); \
         or choose another --data-dir"
    )]
    NotTraversable { dir: PathBuf },
    #[error("could not {action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("initdb failed: {output}")]
    InitdbFailed { output: String },
    #[error("the embedded PostgreSQL exited during start (log: {}):\n{tail}", .log.display())]
    StartFailed { log: PathBuf, tail: String },
    #[error("the embedded PostgreSQL was not ready after {after:?} (log: {})", .log.display())]
    StartTimeout { after: Duration, log: PathBuf },
    #[error("{tool} failed: {output}")]
    ToolFailed { tool: String, output: String },
}

/// Why talking to PostgreSQL failed. Each variant maps to one catalog code.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid database URL: {0}")]
    BadUrl(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database did not answer within {0:?}")]
    Timeout(Duration),
    #[error("database query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error(
        "the database runs with {setting} = {value}: an acknowledged message could be lost in a \
         crash. Turn it on, or start with --allow-unsafe-durability (benchmarks only, and say so)"
    )]
    UnsafeDurability {
        setting: &'static str,
        value: String,
    },
    #[error("schema is at version {found}, this Parley needs {wanted}: run `parley migrate`")]
    SchemaBehind { found: i32, wanted: i32 },
    #[error("stored data breaks an invariant: {0}")]
    Corrupt(String),
}

impl DbError {
    /// The catalog code a client sees for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            DbError::BadUrl(_) | DbError::UnsafeDurability { .. } | DbError::Corrupt(_) => {
                ErrorCode::InternalError
            }
            DbError::Unavailable(_)
            | DbError::Timeout(_)
            | DbError::Query(_)
            | DbError::SchemaBehind { .. } => ErrorCode::DbError,
        }
    }
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(e) => DbError::Query(e),
            other => DbError::Unavailable(other.to_string()),
        }
    }
}

/// Why migrations could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("migration {version} ({name}) failed: {source}")]
    Failed {
        version: i32,
        name: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(
        "migration {version} ({name}) was changed after it was applied (checksum {applied} in the \
         database, {current} in this build): add a new migration instead"
    )]
    Modified {
        version: i32,
        name: String,
        applied: String,
        current: String,
    },
    #[error(
        "the database has migration {version}, newer than this Parley knows ({latest}): \
         run the Parley version that applied it"
    )]
    Newer { version: i32, latest: i32 },
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(error: tokio_postgres::Error) -> Self {
        MigrateError::Db(DbError::Query(error))
    }
}
