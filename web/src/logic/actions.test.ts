import { describe, expect, it } from "vitest";
import type { Conversation, Message } from "@parley/protocol";
import { testMessage } from "../test/fixtures";
import { canDelete, canEdit, canReport, EDIT_WINDOW_MS, quote } from "./actions";

const at = Date.UTC(2026, 11, 1, 12);
const message = (over: Partial<Message> = {}): Message =>
  testMessage(1, { id: "m1", conversationId: "c1", senderId: "me", content: "hello", clientMessageId: "k1", createdAt: new Date(at).toISOString(), ...over });
const conversation = (type: Conversation["type"], role: Conversation["role"]) =>
  ({ type, role }) as unknown as Conversation;

describe("message actions", () => {
  it.each([
    ["mine, just sent", message(), at + 1000, true],
    ["mine, window closed", message(), at + EDIT_WINDOW_MS, false],
    ["someone else's", message({ senderId: "u2" }), at + 1000, false],
    ["deleted", message({ deletedAt: new Date(at).toISOString() }), at + 1000, false],
    ["system", message({ contentType: "system" }), at + 1000, false],
  ])("edit: %s", (_, m, now, allowed) => {
    expect(canEdit(m, "me", now)).toBe(allowed);
  });

  it.each([
    ["mine in a DM", message(), conversation("dm", "member"), true],
    ["theirs in a DM", message({ senderId: "u2" }), conversation("dm", "owner"), false],
    ["theirs, I am a group member", message({ senderId: "u2" }), conversation("group", "member"), false],
    ["theirs, I am a group admin", message({ senderId: "u2" }), conversation("group", "admin"), true],
    ["theirs, I own the group", message({ senderId: "u2" }), conversation("group", "owner"), true],
    ["already deleted", message({ deletedAt: "x" }), conversation("group", "owner"), false],
  ])("delete: %s", (_, m, c, allowed) => {
    expect(canDelete(m, "me", c)).toBe(allowed);
  });

  it.each([
    ["mine", message(), false],
    ["theirs", message({ senderId: "u2" }), true],
    ["theirs, deleted", message({ senderId: "u2", deletedAt: "x" }), false],
    ["a system message", message({ senderId: "u2", contentType: "system" }), false],
  ])("report: %s", (_, m, allowed) => {
    expect(canReport(m, "me")).toBe(allowed);
  });

  it("quotes one line, shortened", () => {
    expect(quote(message({ content: "a\n\nb   c" }))).toBe("a b c");
    expect(quote(message({ content: "x".repeat(200) }), 10)).toBe(`${"x".repeat(9)}…`);
    expect(quote(undefined)).toBe("Original message");
    expect(quote(message({ deletedAt: "x" }))).toBe("Message deleted");
    const photo = { id: "att_1", name: "beach.jpg", mimeType: "image/jpeg", kind: "image" as const, size: 9, thumbnails: [] };
    const pdf = { ...photo, id: "att_2", name: "q3.pdf", mimeType: "application/pdf", kind: "file" as const };
    expect(quote(message({ content: "", attachments: [photo] }))).toBe("📷 Photo");
    expect(quote(message({ content: "", attachments: [pdf] }))).toBe("📎 q3.pdf");
    expect(quote(message({ content: "", attachments: [photo, pdf] }))).toBe("📎 2 files");
    expect(quote(message({ content: "look", attachments: [photo] }))).toBe("look");
  });
});
