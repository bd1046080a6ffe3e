// The WebSocket connection for the logged-in user, and how its events land in TanStack Query's
// cache (server state) as the design seed's state-management boundaries describe: pushed events
// update cached data with setQueryData; a reconnect re-subscribes, syncs from the last seq held
// per conversation and invalidates the caches.

import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import type { Api } from "../api/rest";
import { ProtocolClient, type ConnectionState } from "../protocol/client";
import type { Conversation, Message, ServerEvents } from "../protocol/types";
import type { PresenceStatus } from "../logic/presence";
import {
  conversationsWithBadge,
  conversationsWithMessage,
  mergeMessages,
  pendingStatus,
  setReactions,
  withCount,
  withoutPending,
  withWatermark,
  type History,
  type Pending,
  type Receipts,
} from "./cache";

export interface Presence {
  status: PresenceStatus;
  lastSeenAt: string | null;
}

export const keys = {
  conversations: ["conversations"] as const,
  messages: (id: string) => ["messages", id] as const,
  pending: (id: string) => ["pending", id] as const,
  receipts: (id: string) => ["receipts", id] as const,
  presence: (userId: string) => ["presence", userId] as const,
  total: ["totalUnread"] as const,
};

interface Realtime {
  client: ProtocolClient;
  state: ConnectionState;
}

const RealtimeContext = createContext<Realtime | null>(null);

export function useRealtime(): Realtime {
  const value = useContext(RealtimeContext);
  if (!value) throw new Error("useRealtime outside RealtimeProvider");
  return value;
}

function wsUrl(): string {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws`;
}

function onMessage(queries: QueryClient, message: Message) {
  queries.setQueryData<History>(keys.messages(message.conversationId), (h) => (h ? mergeMessages(h, [message]) : h));
  queries.setQueryData<Conversation[]>(keys.conversations, (list) => conversationsWithMessage(list, message));
  if (!queries.getQueryData<Conversation[]>(keys.conversations)?.some((c) => c.id === message.conversationId)) {
    void queries.invalidateQueries({ queryKey: keys.conversations });
  }
}

/** Wires every server event into the cache; returns the unsubscribe function. */
function bind(client: ProtocolClient, queries: QueryClient): () => void {
  const offs = [
    client.on("message:received", ({ message }) => onMessage(queries, message)),
    client.on("message:sent", ({ clientMessageId, message }) => {
      onMessage(queries, message);
      queries.setQueryData<Pending[]>(keys.pending(message.conversationId), (p) => withoutPending(p, clientMessageId));
    }),
    client.on("message:error", (error) => {
      if (!error.clientMessageId) return;
      for (const [key, list] of queries.getQueriesData<Pending[]>({ queryKey: ["pending"] })) {
        if (list?.some((p) => p.clientMessageId === error.clientMessageId)) {
          queries.setQueryData<Pending[]>(key, pendingStatus(list, error.clientMessageId, "error", error.message));
        }
      }
    }),
    client.on("message:edited", ({ message }) => onMessage(queries, message)),
    client.on("message:deleted", ({ message }) => onMessage(queries, message)),
    client.on("message:reacted", ({ conversationId, messageId, reactions }) =>
      queries.setQueryData<History>(keys.messages(conversationId), (h) => setReactions(h, messageId, reactions)),
    ),
    client.on("receipt:updated", ({ conversationId, userId, seq }) =>
      queries.setQueryData<Receipts>(keys.receipts(conversationId), (r) => withWatermark(r, userId, seq)),
    ),
    client.on("receipt:count", ({ conversationId, messageId, readCount }) =>
      queries.setQueryData<Receipts>(keys.receipts(conversationId), (r) => withCount(r, messageId, readCount)),
    ),
    client.on("notification:badge", ({ conversationId, unreadCount, totalUnread }) => {
      queries.setQueryData<Conversation[]>(keys.conversations, (list) =>
        conversationsWithBadge(list, conversationId, unreadCount),
      );
      queries.setQueryData<number>(keys.total, totalUnread);
    }),
    client.on("presence:update", ({ userId, status, lastSeenAt }) =>
      queries.setQueryData<Presence>(keys.presence(userId), { status, lastSeenAt }),
    ),
    client.on("presence:subscribed", ({ users }) => {
      for (const u of users) queries.setQueryData<Presence>(keys.presence(u.userId), u);
    }),
    client.on("sync:response", (data: ServerEvents["sync:response"]) => {
      if (data.tooLarge) {
        void queries.invalidateQueries({ queryKey: keys.messages(data.conversationId) });
        return;
      }
      queries.setQueryData<History>(keys.messages(data.conversationId), (h) =>
        h ? mergeMessages(h, [...data.messages, ...data.changes]) : h,
      );
    }),
  ];
  // After every (re)authentication: watch the people in my conversations, fill gaps, refresh.
  offs.push(
    client.onReady(() => {
      const list = queries.getQueryData<Conversation[]>(keys.conversations) ?? [];
      const held = list
        .map((c) => ({ c, h: queries.getQueryData<History>(keys.messages(c.id)) }))
        .filter(({ h }) => h && h.messages.length > 0)
        .slice(0, 100)
        .map(({ c, h }) => ({ conversationId: c.id, lastSeq: h!.messages[h!.messages.length - 1].seq }));
      if (held.length > 0) client.send("sync:request", { conversations: held });
      void queries.invalidateQueries({ queryKey: keys.conversations });
      void queries.invalidateQueries({ queryKey: ["receipts"] });
      resendPending(client, queries);
    }),
  );
  return () => offs.forEach((off) => off());
}

/** Sends (again) every pending message, with its original clientMessageId (idempotent). */
export function resendPending(client: ProtocolClient, queries: QueryClient) {
  for (const [, list] of queries.getQueriesData<Pending[]>({ queryKey: ["pending"] })) {
    for (const p of list ?? []) {
      if (p.status === "sending") {
        client.send("message:send", {
          conversationId: p.conversationId,
          clientMessageId: p.clientMessageId,
          content: p.content,
        });
      }
    }
  }
}

export function RealtimeProvider({ api, children }: { api: Api; children: ReactNode }) {
  const queries = useQueryClient();
  const client = useMemo(() => new ProtocolClient({ url: wsUrl(), getToken: (fresh) => api.token(fresh) }), [api]);
  const [state, setState] = useState<ConnectionState>(client.state);
  useEffect(() => {
    const offState = client.onState(setState);
    const unbind = bind(client, queries);
    client.connect();
    return () => {
      offState();
      unbind();
      client.close();
    };
  }, [client, queries]);
  const value = useMemo(() => ({ client, state }), [client, state]);
  return <RealtimeContext.Provider value={value}>{children}</RealtimeContext.Provider>;
}
