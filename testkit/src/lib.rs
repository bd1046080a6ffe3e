//! Shared helpers for Parley's tests: throwaway PostgreSQL clusters ([`TestCluster`]), a gateway on
//! `127.0.0.1:0` ([`TestGateway`]) and a plain HTTP client ([`http`]). Tests use these instead of
//! copying set-up code between files.

pub mod api;
pub mod cluster;
pub mod gateway;
pub mod http;
pub mod process;
pub mod raw;
pub mod tls;
pub mod ws;

pub use api::{Api, TestUser};
pub use cluster::{TestCluster, scratch_dir};
pub use gateway::TestGateway;
