import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ProtocolClient, ProtocolError, type ConnectionState, type SocketLike } from "./client";

/** A WebSocket stand-in the test drives by hand. */
class FakeSocket implements SocketLike {
  readyState = 0;
  sent: { event: string; id?: string; data: unknown }[] = [];
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  push(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code: number) {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
}

function setup() {
  const sockets: FakeSocket[] = [];
  const states: ConnectionState[] = [];
  const asked: boolean[] = [];
  const client = new ProtocolClient({
    url: "ws://test/ws",
    getToken: async (fresh) => {
      asked.push(fresh);
      return fresh ? "token-2" : "token-1";
    },
    socket: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
    random: () => 0.5,
    heartbeatMs: 15_000,
  });
  client.onState((s) => states.push(s));
  return { client, sockets, states, asked };
}

const expires = () => new Date(Date.now() + 15 * 60_000).toISOString();

async function authenticate(socket: FakeSocket) {
  socket.open();
  await vi.waitFor(() => expect(socket.sent[0]?.event).toBe("auth"));
  socket.push({ event: "auth:success", id: "auth", data: { userId: "usr_1", expiresAt: expires() } });
}

describe("protocol client", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("authenticates, correlates replies by id and heartbeats", async () => {
    const { client, sockets, states } = setup();
    let ready = 0;
    client.onReady(() => ready++);
    client.connect();
    await authenticate(sockets[0]);
    expect(client.state).toBe("connected");
    expect(ready).toBe(1);
    expect(sockets[0].sent[0]).toEqual({ event: "auth", id: "auth", data: { token: "token-1" } });

    const answer = client.request("subscribe", { conversationId: "conv_1" });
    const id = sockets[0].sent[1].id;
    sockets[0].push({ event: "subscribed", id, data: { conversationId: "conv_1" } });
    await expect(answer).resolves.toMatchObject({ event: "subscribed" });

    const refused = client.request("message:edit", { messageId: "m", content: "x" });
    sockets[0].push({
      event: "error",
      id: sockets[0].sent[2].id,
      data: { code: "FORBIDDEN", message: "no", retryable: false },
    });
    await expect(refused).rejects.toBeInstanceOf(ProtocolError);

    vi.advanceTimersByTime(15_000);
    expect(sockets[0].sent.at(-1)?.event).toBe("presence:heartbeat");
    expect(states).toEqual(["connecting", "connected"]);
  });

  it("reconnects with backoff capped at 30 s, never gives up, and retries at once when asked", async () => {
    const { client, sockets, states } = setup();
    let ready = 0;
    client.onReady(() => ready++);
    client.connect();
    await authenticate(sockets[0]);
    const inflight = client.request("sync:request", { conversations: [] });
    sockets[0].drop(1006);
    await expect(inflight).rejects.toMatchObject({ body: { code: "DISCONNECTED" } });
    expect(client.state).toBe("reconnecting");
    vi.advanceTimersByTime(999);
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(2);
    await authenticate(sockets[1]);
    expect(ready).toBe(2);
    // The server goes away for a long time: 1, 2, 4, 8, 16, then 30 s between attempts, forever.
    sockets[1].drop(1001);
    for (const wait of [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000]) {
      expect(client.nextAttemptAt).not.toBeNull();
      vi.advanceTimersByTime(wait - 1);
      const before = sockets.length;
      vi.advanceTimersByTime(1);
      expect(sockets.length).toBe(before + 1);
      sockets.at(-1)!.drop(1006);
      expect(client.state).toBe("reconnecting");
    }
    expect(states).not.toContain("disconnected");
    // The network is back (or the tab visible again): no waiting out the 30 s.
    const before = sockets.length;
    client.retryNow();
    expect(sockets.length).toBe(before + 1);
    expect(client.nextAttemptAt).toBeNull();
    await authenticate(sockets.at(-1)!);
    expect(client.state).toBe("connected");
    // Connected: retryNow does nothing.
    client.retryNow();
    expect(sockets.length).toBe(before + 1);
    expect(client.send("typing:start", { conversationId: "c" })).toBe(true);
    client.close();
    expect(client.state).toBe("disconnected");
    expect(client.send("typing:start", { conversationId: "c" })).toBe(false);
  });

  it("reconnects at once, spread a little, when an instance restarts (1012)", async () => {
    const { client, sockets } = setup();
    let ready = 0;
    client.onReady(() => ready++);
    client.connect();
    await authenticate(sockets[0]);
    sockets[0].drop(1012);
    expect(client.state).toBe("reconnecting");
    vi.advanceTimersByTime(124);
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(2);
    await authenticate(sockets[1]);
    expect(ready).toBe(2);
  });

  it("asks for a fresh token after the server refused one (4401)", async () => {
    const { client, sockets, asked } = setup();
    client.connect();
    await authenticate(sockets[0]);
    sockets[0].drop(1006);
    vi.advanceTimersByTime(1000);
    await authenticate(sockets[1]);
    expect(asked).toEqual([false, false]);
    // Revoked (logout elsewhere, password change): the next attempt refreshes the token.
    sockets[1].drop(4401);
    vi.advanceTimersByTime(1000);
    sockets[2].open();
    await vi.waitFor(() => expect(sockets[2].sent[0]?.event).toBe("auth"));
    expect(asked).toEqual([false, false, true]);
    expect(sockets[2].sent[0]).toEqual({ event: "auth", id: "auth", data: { token: "token-2" } });
    client.close();
  });
});
