// The WebSocket connection for the logged-in user, and how its events land in TanStack Query's
// cache (server state) as the design seed's state-management boundaries describe: pushed events
// update cached data with setQueryData; a reconnect re-subscribes, syncs from the last seq held
// per conversation, re-sends the latest read marks and invalidates the caches. Pending sends
// and a snapshot of the last conversations are kept on the device (state/offline.ts) and come
// back after a reload; the network's return (`online`, the tab shown again) retries at once.

import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import type { Api } from "../api/rest";
import { ProtocolClient, type ConnectionState } from "@parley/protocol";
import type { Conversation, Message, ServerEvents } from "@parley/protocol";
import type { PresenceStatus } from "../logic/presence";
import {
  conversationsWithBadge,
  conversationsWithMessage,
  mergeMessages,
  pendingStatus,
  setReactions,
  withCount,
  withGroupUpdate,
  withMembership,
  withoutConversation,
  withoutPending,
  withWatermark,
  type History,
  type Pending,
  type Receipts,
} from "./cache";
import { withToast, type ToastItem } from "../logic/toasts";
import { OfflineState, snapshotOf } from "./offline";
import { StatusStore, type ChosenStatus } from "./status";
import { deviceStore } from "./store";

export interface Presence {
  status: PresenceStatus;
  lastSeenAt: string | null;
}

export const keys = {
  conversations: ["conversations"] as const,
  messages: (id: string) => ["messages", id] as const,
  pending: (id: string) => ["pending", id] as const,
  /** My reaction toggles not answered yet (state/actions.ts). */
  toggles: (id: string) => ["toggles", id] as const,
  receipts: (id: string) => ["receipts", id] as const,
  presence: (userId: string) => ["presence", userId] as const,
  /** A group's full member list (the group info panel). */
  members: (id: string) => ["members", id] as const,
  total: ["totalUnread"] as const,
};

interface Realtime {
  client: ProtocolClient;
  state: ConnectionState;
  /** Marks `conversationId` read up to `seq`: sent now if connected, and again after every
   * reconnect (a mark sent just before a drop may never have arrived). */
  markRead: (conversationId: string, seq: number) => void;
  /** The conversation on screen (`null`: none): the server toasts it to this tab no more. */
  setFocus: (conversationId: string | null) => void;
  /** Toasts received (newest first); `dismiss` takes one away. */
  toasts: ToastStore;
  /** The status I chose (online, away, do not disturb). */
  status: StatusStore;
}

/** The toasts this tab shows, as a store React reads with useSyncExternalStore. */
export class ToastStore {
  private list: ToastItem[] = [];
  private listeners = new Set<() => void>();

  add(toast: ToastItem) {
    this.set(withToast(this.list, toast));
  }

  set(list: ToastItem[]) {
    if (list === this.list) return;
    this.list = list;
    for (const listener of this.listeners) listener();
  }

  dismiss(conversationId: string) {
    this.set(this.list.filter((t) => t.conversationId !== conversationId));
  }

