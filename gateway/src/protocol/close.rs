//! The WebSocket close codes Parley sends, and what a client should do on each (docs/protocol.md,
//! "Close codes"): 1xxx from RFC 6455, 44xx Parley's own.

/// Normal closure (the client said goodbye).
pub(crate) const NORMAL: u16 = 1000;
/// The server is shutting down: reconnect (to another instance) with backoff.
pub(crate) const GOING_AWAY: u16 = 1001;
/// This instance is restarting and another can take the client: reconnect now (through the
/// load balancer), resend unacknowledged sends with the same client ids, gap-fill by `seq`.
pub(crate) const SERVICE_RESTART: u16 = 1012;
/// A protocol violation: do not reconnect with the same behaviour.
pub(crate) const PROTOCOL: u16 = 1002;
/// A binary frame: Parley speaks JSON text only.
pub(crate) const UNSUPPORTED: u16 = 1003;
/// Text that is not UTF-8.
pub(crate) const INVALID_DATA: u16 = 1007;
/// A message above `ws.max_message_bytes`.
pub(crate) const TOO_BIG: u16 = 1009;
/// Not authenticated in time, bad token, or the token expired: get a fresh token, reconnect.
pub(crate) const UNAUTHORIZED: u16 = 4401;
/// No frame (heartbeat or other) for twice `presence.heartbeat_interval`: reconnect.
pub(crate) const SILENT: u16 = 4408;
/// Parley could not deliver everything in order (this connection fell behind): reconnect and
/// resume by `seq` (gap-fill). Nothing acknowledged is lost.
pub(crate) const RESYNC: u16 = 4409;
/// Too many connections for this user, or connecting too often: retry later.
pub(crate) const TOO_MANY: u16 = 4429;
