// The WebSocket side of docs/protocol.md: connect, authenticate (and re-authenticate before the
// token expires), correlate replies by `id`, heartbeat, and reconnect with exponential backoff
// and jitter (capped at 30 s, never giving up until `close`). It knows nothing of React; the app
// subscribes to events and to connection state, and calls `retryNow` when the network returns.

import { backoffDelay } from "./backoff";
import { CLOSE, type ErrorBody, type Frame, type ServerEvent, type ServerEvents } from "./types";

/** `disconnected` only before `connect` and after `close` (logout): otherwise the client is
 * connected or on its way back. */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "disconnected";

/** What the client needs of a WebSocket (the browser's, or a fake in tests). */
export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface ClientOptions {
  url: string;
  /** A valid access token (refreshed when needed, or always when `fresh`: the server refused the
   * last one), or null when logged out. */
  getToken: (fresh: boolean) => Promise<string | null>;
  socket?: (url: string) => SocketLike;
  random?: () => number;
  /** presence:heartbeat interval (the server closes a socket silent for twice its own). */
  heartbeatMs?: number;
  /** How long a request waits for its answer. */
  requestTimeoutMs?: number;
}

/** An `error`/`*:error` answer, or a request that got no answer. */
export class ProtocolError extends Error {
  constructor(
    public readonly body: ErrorBody,
    public readonly event: string,
  ) {
    super(body.message);
  }
}

type Handler = (data: never, frame: Frame) => void;

interface Pending {
  resolve: (frame: Frame) => void;
  reject: (error: ProtocolError) => void;
  timer: ReturnType<typeof setTimeout>;
}

const OPEN = 1;

export class ProtocolClient {
  state: ConnectionState = "disconnected";
  private socket: SocketLike | null = null;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly stateHandlers = new Set<(state: ConnectionState) => void>();
  private readonly readyHandlers = new Set<() => void>();
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private attempt = 0;
  private stopped = true;
  private everConnected = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private reauthTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the next reconnect attempt starts (epoch ms), while one is scheduled. */
  nextAttemptAt: number | null = null;
  /** The server refused our token (4401: expired, or its session was revoked): refresh it. */
  private needFreshToken = false;

  constructor(private readonly options: ClientOptions) {}

  /** Starts connecting (and keeps reconnecting until `close`). */
  connect(): void {
    this.stopped = false;
    this.open();
  }

  /** Reconnects now, with the backoff reset, if a reconnect is waiting for its turn (the network
   * came back, the tab became visible, "Retry now"); does nothing when connected or stopped. */
  retryNow(): void {
    if (this.stopped || this.reconnectTimer === null) return;
    this.attempt = 0;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.nextAttemptAt = null;
    this.open();
  }

  /** Stops for good (logout). */
  close(): void {
    this.stopped = true;
    this.clearTimers();
    this.socket?.close(CLOSE.normal, "bye");
    this.socket = null;
    this.setState("disconnected");
  }

