// What survives a reload or a crashed tab, per user: the outbox (pending sends, with the client
// ids they were first sent with, so a resend after the reload is stored once) and a snapshot of
// the last conversations and their newest messages, shown before the network answers. Logging
// out clears both. The pure parts (what a snapshot keeps, how a pending send comes back) are
// exported for tests.

import type { Conversation } from "@parley/protocol";
import type { History, Pending } from "./cache";
import type { KeyValueStore } from "./store";

/** Conversations a snapshot keeps (the most recent first, as the list shows them). */
export const SNAPSHOT_CONVERSATIONS = 50;
/** Conversations whose history a snapshot keeps, and messages of each (the newest). */
export const SNAPSHOT_HISTORIES = 10;
export const SNAPSHOT_MESSAGES = 50;

export interface Snapshot {
  conversations: Conversation[];
  histories: Record<string, History>;
}

/** What a snapshot keeps of the cache: bounded in conversations and messages. */
export function snapshotOf(conversations: Conversation[], history: (id: string) => History | undefined): Snapshot {
  const kept = conversations.slice(0, SNAPSHOT_CONVERSATIONS);
  const histories: Record<string, History> = {};
  for (const c of kept) {
    if (Object.keys(histories).length >= SNAPSHOT_HISTORIES) break;
    const h = history(c.id);
    if (!h || h.messages.length === 0) continue;
    const messages = h.messages.slice(-SNAPSHOT_MESSAGES);
    histories[c.id] = { messages, hasMore: h.hasMore || messages.length < h.messages.length };
  }
  return { conversations: kept, histories };
}

/** A pending send read back after a reload: still to be sent, its timeout counted from now (a
 * failed one stays failed, for the user to retry or discard). */
export function restored(list: Pending[], now: number): Pending[] {
  return list.map((p) => (p.status === "sending" ? { ...p, sentAt: now } : p));
}

export class OfflineState {
  constructor(
    private readonly store: KeyValueStore,
    private readonly userId: string,
  ) {}

  private get outboxPrefix(): string {
    return `outbox/${this.userId}/`;
  }

  private get snapshotKey(): string {
    return `snapshot/${this.userId}`;
  }

  /** One conversation's pending sends (none: the entry goes). */
  async savePending(conversationId: string, list: Pending[]): Promise<void> {
    const key = this.outboxPrefix + conversationId;
    if (list.length === 0) await this.store.delete(key);
    else await this.store.set(key, list);
  }

  /** Every conversation's pending sends, by conversation id. */
  async loadPending(now: number): Promise<Map<string, Pending[]>> {
    const out = new Map<string, Pending[]>();
    for (const key of await this.store.keys(this.outboxPrefix)) {
      const list = await this.store.get<Pending[]>(key);
      if (Array.isArray(list) && list.length > 0) out.set(key.slice(this.outboxPrefix.length), restored(list, now));
    }
    return out;
  }

  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.store.set(this.snapshotKey, snapshot);
  }

  loadSnapshot(): Promise<Snapshot | undefined> {
    return this.store.get<Snapshot>(this.snapshotKey);
  }

  /** Logging out: nothing of this user stays on the device. */
  async clear(): Promise<void> {
    for (const key of await this.store.keys(this.outboxPrefix)) await this.store.delete(key);
    await this.store.delete(this.snapshotKey);
  }
}