  readonly subscribe = (listener: () => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly snapshot = () => this.list;
}

/** The toasts on screen. */
export function useToasts(): ToastItem[] {
  const { toasts } = useRealtime();
  return useSyncExternalStore(toasts.subscribe, toasts.snapshot);
}

/** The status I chose. */
export function useMyStatus(): [ChosenStatus, (status: ChosenStatus) => void] {
  const { status, client } = useRealtime();
  const chosen = useSyncExternalStore(status.subscribe, status.snapshot);
  const choose = useCallback((next: ChosenStatus) => status.choose(next, client), [status, client]);
  return [chosen, choose];
}

/** Read marks kept for resending: the conversations most recently marked. */
const MARKS_KEPT = 100;
/** How long the snapshot waits after a change before it is written (changes come in bursts). */
const SNAPSHOT_EVERY_MS = 1000;

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

/** Shows a toast in the page, and as a system notification when the tab is hidden and the user
 * allowed them. */
function showToast(toasts: ToastStore, data: ServerEvents["notification:toast"]) {
  toasts.add({ ...data, at: Date.now() });
  if (document.visibilityState === "hidden" && typeof Notification !== "undefined" && Notification.permission === "granted") {
    try {
      new Notification(data.title || "Parley", { body: data.body, tag: data.conversationId });
    } catch {
      // Some browsers allow notifications only from a service worker: the page's toast stays.
    }
  }
}

/** A conversation I am no longer in: out of the list, its cached history and members dropped. */
function forget(queries: QueryClient, conversationId: string) {
  queries.setQueryData<Conversation[]>(keys.conversations, (list) => withoutConversation(list, conversationId));
  queries.removeQueries({ queryKey: keys.messages(conversationId) });
  queries.removeQueries({ queryKey: keys.members(conversationId) });
}

/** Applies `change` to one conversation of the list. */
function inList(queries: QueryClient, conversationId: string, change: (c: Conversation) => Conversation | undefined) {
  queries.setQueryData<Conversation[]>(keys.conversations, (list) =>
    list?.map((c) => (c.id === conversationId ? (change(c) ?? c) : c)),
  );
}

/** Group changes: members in and out, renames and roles, deletion. */
function bindGroups(client: ProtocolClient, queries: QueryClient, me: string): (() => void)[] {
  const refreshMembers = (id: string) => void queries.invalidateQueries({ queryKey: keys.members(id) });
  return [
    client.on("conversation:created", () => void queries.invalidateQueries({ queryKey: keys.conversations })),
    client.on("conversation:member_added", ({ conversationId, member }) => {
      const known = queries.getQueryData<Conversation[]>(keys.conversations)?.some((c) => c.id === conversationId);
      if (!known) void queries.invalidateQueries({ queryKey: keys.conversations });
      inList(queries, conversationId, (c) => withMembership(c, { added: member }));
      refreshMembers(conversationId);
    }),
    client.on("conversation:member_removed", ({ conversationId, userId }) => {
      if (userId === me) return forget(queries, conversationId);
      inList(queries, conversationId, (c) => withMembership(c, { removed: userId }));
      refreshMembers(conversationId);
    }),
    client.on("conversation:updated", (update) => {
      const dm = queries
        .getQueryData<Conversation[]>(keys.conversations)
        ?.some((c) => c.id === update.conversationId && c.type === "dm");
      // A DM changes when its other account is deleted ("Deleted user"): read it again.
      if (dm) void queries.invalidateQueries({ queryKey: keys.conversations });
      inList(queries, update.conversationId, (c) => withGroupUpdate(c, update, me));
      refreshMembers(update.conversationId);
    }),
    client.on("conversation:deleted", ({ conversationId }) => forget(queries, conversationId)),
  ];
}

/** Wires every server event into the cache; returns the unsubscribe function. */
function bind(
  client: ProtocolClient,
  queries: QueryClient,
  marks: Map<string, number>,
  toasts: ToastStore,
  me: string,
): () => void {
  const offs = [
    ...bindGroups(client, queries, me),
    client.on("notification:toast", (data) => showToast(toasts, data)),
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
    client.on("notification:badge", ({ conversationId, unreadCount, totalUnread, mentionCount }) => {
      queries.setQueryData<Conversation[]>(keys.conversations, (list) =>
        conversationsWithBadge(list, conversationId, unreadCount, mentionCount),
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
      for (const [conversationId, seq] of marks) client.send("receipt:read", { conversationId, seq });
      resendPending(client, queries);
    }),
  );
  return () => offs.forEach((off) => off());
}

/** Sends (again) every pending message, with its original clientMessageId (idempotent); its
 * timeout counts from now. */
export function resendPending(client: ProtocolClient, queries: QueryClient) {
  const now = Date.now();
  for (const [key, list] of queries.getQueriesData<Pending[]>({ queryKey: ["pending"] })) {
    const waiting = (list ?? []).filter((p) => p.status === "sending");
    for (const p of waiting) {
      client.send("message:send", {
        conversationId: p.conversationId,
        clientMessageId: p.clientMessageId,
        content: p.content,
        ...(p.replyTo ? { replyTo: p.replyTo } : {}),
        ...(p.urgent ? { priority: "urgent" } : {}),
        ...(p.attachments?.length ? { attachments: p.attachments.map((a) => a.id) } : {}),
      });
    }
    if (waiting.length > 0) {
      queries.setQueryData<Pending[]>(key, (l) => l?.map((p) => (p.status === "sending" ? { ...p, sentAt: now } : p)));
    }
  }
}

/** Puts what the device kept (the last conversations, pending sends) into the cache, where the
 * network has not filled it yet; pending sends go out once connected. */
async function restore(offline: OfflineState, queries: QueryClient, client: ProtocolClient): Promise<void> {
  const [snapshot, outbox] = await Promise.all([offline.loadSnapshot(), offline.loadPending(Date.now())]);
  if (snapshot) {
    // Stale at once (updatedAt 0): shown until the network answers, then replaced.
    if (queries.getQueryData(keys.conversations) === undefined) {
      queries.setQueryData(keys.conversations, snapshot.conversations, { updatedAt: 0 });
    }
    for (const [id, history] of Object.entries(snapshot.histories)) {
      if (queries.getQueryData(keys.messages(id)) === undefined) {
        queries.setQueryData(keys.messages(id), history, { updatedAt: 0 });
      }
    }
  }
  for (const [conversationId, list] of outbox) {
    queries.setQueryData<Pending[]>(keys.pending(conversationId), (current = []) => [
      ...list.filter((p) => !current.some((c) => c.clientMessageId === p.clientMessageId)),
      ...current,
    ]);
  }
  if (outbox.size > 0 && client.state === "connected") resendPending(client, queries);
}

/** Keeps the device's copy in step with the cache: pending sends at once, the snapshot after a
 * burst of changes. Returns the unsubscribe function. */
function persist(offline: OfflineState, queries: QueryClient): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const snapshot = () => {
    timer = null;
    const list = queries.getQueryData<Conversation[]>(keys.conversations);
    if (list) void offline.saveSnapshot(snapshotOf(list, (id) => queries.getQueryData<History>(keys.messages(id))));
  };
  const off = queries.getQueryCache().subscribe((event) => {
    if (event.type !== "updated") return;
    const [kind, id] = event.query.queryKey as [string, string?];
    if (kind === "pending" && id) void offline.savePending(id, (event.query.state.data as Pending[]) ?? []);
    if ((kind === "conversations" || kind === "messages") && !timer) timer = setTimeout(snapshot, SNAPSHOT_EVERY_MS);
  });
  return () => {
    off();
    if (timer) clearTimeout(timer);
  };
}

export function RealtimeProvider({ api, userId, children }: { api: Api; userId: string; children: ReactNode }) {
  const queries = useQueryClient();
  const client = useMemo(() => new ProtocolClient({ url: wsUrl(), getToken: (fresh) => api.token(fresh) }), [api]);
  const offline = useMemo(() => new OfflineState(deviceStore(), userId), [userId]);
  const marks = useMemo(() => new Map<string, number>(), []);
  const toasts = useMemo(() => new ToastStore(), []);
  const status = useMemo(() => new StatusStore(typeof localStorage === "undefined" ? null : localStorage, userId), [userId]);
  // The conversation on screen; told to the server while the tab is visible (hidden: none).
  const focus = useMemo(
    () => ({
      open: null as string | null,
      sent: undefined as string | null | undefined,
      tell: undefined as ((again?: boolean) => void) | undefined,
    }),
    [],
  );
  const [state, setState] = useState<ConnectionState>(client.state);
  useEffect(() => {
    const offState = client.onState(setState);
    const unbind = bind(client, queries, marks, toasts, userId);
    const tellFocus = (again = false) => {
      const now = document.visibilityState === "visible" ? focus.open : null;
      if (!again && now === focus.sent) return;
      if (client.send("focus", { conversationId: now })) focus.sent = now;
    };
    const offReady = client.onReady(() => {
      tellFocus(true);
      status.restore(client);
    });
    focus.tell = tellFocus;
    const unpersist = persist(offline, queries);
    void restore(offline, queries, client).catch(() => undefined);
    client.connect();
    // The network is back, or the tab is shown again: no waiting out the backoff.
    const online = () => client.retryNow();
    const shown = () => {
      if (document.visibilityState === "visible") client.retryNow();
      tellFocus();
    };
    window.addEventListener("online", online);
    document.addEventListener("visibilitychange", shown);
    return () => {
      offState();
      offReady();
      focus.tell = undefined;
      unbind();
      unpersist();
      window.removeEventListener("online", online);
      document.removeEventListener("visibilitychange", shown);
      client.close();
    };
  }, [client, queries, offline, marks, toasts, focus, status, userId]);
  const markRead = useCallback(
    (conversationId: string, seq: number) => {
      if ((marks.get(conversationId) ?? 0) >= seq) return;
      marks.delete(conversationId);
      marks.set(conversationId, seq);
      if (marks.size > MARKS_KEPT) marks.delete(marks.keys().next().value!);
      client.send("receipt:read", { conversationId, seq });
    },
    [client, marks],
  );
  const setFocus = useCallback(
    (conversationId: string | null) => {
      focus.open = conversationId;
      if (conversationId) toasts.dismiss(conversationId);
      focus.tell?.();
    },
    [focus, toasts],
  );
  const value = useMemo(
    () => ({ client, state, markRead, setFocus, toasts, status }),
    [client, state, markRead, setFocus, toasts, status],
  );
  return <RealtimeContext.Provider value={value}>{children}</RealtimeContext.Provider>;
}