  /** Listens to one server event; returns the unsubscribe function. */
  on<E extends ServerEvent>(event: E, handler: (data: ServerEvents[E], frame: Frame) => void): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(handler as Handler);
    return () => set.delete(handler as Handler);
  }

  onState(handler: (state: ConnectionState) => void): () => void {
    this.stateHandlers.add(handler);
    return () => this.stateHandlers.delete(handler);
  }

  /** Called after every successful (re)authentication: re-subscribe, sync, invalidate. */
  onReady(handler: () => void): () => void {
    this.readyHandlers.add(handler);
    return () => this.readyHandlers.delete(handler);
  }

  /** Sends a frame if connected; returns whether it went out. */
  send(event: string, data: unknown, id?: string): boolean {
    if (this.state !== "connected" || !this.socket || this.socket.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify(id === undefined ? { event, data } : { event, id, data }));
    return true;
  }

  /** Sends a frame and waits for the frame answering it (same `id`); errors reject. */
  request<T = unknown>(event: string, data: unknown): Promise<Frame<T>> {
    const id = `r${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError({ code: "TIMEOUT", message: "No answer", retryable: true }, event));
      }, this.options.requestTimeoutMs ?? 10_000);
      this.pending.set(id, { resolve: resolve as (f: Frame) => void, reject, timer });
      if (!this.send(event, data, id)) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new ProtocolError({ code: "DISCONNECTED", message: "Not connected", retryable: true }, event));
      }
    });
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    for (const handler of this.stateHandlers) handler(state);
  }

  private open(): void {
    if (this.stopped) return;
    this.socket?.close(CLOSE.normal, "reconnecting");
    this.setState(this.everConnected ? "reconnecting" : "connecting");
    const make = this.options.socket ?? ((url: string) => new WebSocket(url) as unknown as SocketLike);
    const socket = make(this.options.url);
    this.socket = socket;
    socket.onopen = () => void this.authenticate(socket);
    socket.onmessage = (ev) => this.receive(ev.data);
    socket.onclose = (ev) => {
      if (this.socket === socket) this.lost(ev.code);
    };
    socket.onerror = () => {};
  }

  private async authenticate(socket: SocketLike): Promise<void> {
    const fresh = this.needFreshToken;
    this.needFreshToken = false;
    let token: string | null;
    try {
      token = await this.options.getToken(fresh);
    } catch {
      // The refresh failed (network, server down): try again on the next attempt.
      this.needFreshToken = fresh;
      socket.close(CLOSE.normal, "no token");
      return;
    }
    if (socket !== this.socket) return;
    if (!token) {
      this.close();
      return;
    }
    socket.send(JSON.stringify({ event: "auth", id: "auth", data: { token } }));
  }

  private receive(raw: unknown): void {
    let frame: Frame;
    try {
      frame = JSON.parse(String(raw)) as Frame;
    } catch {
      return;
    }
    if (frame.event === "auth:success") {
      const first = this.state !== "connected";
      this.attempt = 0;
      this.everConnected = true;
      this.setState("connected");
      this.scheduleReauth((frame.data as ServerEvents["auth:success"]).expiresAt);
      this.startHeartbeat();
      if (first) for (const handler of this.readyHandlers) handler();
    }
    if (frame.id && this.pending.has(frame.id)) {
      const pending = this.pending.get(frame.id)!;
      this.pending.delete(frame.id);
      clearTimeout(pending.timer);
      if (frame.event === "error" || frame.event.endsWith(":error")) {
        pending.reject(new ProtocolError(frame.data as ErrorBody, frame.event));
      } else {
        pending.resolve(frame);
      }
    }
    for (const handler of this.handlers.get(frame.event) ?? []) {
      handler(frame.data as never, frame);
    }
  }

  /** Sends a fresh token a minute before the current one expires (the server closes with 4401 otherwise). */
  private scheduleReauth(expiresAt: string): void {
    if (this.reauthTimer) clearTimeout(this.reauthTimer);
    const wait = Math.max(5_000, new Date(expiresAt).getTime() - Date.now() - 60_000);
    this.reauthTimer = setTimeout(() => {
      const socket = this.socket;
      if (socket && this.state === "connected") void this.authenticate(socket);
    }, wait);
  }

  private startHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.send("presence:heartbeat", {}), this.options.heartbeatMs ?? 15_000);
  }

  private clearTimers(): void {
    for (const timer of [this.reconnectTimer, this.reauthTimer]) if (timer) clearTimeout(timer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.reconnectTimer = this.reauthTimer = this.heartbeatTimer = null;
    this.nextAttemptAt = null;
  }

  private lost(code: number): void {
    this.clearTimers();
    this.socket = null;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new ProtocolError({ code: "DISCONNECTED", message: "Connection lost", retryable: true }, id));
    }
    this.pending.clear();
    if (this.stopped) {
      this.setState("disconnected");
      return;
    }
    this.setState("reconnecting");
    // A revoked or expired token: getToken refreshes it on the next attempt (and a revoked
    // session's refresh fails, which logs this tab out).
    if (code === CLOSE.unauthorized) this.needFreshToken = true;
    // 1012: a rolling restart; another instance is up now. Reconnect at once, spread over a
    // quarter second so a drained instance's clients do not arrive in one burst.
    const random = this.options.random ?? Math.random;
    const delay =
      this.attempt > 0
        ? backoffDelay(this.attempt, this.options.random)
        : code === CLOSE.normal
          ? 0
          : code === CLOSE.serviceRestart
            ? Math.floor(random() * 250)
            : backoffDelay(this.attempt, this.options.random);
    this.attempt += 1;
    this.nextAttemptAt = Date.now() + delay;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.nextAttemptAt = null;
      this.open();
    }, delay);
  }
}
