// One conversation: header with presence, the message list, who is typing, and the input. Opens
// a subscription (typing comes to subscribers), loads history and the members' read watermarks,
// marks what is shown as read, and sends optimistically (pending until message:sent).

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useRef, useState } from "react";
import { presenceText, typingText } from "../logic/presence";
import type { Conversation, Message } from "../protocol/types";
import { pendingStatus, prependPage, withWatermark, type History, type Pending, type Receipts } from "../state/cache";
import { keys, useRealtime } from "../state/realtime";
import { useApi, useSession } from "../state/session";
import { Avatar, partnerOf, titleOf, useNow, usePresence } from "./common";
import { MessageInput } from "./MessageInput";
import { MessageList } from "./MessageList";

const PAGE = 50;
/** A send not answered within this long (while connected) is shown as failed, with retry. */
const SEND_TIMEOUT_MS = 15_000;

/** Read marks go out at most this often per conversation. */
const READ_MARK_EVERY_MS = 500;

export function ChatWindow({ conversation, onBack }: { conversation: Conversation; onBack: () => void }) {
  const api = useApi();
  const me = useSession()!.user;
  const queries = useQueryClient();
  const { client, state } = useRealtime();
  const id = conversation.id;
  const partner = partnerOf(conversation, me.id);
  const presence = usePresence(partner?.userId);
  const now = useNow(1000);

  const history = useQuery<History>({
    queryKey: keys.messages(id),
    queryFn: async () => {
      const page = await api.page<Message>(`/api/conversations/${id}/messages?limit=${PAGE}`);
      return { messages: [...page.data].reverse(), hasMore: page.meta.hasMore };
    },
  });
  const { data: pending = [] } = useQuery<Pending[]>({
    queryKey: keys.pending(id),
    queryFn: () => [],
    enabled: false,
    initialData: [],
  });
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
  // inside the connection's event allowance (limits.ws_events).
  const lastSeq = history.data?.messages.at(-1)?.seq ?? 0;
  const marked = useRef(conversation.lastReadSeq);
  const lastMarkAt = useRef(0);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const mark = () => {
      if (state !== "connected" || document.visibilityState !== "visible" || lastSeq <= marked.current) return;
      const wait = lastMarkAt.current + READ_MARK_EVERY_MS - Date.now();
      if (wait > 0) {
        timer ??= setTimeout(() => {
          timer = null;
          mark();
        }, wait);
        return;
      }
      if (client.send("receipt:read", { conversationId: id, seq: lastSeq })) {
        marked.current = lastSeq;
        lastMarkAt.current = Date.now();
      }
    };
    mark();
    document.addEventListener("visibilitychange", mark);
    return () => {
      if (timer) clearTimeout(timer);
      document.removeEventListener("visibilitychange", mark);
    };
  }, [client, state, id, lastSeq]);

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
    (content: string, clientMessageId: string = crypto.randomUUID()) => {
      queries.setQueryData<Pending[]>(keys.pending(id), (list = []) => [
        ...list.filter((p) => p.clientMessageId !== clientMessageId),
        { clientMessageId, conversationId: id, content, status: "sending", sentAt: Date.now() },
      ]);
      client.send("message:send", { conversationId: id, clientMessageId, content });
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

  const loadOlder = useCallback(async () => {
    const first = history.data?.messages[0];
    if (!first || !history.data?.hasMore) return;
    const page = await api.page<Message>(`/api/conversations/${id}/messages?limit=${PAGE}&before=${first.seq}`);
    queries.setQueryData<History>(keys.messages(id), (h) => prependPage(h, [...page.data].reverse(), page.meta.hasMore));
  }, [api, history.data, id, queries]);

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
        <div>
          <h2>{title}</h2>
          <p className="presence-text" data-testid="presence-text">
            {subtitle}
          </p>
        </div>
      </header>
      <MessageList
        conversation={conversation}
        me={me.id}
        messages={history.data?.messages ?? []}
        hasMore={history.data?.hasMore ?? false}
        loading={history.isLoading}
        pending={pending}
        receipts={receipts}
        now={now}
        onLoadOlder={loadOlder}
        onRetry={(p) => send(p.content, p.clientMessageId)}
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
      <MessageInput conversationId={id} onSend={(text) => send(text)} />
    </section>
  );
}
