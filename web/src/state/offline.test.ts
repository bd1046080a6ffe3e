import { describe, expect, it } from "vitest";
import type { Conversation, Message } from "@parley/protocol";
import { testConversation, testMessage } from "../test/fixtures";
import type { History, Pending } from "./cache";
import { OfflineState, restored, SNAPSHOT_HISTORIES, SNAPSHOT_MESSAGES, snapshotOf } from "./offline";
import { memoryStore } from "./store";

const message = (seq: number, conversationId: string): Message =>
  testMessage(seq, { id: `msg_${conversationId}_${seq}`, conversationId, createdAt: "" });

const conversation = (id: string): Conversation => testConversation(id);

const pending = (id: string, status: Pending["status"], sentAt = 1): Pending => ({
  clientMessageId: id,
  conversationId: "conv_1",
  content: `text ${id}`,
  status,
  sentAt,
});

describe("offline snapshot", () => {
  it("keeps the newest messages of the most recent conversations, bounded", () => {
    const conversations = Array.from({ length: 80 }, (_, i) => conversation(`conv_${i}`));
    const histories = new Map<string, History>(
      conversations.map((c) => [
        c.id,
        { messages: Array.from({ length: 120 }, (_, n) => message(n + 1, c.id)), hasMore: false },
      ]),
    );
    histories.set("conv_1", { messages: [], hasMore: false });
    const snap = snapshotOf(conversations, (id) => histories.get(id));
    expect(snap.conversations).toHaveLength(50);
    expect(Object.keys(snap.histories)).toHaveLength(SNAPSHOT_HISTORIES);
    expect(snap.histories.conv_1).toBeUndefined();
    const kept = snap.histories.conv_0;
    expect(kept.messages).toHaveLength(SNAPSHOT_MESSAGES);
    expect(kept.messages[0].seq).toBe(71);
    expect(kept.messages.at(-1)!.seq).toBe(120);
    // Older messages exist before the kept ones: scrolling up loads them.
    expect(kept.hasMore).toBe(true);
  });
});

describe("outbox", () => {
  it("restores pending sends with their client ids; failed ones stay failed", () => {
    const back = restored([pending("a", "sending"), pending("b", "error")], 500);
    expect(back.map((p) => [p.clientMessageId, p.status, p.sentAt])).toEqual([
      ["a", "sending", 500],
      ["b", "error", 1],
    ]);
  });

  it("survives a reload, per user and conversation, and logging out clears it", async () => {
    const store = memoryStore();
    const ann = new OfflineState(store, "usr_ann");
    const ben = new OfflineState(store, "usr_ben");
    await ann.savePending("conv_1", [pending("a", "sending"), pending("b", "sending")]);
    await ann.savePending("conv_2", [pending("c", "error")]);
    await ben.savePending("conv_1", [pending("z", "sending")]);
    await ann.saveSnapshot({ conversations: [conversation("conv_1")], histories: {} });

    // A new page (the same store): everything comes back, once.
    const again = new OfflineState(store, "usr_ann");
    const back = await again.loadPending(9);
    expect([...back.keys()].sort()).toEqual(["conv_1", "conv_2"]);
    expect(back.get("conv_1")!.map((p) => p.clientMessageId)).toEqual(["a", "b"]);
    expect((await again.loadSnapshot())?.conversations[0].id).toBe("conv_1");

    // An ack empties a conversation's outbox: its entry goes.
    await again.savePending("conv_1", []);
    expect([...(await again.loadPending(9)).keys()]).toEqual(["conv_2"]);

    await again.clear();
    expect((await again.loadPending(9)).size).toBe(0);
    expect(await again.loadSnapshot()).toBeUndefined();
    // Another user's outbox on the same device is untouched.
    expect([...(await ben.loadPending(9)).keys()]).toEqual(["conv_1"]);
  });
});
