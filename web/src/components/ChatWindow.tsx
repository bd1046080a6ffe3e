// One conversation: header with presence, the message list, who is typing, and the input. Opens
// a subscription (typing comes to subscribers), opens a group's info panel, loads history and the members' read watermarks,
// marks what the reader has seen as read, sends optimistically (pending until message:sent),
// and holds the reply being written (a quote above the composer) and jumps to a quoted message
// (loading older pages until it is there).

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useRef, useState } from "react";
import type { Toggle } from "../logic/reactions";
import { presenceText, typingText } from "../logic/presence";
import type { Attachment, Conversation, Message } from "@parley/protocol";
import { useMessageActions } from "../state/actions";
import {
  appendPage,
  pendingStatus,
  prependPage,
  withWatermark,
  type History,
  type Pending,
  type Receipts,
} from "../state/cache";
import type { JumpTarget } from "./ChatPage";
import { keys, useRealtime } from "../state/realtime";
import { useApi, useSession } from "../state/session";
import { Avatar, partnerOf, titleOf, useNow, usePresence } from "./common";
import { MessageInput } from "./MessageInput";
import { MessageList, type MessageListHandle } from "./MessageList";
import { NotificationMenu } from "./NotificationMenu";
import { BlockButton } from "./People";
import { GroupInfo } from "./GroupInfo";

const PAGE = 50;
/** A send not answered within this long (while connected) is shown as failed, with retry. */
const SEND_TIMEOUT_MS = 15_000;

/** Read marks go out at most this often per conversation. */
const READ_MARK_EVERY_MS = 500;
/** Older pages loaded at most to find a quoted message. */
const JUMP_PAGES = 20;

interface Props {
  conversation: Conversation;
  onBack: () => void;
  /** A message to open at (a search result), until `onJumped`. */
  jumpTo: JumpTarget | null;
  onJumped: () => void;
  /** Opens message search within this conversation. */
  onSearch: () => void;
}

