// Pure updates of the client's cached server state, applied when WebSocket events arrive (the
// React side calls them through queryClient.setQueryData). Kept free of React so they are tested
// as tables.

import type { Attachment, Conversation, Member, Message, Reaction, ServerEvents } from "@parley/protocol";
import type { MessageStatus } from "../logic/status";

/** One conversation's loaded history, oldest first. */
export interface History {
  messages: Message[];
  /** Older messages exist before the first one loaded. */
  hasMore: boolean;
  /** Set when the loaded messages are a window around an older message (a jump): newer ones
   * exist after the last loaded and are paged in, not merged with a gap. */
  hasNewer?: boolean;
  /** Messages at or below this seq were deleted by retention (the start shows "expired"). */
  expiredThrough?: number;
}

/** A send not yet committed (or failed), shown optimistically. */
export interface Pending {
  clientMessageId: string;
  conversationId: string;
  content: string;
  /** The message this one answers, if any. */
  replyTo?: string | null;
  /** Sent as urgent. */
  urgent?: boolean;
  /** The uploads it holds (already uploaded: a resend names them again). */
  attachments?: Attachment[];
  status: MessageStatus;
  sentAt: number;
  error?: string;
}

/** Who has read how far (members' watermarks) and the group read counts pushed by the server. */
export interface Receipts {
  watermarks: Record<string, number>;
  counts: Record<string, number>;
}

/** Inserts or replaces `incoming` messages by id, keeping seq order. In a window (`hasNewer`),
 * a new message is taken only if it continues the loaded ones without a gap. */
export function mergeMessages(history: History | undefined, incoming: Message[]): History {
  const byId = new Map((history?.messages ?? []).map((m) => [m.id, m]));
  let last = history?.messages.at(-1)?.seq ?? 0;
  for (const message of [...incoming].sort((a, b) => a.seq - b.seq)) {
    if (history?.hasNewer && !byId.has(message.id) && message.seq > last + 1) continue;
    byId.set(message.id, message);
    last = Math.max(last, message.seq);
  }
  const messages = [...byId.values()].sort((a, b) => a.seq - b.seq);
  return { messages, hasMore: history?.hasMore ?? false, hasNewer: history?.hasNewer };
}

/** Older messages loaded (a page from `before=`), put in front. */
export function prependPage(
  history: History | undefined,
  page: Message[],
  hasMore: boolean,
  expiredThrough?: number,
): History {
  return { ...mergeMessages(history, page), hasMore, ...(expiredThrough ? { expiredThrough } : {}) };
}

/** Newer messages of a window loaded (a page from `after=`), put behind; the window ends when
 * nothing newer is left. */
export function appendPage(history: History | undefined, page: Message[], hasNewer: boolean): History {
  const merged = mergeMessages(history ? { ...history, hasNewer: false } : history, page);
  return { ...merged, hasNewer: hasNewer || undefined };
}

/** A message's reactions changed. */
export function setReactions(history: History | undefined, messageId: string, reactions: Reaction[]): History | undefined {
  if (!history) return history;
  return {
    ...history,
    messages: history.messages.map((m) => (m.id === messageId ? { ...m, reactions } : m)),
  };
}

/** A committed message: the conversation moves to the top with it as its last message. */
export function conversationsWithMessage(list: Conversation[] | undefined, message: Message): Conversation[] | undefined {
  if (!list) return list;
  const index = list.findIndex((c) => c.id === message.conversationId);
  if (index < 0) return list;
  const current = list[index];
  if (current.lastMessage && current.lastMessage.seq > message.seq) return list;
  const updated: Conversation = {
    ...current,
    lastMessage: message,
    lastSeq: Math.max(current.lastSeq, message.seq),
    lastActivityAt: message.createdAt,
  };
  return [updated, ...list.slice(0, index), ...list.slice(index + 1)];
}

/** A badge: the server's unread and mention counts for one conversation. */
export function conversationsWithBadge(
  list: Conversation[] | undefined,
  conversationId: string,
  unreadCount: number,
  mentionCount: number,
): Conversation[] | undefined {
  return list?.map((c) => (c.id === conversationId ? { ...c, unreadCount, mentionCount } : c));
}

/** A conversation I am no longer in (left, removed, deleted): out of the list. */
export function withoutConversation(list: Conversation[] | undefined, conversationId: string): Conversation[] | undefined {
  if (!list?.some((c) => c.id === conversationId)) return list;
  return list.filter((c) => c.id !== conversationId);
}

/** Someone joined or left a group: its members and count (a member already listed is replaced). */
export function withMembership(
  conversation: Conversation | undefined,
  change: { added?: Member; removed?: string },
): Conversation | undefined {
  if (!conversation) return conversation;
  let members = conversation.members;
  let count = conversation.memberCount;
  if (change.added) {
    const added = change.added;
    if (!members.some((m) => m.userId === added.userId)) count += 1;
    members = [...members.filter((m) => m.userId !== added.userId), added];
  }
  if (change.removed && members.some((m) => m.userId === change.removed)) {
    members = members.filter((m) => m.userId !== change.removed);
    count -= 1;
  } else if (change.removed && members.length < count) {
    // Not among the members this copy lists (a list shows the first few): the count still goes.
    count -= 1;
  }
  return { ...conversation, members, memberCount: Math.max(0, count) };
}

/** A group renamed, described, or with new roles (mine included, as `role`). */
export function withGroupUpdate(
  conversation: Conversation | undefined,
  update: ServerEvents["conversation:updated"],
  me: string,
): Conversation | undefined {
  if (!conversation) return conversation;
  const changed = new Map(update.members.map((m) => [m.userId, m]));
  const mine = changed.get(me);
  return {
    ...conversation,
    name: update.name,
    description: update.description,
    ownerId: update.ownerId,
    role: mine ? mine.role : conversation.role,
    members: conversation.members.map((m) => changed.get(m.userId) ?? m),
  };
}

/** The send answered: drop it from the pending list. */
export function withoutPending(list: Pending[] | undefined, clientMessageId: string): Pending[] {
  return (list ?? []).filter((p) => p.clientMessageId !== clientMessageId);
}

/** A pending send changed status. */
export function pendingStatus(
  list: Pending[] | undefined,
  clientMessageId: string,
  status: MessageStatus,
  error?: string,
): Pending[] {
  return (list ?? []).map((p) => (p.clientMessageId === clientMessageId ? { ...p, status, error } : p));
}

/** A member's watermark moved (never backwards). */
export function withWatermark(receipts: Receipts | undefined, userId: string, seq: number): Receipts {
  const current = receipts ?? { watermarks: {}, counts: {} };
  const before = current.watermarks[userId] ?? 0;
  return { ...current, watermarks: { ...current.watermarks, [userId]: Math.max(before, seq) } };
}

/** A group read count pushed by the server (never lower than what we knew). */
export function withCount(receipts: Receipts | undefined, messageId: string, readCount: number): Receipts {
  const current = receipts ?? { watermarks: {}, counts: {} };
  const before = current.counts[messageId] ?? 0;
  return { ...current, counts: { ...current.counts, [messageId]: Math.max(before, readCount) } };
}

/** How many members other than the sender have read `message`. */
export function readCount(receipts: Receipts | undefined, message: Message): number {
  if (!receipts) return 0;
  const fromMarks = Object.entries(receipts.watermarks).filter(
    ([user, seq]) => user !== message.senderId && seq >= message.seq,
  ).length;
  return Math.max(fromMarks, receipts.counts[message.id] ?? 0);
}
