//! The Parley gateway: sharded HTTP (and, with the messaging core, WebSocket) serving, plus the
//! orchestration behind the `parley` binary. Only this crate touches hyper and sockets.

pub mod admin;
mod api;
pub mod app;
pub mod auth;
mod authz;
pub mod backup;
mod body;
mod chat;
mod cluster;
pub mod fanout;
mod files;
#[doc(hidden)]
pub mod fuzzing;
#[doc(hidden)]
pub mod hot;
mod http;
mod internal;
pub mod limits;
mod listener;
pub mod logging;
pub mod metrics;
pub mod ownership;
mod permits;
mod presence;
mod privacy;
mod protocol;
mod proxy;
pub mod push;
mod retention;
pub mod serve;
mod server;
mod shard;
pub mod shutdown;
mod stack;
mod supervise;
pub mod tls;
mod transport;
mod typing;
pub mod web;
mod ws;

pub use server::{Gateway, GatewayDeps, StartError, shard_count};
pub use stack::Parley;

/// The REST API's OpenAPI 3 document, as `GET /api/openapi.json` serves it.
pub fn openapi_json() -> String {
    api::openapi_document().to_string()
}
