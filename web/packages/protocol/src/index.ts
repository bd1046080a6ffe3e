// @parley/protocol: the client side of Parley's WebSocket protocol (docs/protocol.md), with no
// dependency on React or any framework: connect, authenticate, correlate replies, heartbeat,
// reconnect with backoff; and the wire types of every event.

export { ProtocolClient, ProtocolError } from "./client";
export type { ClientOptions, ConnectionState, SocketLike } from "./client";
export { backoffDelay, MAX_DELAY_MS } from "./backoff";
export * from "./types";
