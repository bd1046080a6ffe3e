import { describe, expect, it } from "vitest";
import type { Conversation, Message } from "@parley/protocol";
import { testConversation, testMessage } from "../test/fixtures";
import {
  appendPage,
  conversationsWithBadge,
  conversationsWithMessage,
  mergeMessages,
  pendingStatus,
  prependPage,
  readCount,
  withCount,
  withoutPending,
  withGroupUpdate,
  withMembership,
  withoutConversation,
  withWatermark,
  type History,
} from "./cache";

const message = (seq: number, senderId = "usr_a", conversationId = "conv_1"): Message =>
  testMessage(seq, { senderId, conversationId });

const conversation = (id: string, seq: number): Conversation => testConversation(id, { lastSeq: seq });

describe("cache updates", () => {
  it("merges messages by id in seq order, once each", () => {
    let h = mergeMessages(undefined, [message(3), message(1)]);
    h = mergeMessages(h, [message(2), message(3)]);
    expect(h.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    const edited = { ...message(2), content: "edited" };
    h = mergeMessages(h, [edited]);
    expect(h.messages[1].content).toBe("edited");
    h = prependPage(h, [message(0)], false);
    expect(h.messages.map((m) => m.seq)).toEqual([0, 1, 2, 3]);
    expect(h.hasMore).toBe(false);
  });

  it("moves a conversation to the top with its newest message", () => {
    const list = [conversation("conv_1", 1), conversation("conv_2", 5)];
    const moved = conversationsWithMessage(list, message(6, "usr_a", "conv_2"))!;
    expect(moved.map((c) => c.id)).toEqual(["conv_2", "conv_1"]);
    expect(moved[0].lastSeq).toBe(6);
    // An older message (a late edit) does not replace a newer last message.
    expect(conversationsWithMessage(moved, message(2, "usr_a", "conv_2"))![0].lastMessage!.seq).toBe(6);
    const badged = conversationsWithBadge(moved, "conv_1", 4, 2)![1];
    expect([badged.unreadCount, badged.mentionCount]).toEqual([4, 2]);
  });

  it("tracks pending sends", () => {
    const pending = [
      { clientMessageId: "a", conversationId: "c", content: "x", status: "sending" as const, sentAt: 0 },
      { clientMessageId: "b", conversationId: "c", content: "y", status: "sending" as const, sentAt: 0 },
    ];
    expect(pendingStatus(pending, "b", "error", "boom")[1]).toMatchObject({ status: "error", error: "boom" });
    expect(withoutPending(pending, "a").map((p) => p.clientMessageId)).toEqual(["b"]);
  });

  it("counts readers from watermarks and pushed counts", () => {
    let r = withWatermark(undefined, "usr_b", 3);
    r = withWatermark(r, "usr_b", 2);
    expect(r.watermarks.usr_b).toBe(3);
    r = withWatermark(r, "usr_c", 5);
    r = withWatermark(r, "usr_a", 9);
    expect(readCount(r, message(3))).toBe(2);
    expect(readCount(r, message(4))).toBe(1);
    r = withCount(r, "msg_4", 3);
    expect(readCount(r, message(4))).toBe(3);
    expect(withCount(r, "msg_4", 1).counts.msg_4).toBe(3);
  });
});

describe("a window around an older message", () => {
  const window: History = { messages: [message(10), message(11), message(12)], hasMore: true, hasNewer: true };

  it("takes only what continues it, and edits of what it holds", () => {
    const live = mergeMessages(window, [message(40)]);
    expect(live.messages.map((m) => m.seq)).toEqual([10, 11, 12]);
    const edited = { ...message(11), content: "changed" };
    expect(mergeMessages(window, [edited]).messages[1].content).toBe("changed");
    // A sync from its last seq continues it in order.
    const synced = mergeMessages(window, [message(14), message(13)]);
    expect(synced.messages.map((m) => m.seq)).toEqual([10, 11, 12, 13, 14]);
    expect(synced.hasNewer).toBe(true);
  });

  it("ends when paging forward finds nothing newer", () => {
    const more = appendPage(window, [message(13), message(14)], true);
    expect(more.hasNewer).toBe(true);
    const done = appendPage(more, [message(15)], false);
    expect(done.messages.map((m) => m.seq)).toEqual([10, 11, 12, 13, 14, 15]);
    expect(done.hasNewer).toBeUndefined();
    // Live again: a new message is merged.
    expect(mergeMessages(done, [message(40)]).messages.at(-1)!.seq).toBe(40);
  });

  it("follows group changes: members in and out, renames and roles, conversations gone", () => {
    const member = (userId: string, role: "owner" | "admin" | "member" = "member") => ({
      userId,
      username: userId,
      displayName: userId,
      role,
      joinedAt: "2026-12-01T00:00:00.000Z",
      lastReadSeq: 0,
    });
    const group = { ...conversation("conv_g", 3), type: "group" as const, role: "member" as const, members: [member("ann", "owner"), member("me")], memberCount: 2 };
    const added = withMembership(group, { added: member("ben") });
    expect(added?.memberCount).toBe(3);
    expect(withMembership(added, { added: member("ben") })?.memberCount).toBe(3);
    const removed = withMembership(added, { removed: "ben" });
    expect(removed?.members.map((m) => m.userId)).toEqual(["ann", "me"]);
    expect(removed?.memberCount).toBe(2);
    // Someone a list's first-few copy does not show still leaves the count.
    expect(withMembership({ ...group, memberCount: 5 }, { removed: "zed" })?.memberCount).toBe(4);
    const handed = withGroupUpdate(
      group,
      { conversationId: "conv_g", name: "New", description: "About", ownerId: "me", members: [member("me", "owner"), member("ann", "admin")], by: "ann" },
      "me",
    );
    expect(handed?.name).toBe("New");
    expect(handed?.role).toBe("owner");
    expect(handed?.members.map((m) => m.role)).toEqual(["admin", "owner"]);
    const list = [group, conversation("conv_2", 1)];
    expect(withoutConversation(list, "conv_g")?.map((c) => c.id)).toEqual(["conv_2"]);
    expect(withoutConversation(list, "conv_x")).toBe(list);
  });
});
