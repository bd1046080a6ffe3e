// Wire objects for unit tests: a message and a conversation with plain defaults, any field
// overridden.

import type { Conversation, Message } from "@parley/protocol";

/** Message `seq` of `conv_1` by `usr_a`, sent at 10:seq on 22 November 2026. */
export function testMessage(seq: number, over: Partial<Message> = {}): Message {
  return {
    id: `msg_${seq}`,
    conversationId: "conv_1",
    senderId: "usr_a",
    seq,
    content: `m${seq}`,
    contentType: "text",
    replyTo: null,
    clientMessageId: `c${seq}`,
    createdAt: new Date(2026, 10, 22, 10, seq).toISOString(),
    editedAt: null,
    deletedAt: null,
    mentions: [],
    mentionsEveryone: false,
    priority: "normal",
    reactions: [],
    attachments: [],
    ...over,
  };
}

/** A DM of two with nothing unread. */
export function testConversation(id: string, over: Partial<Conversation> = {}): Conversation {
  return {
    id,
    type: "dm",
    name: null,
    description: null,
    retentionSeconds: null,
    ownerId: null,
    createdAt: "",
    lastActivityAt: "",
    lastSeq: 0,
    role: "member",
    lastReadSeq: 0,
    unreadCount: 0,
    mentionCount: 0,
    memberCount: 2,
    members: [],
    lastMessage: null,
    notifications: { level: "all", mutedUntil: null, muted: false },
    ...over,
  };
}
