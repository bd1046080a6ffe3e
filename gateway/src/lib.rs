//! The Parley gateway: sharded HTTP (and, with the messaging core, WebSocket) serving, plus the
//! orchestration behind the `parley` binary. Only this crate touches hyper and sockets.

pub mod auth;
mod http;
pub mod limits;
mod listener;
pub mod logging;
pub mod serve;
mod server;
mod shard;
pub mod shutdown;

pub use server::{Gateway, StartError, shard_count};
