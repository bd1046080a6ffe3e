//! Shared helpers for Parley's tests: throwaway PostgreSQL clusters ([`TestCluster`]), a gateway on
//! `127.0.0.1:0` ([`TestGateway`]), several joined by Redis ([`TestFleet`], [`TestRedis`]), a
//! client that reconnects elsewhere and resends ([`chat::Resilient`]) and a plain HTTP client
//! ([`http`]). Tests use these instead of copying set-up code between files.

pub mod api;
pub mod chaos_proxy;
pub mod chat;
pub mod cluster;
pub mod files;
pub mod fleet;
pub mod gateway;
pub mod history;
pub mod http;
pub mod mutate;
pub mod pg_wire;
pub mod process;
pub mod raw;
pub mod redis;
pub mod s3;
pub mod tls;
pub mod webhook;
pub mod ws;

pub use api::{Api, TestUser};
pub use cluster::{TestCluster, scratch_dir};
pub use fleet::TestFleet;
pub use gateway::TestGateway;
pub use redis::TestRedis;
