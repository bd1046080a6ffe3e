//! Everything Parley says to PostgreSQL lives here: connection settings and pools, the embedded
//! cluster, migrations, and (with the messaging core) the batched writer. No other crate holds SQL.

pub mod backup;
pub mod db;
pub mod embedded;
pub mod error;
pub mod migrate;
pub mod store;
pub mod tls;
pub mod writer;

pub use error::{DbError, EmbeddedError, MigrateError};

/// Connection settings for one PostgreSQL database.
pub use db::PgConfig;
/// A pool of connections, one per shard.
pub use deadpool_postgres::Pool;
/// One database connection (not pooled).
pub use tokio_postgres::Client;
