// Which actions a message offers me: edit my own text within the server's edit window
// (`chat.edit_window`, 15 minutes by default; the server has the last word), delete my own, or
// anyone's in a group I own or administer; report someone else's; nothing on a deleted or system
// message. Pure.

import type { Conversation, Message } from "@parley/protocol";

export const EDIT_WINDOW_MS = 15 * 60 * 1000;

export function canEdit(message: Message, me: string, now: number): boolean {
  return (
    message.senderId === me &&
    !message.deletedAt &&
    message.contentType === "text" &&
    now - new Date(message.createdAt).getTime() < EDIT_WINDOW_MS
  );
}

export function canDelete(message: Message, me: string, conversation: Conversation): boolean {
  if (message.deletedAt || message.contentType === "system") return false;
  if (message.senderId === me) return true;
  return conversation.type === "group" && (conversation.role === "owner" || conversation.role === "admin");
}

/** Someone else's message, not deleted and not a system message, may be reported to the admins. */
export function canReport(message: Message, me: string): boolean {
  return message.senderId !== me && !message.deletedAt && message.contentType !== "system";
}

/** A one-line preview of a message for a reply's quote (at most `max` characters). */
export function quote(message: Message | undefined, max = 120): string {
  if (!message) return "Original message";
  if (message.deletedAt) return "Message deleted";
  const text = message.content.replace(/\s+/g, " ").trim() || attachmentsText(message);
  return [...text].length > max ? `${[...text].slice(0, max - 1).join("")}…` : text;
}

/** What a message without text shows in quotes and lists: `📷 Photo`, `📎 report.pdf`, `📎 3 files`. */
export function attachmentsText(message: Pick<Message, "attachments">): string {
  const list = message.attachments ?? [];
  if (list.length === 0) return "";
  if (list.length > 1) return `📎 ${list.length} files`;
  return list[0].kind === "image" ? "📷 Photo" : `📎 ${list[0].name}`;
}
