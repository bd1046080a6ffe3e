// The shapes of docs/protocol.md (protocol v1), as the client sees them.

export interface Reaction {
  emoji: string;
  count: number;
  userIds: string[];
}

export interface Message {
  id: string;
  conversationId: string;
  senderId: string;
  seq: number;
  content: string;
  contentType: "text" | "system" | "image" | "file";
  replyTo: string | null;
  clientMessageId: string;
  createdAt: string;
  editedAt: string | null;
  deletedAt: string | null;
  /** Members it mentions by @username (never the sender). */
  mentions: string[];
  /** @everyone by a group's owner or admin. */
  mentionsEveryone: boolean;
  /** `urgent`: it broke through the recipients' mutes and do-not-disturb (a copy kept by an
   * older client may lack it: read it as `normal`). */
  priority: "normal" | "urgent";
  reactions: Reaction[];
  /** Its files and images, in the order sent (none once deleted). */
  attachments: Attachment[];
}

/** An uploaded file or image (`POST /api/uploads`), as a message shows it. */
export interface Attachment {
  id: string;
  name: string;
  /** Sniffed from the bytes. */
  mimeType: string;
  kind: "image" | "file";
  size: number;
  width?: number;
  height?: number;
  /** Thumbnail sizes (longest side) at /api/attachments/{id}/thumbnails/{size}. */
  thumbnails: (320 | 1280)[];
}

export interface Member {
  userId: string;
  username: string;
  displayName: string;
  role: "owner" | "admin" | "member";
  joinedAt: string;
  lastReadSeq: number;
}

export interface Conversation {
  id: string;
  type: "dm" | "group";
  name: string | null;
  /** A group's description. */
  description: string | null;
  /** How long this conversation keeps its messages, seconds (null: as the server does). */
  retentionSeconds: number | null;
  ownerId: string | null;
  createdAt: string;
  lastActivityAt: string;
  lastSeq: number;
  role: "owner" | "admin" | "member";
  lastReadSeq: number;
  unreadCount: number;
  /** Unread messages that mention the caller (at most 1000). */
  mentionCount: number;
  memberCount: number;
  members: Member[];
  lastMessage: Message | null;
  /** My level and mute there (a copy kept by an older client may lack it: read it as "all"). */
  notifications: ConversationNotifications;
}

/** A member's notification preferences for one conversation. */
export interface ConversationNotifications {
  level: "all" | "mentions" | "off";
  mutedUntil: string | null;
  /** The mute covers this moment. */
  muted: boolean;
}

export interface User {
  id: string;
  username: string;
  displayName: string;
  createdAt: string;
  lastSeenAt: string | null;
  status?: "online" | "away" | "dnd" | "offline" | "unknown";
}

export interface Me extends User {
  email: string | null;
  /** A server admin (granted with `parley admin grant`): the client offers the moderation tools. */
  isAdmin: boolean;
}

/** The error catalog's codes (docs/protocol.md, "Errors"). */
export type ErrorCode =
  | "VALIDATION_ERROR"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "METHOD_NOT_ALLOWED"
  | "CONFLICT"
  | "RATE_LIMITED"
  | "PAYLOAD_TOO_LARGE"
  | "REQUEST_TIMEOUT"
  | "DB_ERROR"
  | "OVERLOADED"
  | "INTERNAL_ERROR";

export interface ErrorBody {
  /** A catalog code; the client itself adds TIMEOUT and DISCONNECTED for requests that got no
   * answer. */
  code: ErrorCode | "TIMEOUT" | "DISCONNECTED";
  message: string;
  retryable: boolean;
  retryAfter?: number;
  details?: Record<string, string[]>;
}

/** One server frame. */
export interface Frame<T = unknown> {
  event: string;
  id?: string;
  data: T;
}

export interface ServerEvents {
  "auth:success": { userId: string; expiresAt: string };
  "auth:error": ErrorBody;
  "message:sent": { clientMessageId: string; message: Message };
  "message:received": { message: Message };
  "message:error": ErrorBody & { clientMessageId?: string };
  "message:edited": { message: Message };
  "message:deleted": { message: Message };
  "message:reacted": { messageId: string; conversationId: string; reactions: Reaction[] };
  "receipt:updated": { conversationId: string; userId: string; seq: number; readAt: string };
  "receipt:count": { conversationId: string; messageId: string; readCount: number };
  "notification:badge": {
    conversationId: string;
    unreadCount: number;
    totalUnread: number;
    mentionCount: number;
    totalMentions: number;
  };
  "notification:toast": {
    conversationId: string;
    messageId: string;
    senderId: string;
    title: string;
    body: string;
    count: number;
    priority: "normal" | "urgent";
  };
  "presence:update": { userId: string; status: "online" | "away" | "dnd" | "offline" | "unknown"; lastSeenAt: string | null };
  "presence:status": { status: "online" | "away" | "dnd" };
  "presence:subscribed": { users: { userId: string; status: "online" | "away" | "dnd" | "offline" | "unknown"; lastSeenAt: string | null }[] };
  "typing:started": { conversationId: string; userId: string };
  "typing:stopped": { conversationId: string; userId: string };
  "sync:response": {
    conversationId: string;
    messages: Message[];
    changes: Message[];
    hasMore: boolean;
    tooLarge: boolean;
    lastSeq: number;
    unreadCount: number;
    /** Messages at or below this seq were deleted by retention (0: none). */
    expiredThroughSeq: number;
  };
  "conversation:created": { conversationId: string; name: string | null; ownerId: string | null; by: string | null };
  "conversation:member_added": { conversationId: string; member: Member; by: string };
  "conversation:member_removed": { conversationId: string; userId: string; by: string };
  "conversation:updated": {
    conversationId: string;
    name: string | null;
    description: string | null;
    ownerId: string | null;
    /** Members whose role changed, as they now are. */
    members: Member[];
    by: string;
  };
  "conversation:deleted": { conversationId: string; by: string };
  subscribed: { conversationId: string };
  unsubscribed: { conversationId: string };
  pong: Record<string, never>;
  error: ErrorBody;
}

export type ServerEvent = keyof ServerEvents;

/** Close codes (docs/protocol.md, "Close codes"). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  /** This instance restarts; another takes the client: reconnect at once (spread a little). */
  serviceRestart: 1012,
  unauthorized: 4401,
  silent: 4408,
  resync: 4409,
  tooMany: 4429,
} as const;
