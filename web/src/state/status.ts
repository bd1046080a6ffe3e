// The status I chose (online, away, do not disturb): kept on this device for my account, told to
// the server after every (re)connect (the server forgets it when my last connection closes), and
// read by the status picker.

import type { ProtocolClient } from "@parley/protocol";

export type ChosenStatus = "online" | "away" | "dnd";

export const STATUS_CHOICES: { value: ChosenStatus; label: string }[] = [
  { value: "online", label: "Online" },
  { value: "away", label: "Away" },
  { value: "dnd", label: "Do not disturb" },
];

/** Where the choice is kept (window.localStorage in the browser). */
export interface SmallStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

function parse(raw: string | null): ChosenStatus {
  return raw === "away" || raw === "dnd" ? raw : "online";
}

export class StatusStore {
  private chosen: ChosenStatus;
  private listeners = new Set<() => void>();
  private readonly key: string;

  constructor(
    private readonly store: SmallStore | null,
    userId: string,
  ) {
    this.key = `parley.status.${userId}`;
    this.chosen = parse(safely(() => store?.getItem(this.key) ?? null));
  }

  /** Chooses `status`, keeps it, and tells the server now if connected. */
  choose(status: ChosenStatus, client: ProtocolClient) {
    this.chosen = status;
    safely(() => this.store?.setItem(this.key, status));
    client.send("presence:set", { status });
    for (const listener of this.listeners) listener();
  }

  /** After a (re)connect: the server starts at automatic (online), so only a choice is sent. */
  restore(client: ProtocolClient) {
    if (this.chosen !== "online") client.send("presence:set", { status: this.chosen });
  }

  readonly subscribe = (listener: () => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly snapshot = () => this.chosen;
}

/** Storage can throw (private windows, quotas): the choice then lives for this page only. */
function safely<T>(work: () => T): T | null {
  try {
    return work();
  } catch {
    return null;
  }
}