export function ChatWindow({ conversation, onBack, jumpTo, onJumped, onSearch }: Props) {
  const api = useApi();
  const me = useSession()!.user;
  const queries = useQueryClient();
  const { client, state, markRead } = useRealtime();
  const id = conversation.id;
  const partner = partnerOf(conversation, me.id);
  const presence = usePresence(partner?.userId);
  const now = useNow(1000);

  // Where the reader was when the conversation opened (the badge count is kept live).
  const [readAtOpen] = useState(Math.max(0, conversation.lastSeq - conversation.unreadCount));
  const windowed = useRef(false);
  const history = useQuery<History>({
    queryKey: keys.messages(id),
    queryFn: async () => {
      const page = await api.page<Message>(`/api/conversations/${id}/messages?limit=${PAGE}`);
      const oldest = page.data.at(-1)?.seq ?? 0;
      // More unread than a page (and something read before): open at the first unread, in a
      // window around it that pages both ways, rather than 50 messages after it.
      if (!windowed.current && readAtOpen > 0 && page.meta.hasMore && oldest > readAtOpen + 1) {
        windowed.current = true;
        const around = await api.page<Message>(
          `/api/conversations/${id}/messages?around=${readAtOpen + 1}&limit=${PAGE}`,
        );
        return {
          messages: [...around.data].reverse(),
          hasMore: around.meta.hasMore,
          expiredThrough: around.meta.expiredThroughSeq || undefined,
          hasNewer: around.meta.hasNewer || undefined,
        };
      }
      return {
        messages: [...page.data].reverse(),
        hasMore: page.meta.hasMore,
        expiredThrough: page.meta.expiredThroughSeq || undefined,
      };
    },
  });
  const { data: pending = [] } = useQuery<Pending[]>({
    queryKey: keys.pending(id),
    queryFn: () => [],
    enabled: false,
    initialData: [],
  });
  const { data: toggles = [] } = useQuery<Toggle[]>({
    queryKey: keys.toggles(id),
    queryFn: () => [],
    enabled: false,
    initialData: [],
  });
  const actions = useMessageActions(id);
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const [info, setInfo] = useState(false);
  const list = useRef<MessageListHandle>(null);

  // The divider goes before the first message unread when the conversation opened, decided once
  // (the first loaded page): messages arriving while it is open, or older pages loaded above,
  // do not move it.
  const divider = useRef<{ id: string | undefined } | null>(null);
  if (divider.current === null && history.data && !history.isPlaceholderData) {
    divider.current = { id: history.data.messages.find((m) => m.seq > readAtOpen && m.senderId !== me.id)?.id };
  }
  const unreadFrom = divider.current?.id;
  const { data: receipts } = useQuery<Receipts>({
    queryKey: keys.receipts(id),
    queryFn: async () => {
      const full = await api.get<Conversation>(`/api/conversations/${id}`);
      let r = queries.getQueryData<Receipts>(keys.receipts(id));
      for (const m of full.members) r = withWatermark(r, m.userId, m.lastReadSeq);
      return r ?? { watermarks: {}, counts: {} };
    },
  });

  // Subscribe while open (and again after every reconnect): typing indicators come to subscribers.
  useEffect(() => {
    if (state !== "connected") return;
    client.send("subscribe", { conversationId: id });
    return () => void client.send("unsubscribe", { conversationId: id });
  }, [client, state, id]);

  // Mark what is on screen as read while the page is visible (and when it becomes visible), at
  // most one mark per READ_MARK_EVERY_MS: a busy chat sends one mark for a burst of messages, well
  // inside the connection's event allowance (limits.ws_events). A mark made while disconnected
  // (or lost in a drop) goes out after the reconnect (markRead keeps the latest).
  const [lastSeq, setSeen] = useState(0);
  const marked = useRef(conversation.lastReadSeq);
  const lastMarkAt = useRef(0);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const mark = () => {
      if (document.visibilityState !== "visible" || lastSeq <= marked.current) return;
      const wait = lastMarkAt.current + READ_MARK_EVERY_MS - Date.now();
      if (wait > 0) {
        timer ??= setTimeout(() => {
          timer = null;
          mark();
        }, wait);
        return;
      }
      markRead(id, lastSeq);
      marked.current = lastSeq;
      lastMarkAt.current = Date.now();
    };
    mark();
    document.addEventListener("visibilitychange", mark);
    return () => {
      if (timer) clearTimeout(timer);
      document.removeEventListener("visibilitychange", mark);
    };
  }, [markRead, id, lastSeq]);

  // Who is typing here (others only), each entry expiring after 5 s without a new start.
  const [typing, setTyping] = useState<Record<string, number>>({});
  useEffect(() => {
    const offStart = client.on("typing:started", (d) => {
      if (d.conversationId === id && d.userId !== me.id) setTyping((t) => ({ ...t, [d.userId]: Date.now() }));
    });
    const offStop = client.on("typing:stopped", (d) => {
      if (d.conversationId === id) setTyping(({ [d.userId]: _, ...rest }) => rest);
    });
    const offMessage = client.on("message:received", ({ message }) => {
      if (message.conversationId === id) setTyping(({ [message.senderId]: _, ...rest }) => rest);
    });
    return () => {
      offStart();
      offStop();
      offMessage();
    };
  }, [client, id, me.id]);
  const typists = Object.entries(typing)
    .filter(([, at]) => now.getTime() - at < 5000)
    .map(([user]) => conversation.members.find((m) => m.userId === user)?.displayName ?? "Someone");

  // Sends: optimistic, resent with the same clientMessageId after a reconnect, failed on timeout.
  const send = useCallback(
    (
      content: string,
      clientMessageId: string = crypto.randomUUID(),
      reply: string | null = null,
      urgent = false,
      attachments: Attachment[] = [],
    ) => {
      queries.setQueryData<Pending[]>(keys.pending(id), (list = []) => [
        ...list.filter((p) => p.clientMessageId !== clientMessageId),
        {
          clientMessageId,
          conversationId: id,
          content,
          replyTo: reply,
          urgent,
          attachments,
          status: "sending",
          sentAt: Date.now(),
        },
      ]);
      client.send("message:send", {
        conversationId: id,
        clientMessageId,
        content,
        ...(reply ? { replyTo: reply } : {}),
        ...(urgent ? { priority: "urgent" } : {}),
        ...(attachments.length > 0 ? { attachments: attachments.map((a) => a.id) } : {}),
      });
    },
    [client, id, queries],
  );
  useEffect(() => {
    const late = pending.filter((p) => p.status === "sending" && now.getTime() - p.sentAt > SEND_TIMEOUT_MS);
    if (late.length > 0 && state === "connected") {
      queries.setQueryData<Pending[]>(keys.pending(id), (list) =>
        late.reduce((l, p) => pendingStatus(l, p.clientMessageId, "error", "Not confirmed"), list ?? []),
      );
    }
  }, [now, pending, state, id, queries]);

  // One older page in front of what is loaded; false when there is none.
  const olderPage = useCallback(async () => {
    const loaded = queries.getQueryData<History>(keys.messages(id));
    const first = loaded?.messages[0];
    if (!first || !loaded?.hasMore) return false;
    const page = await api.page<Message>(`/api/conversations/${id}/messages?limit=${PAGE}&before=${first.seq}`);
    queries.setQueryData<History>(keys.messages(id), (h) => prependPage(h, [...page.data].reverse(), page.meta.hasMore, page.meta.expiredThroughSeq),
    );
    return true;
  }, [api, id, queries]);
  const loadOlder = useCallback(async () => void (await olderPage()), [olderPage]);
  // A window around an older message pages forward until it meets the newest.
  const loadNewer = useCallback(async () => {
    const loaded = queries.getQueryData<History>(keys.messages(id));
    const last = loaded?.messages.at(-1);
    if (!last || !loaded?.hasNewer) return;
    const page = await api.page<Message>(`/api/conversations/${id}/messages?limit=${PAGE}&after=${last.seq}`);
    queries.setQueryData<History>(keys.messages(id), (h) => appendPage(h, page.data, page.meta.hasMore));
  }, [api, id, queries]);

  // Open at a search result: where it is loaded, or with the page around it in place of the
  // history shown (a window that pages both ways).
  const loaded = history.isSuccess;
  const jumped = useRef(onJumped);
  jumped.current = onJumped;
  useEffect(() => {
    if (!jumpTo || !loaded) return;
    let cancelled = false;
    void (async () => {
      if (!list.current?.show(jumpTo.messageId)) {
        const page = await api.page<Message>(`/api/conversations/${id}/messages?around=${jumpTo.seq}&limit=${PAGE}`);
        if (cancelled) return;
        queries.setQueryData<History>(keys.messages(id), {
          messages: [...page.data].reverse(),
          hasMore: page.meta.hasMore,
          hasNewer: page.meta.hasNewer || undefined,
        });
        // The list shows it once it has rendered the page (not necessarily by the next frame).
        if (!cancelled) list.current?.reveal(jumpTo.messageId);
      }
      if (!cancelled) jumped.current();
    })().catch(() => jumped.current());
    return () => {
      cancelled = true;
    };
  }, [jumpTo, loaded, api, id, queries]);
  const jump = useCallback(
    async (messageId: string) => {
      for (let i = 0; i <= JUMP_PAGES; i++) {
        if (list.current?.show(messageId)) return;
        if (!(await olderPage())) break;
        // Let the list render the new page before looking again.
        await new Promise((r) => requestAnimationFrame(() => r(undefined)));
      }
      list.current?.reveal(messageId);
    },
    [olderPage],
  );
  const seen = useCallback((seq: number) => setSeen((s) => Math.max(s, seq)), []);

  const title = titleOf(conversation, me.id);
  const subtitle = partner
    ? presenceText(presence?.status ?? "offline", presence?.lastSeenAt ?? null, now)
    : `${conversation.memberCount} members`;
  return (
    <section className="chat-window" aria-label={`Conversation with ${title}`}>
      <header className="chat-header">
        <button type="button" className="back" aria-label="Back to conversations" onClick={onBack}>
          ‹
        </button>
        <Avatar name={title} status={partner ? (presence?.status ?? "offline") : undefined} />
        <div className="chat-title">
          <h2>{title}</h2>
          <p className="presence-text" data-testid="presence-text">
            {subtitle}
          </p>
        </div>
        {partner && <BlockButton userId={partner.userId} name={title} />}
        <NotificationMenu conversation={conversation} />
        <button type="button" className="icon header-search" aria-label="Search in this conversation" onClick={onSearch}>
          ⌕
        </button>
        <button
          type="button"
          className="icon"
          aria-label={conversation.type === "group" ? "Group info" : "Conversation info"}
          aria-expanded={info}
          onClick={() => setInfo((open) => !open)}
        >
          ⓘ
        </button>
      </header>
      {info && <GroupInfo conversation={conversation} onClose={() => setInfo(false)} />}
      <MessageList
        conversation={conversation}
        me={me.id}
        messages={history.data?.messages ?? []}
        hasMore={history.data?.hasMore ?? false}
        expired={(history.data?.expiredThrough ?? 0) > 0}
        hasNewer={history.data?.hasNewer ?? false}
        onLoadNewer={loadNewer}
        loading={history.isLoading}
        pending={pending}
        receipts={receipts}
        unreadFrom={unreadFrom}
        readAtOpen={readAtOpen}
        handle={list}
        context={{
          now,
          toggles,
          actions,
          onReply: setReplyTo,
          onJump: (messageId) => void jump(messageId),
          onRetry: (p) => send(p.content, p.clientMessageId, p.replyTo ?? null, p.urgent ?? false, p.attachments ?? []),
        }}
        onLoadOlder={loadOlder}
        onSeen={seen}
      />
      <div className="typing-indicator" aria-live="polite" data-testid="typing">
        {typists.length > 0 && (
          <>
            <span className="dots" aria-hidden="true">
              <span />
              <span />
              <span />
            </span>
            {typingText(typists)}
          </>
        )}
      </div>
      <MessageInput
        conversationId={id}
        userId={me.id}
        replyTo={replyTo}
        replyAuthor={replyTo ? (replyTo.senderId === me.id ? "You" : (conversation.members.find((m) => m.userId === replyTo.senderId)?.displayName ?? "Someone")) : ""}
        members={conversation.members}
        everyone={conversation.type === "group" && conversation.role !== "member"}
        onCancelReply={() => setReplyTo(null)}
        onSend={(text, urgent, attachments) => {
          send(text, undefined, replyTo?.id ?? null, urgent, attachments);
          setReplyTo(null);
        }}
      />
    </section>
  );
}
