// The composer's uploads, as pure state: each file picked, dropped or pasted becomes an item that
// is uploading (with progress), done (its attachment), failed (retry offers to upload it again)
// or removed; a message can go once no item is uploading, and it holds the done ones in the order
// they were added. Also what the client refuses before uploading, and sizes as people read them.

import type { Attachment } from "@parley/protocol";

/** The server's limits (`uploads.max_bytes`, at most 10 attachments per message). */
export const MAX_UPLOAD_BYTES = 25 * 1024 * 1024;
export const MAX_ATTACHMENTS = 10;

export interface UploadItem {
  /** Local key (a file picked twice is two items). */
  key: string;
  name: string;
  size: number;
  /** The file's type as the browser guessed it (previews only; the server sniffs its own). */
  type: string;
  status: "uploading" | "done" | "error";
  sent: number;
  attachment?: Attachment;
  error?: string;
}

/** Why a file is refused before any byte is sent, or null. */
export function refusal(size: number, already: number): string | null {
  if (already >= MAX_ATTACHMENTS) return `At most ${MAX_ATTACHMENTS} files per message`;
  if (size === 0) return "The file is empty";
  if (size > MAX_UPLOAD_BYTES) return `Larger than ${formatBytes(MAX_UPLOAD_BYTES)}`;
  return null;
}

/** `1.5 MB`, `820 KB`, `12 bytes`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} ${n === 1 ? "byte" : "bytes"}`;
  const units = ["KB", "MB", "GB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 10 ? Math.round(value) : Math.round(value * 10) / 10} ${units[unit]}`;
}

/** Whole percent of an upload sent. */
export function percent(item: UploadItem): number {
  if (item.status === "done") return 100;
  return item.size > 0 ? Math.min(100, Math.floor((item.sent * 100) / item.size)) : 0;
}

export type UploadEvent =
  | { kind: "added"; item: UploadItem }
  | { kind: "progress"; key: string; sent: number }
  | { kind: "done"; key: string; attachment: Attachment }
  | { kind: "failed"; key: string; error: string }
  | { kind: "retrying"; key: string }
  | { kind: "removed"; key: string }
  | { kind: "cleared" };

export function reduce(items: UploadItem[], event: UploadEvent): UploadItem[] {
  const update = (key: string, change: Partial<UploadItem>) =>
    items.map((item) => (item.key === key ? { ...item, ...change } : item));
  switch (event.kind) {
    case "added":
      return [...items, event.item];
    case "progress":
      return update(event.key, { sent: event.sent });
    case "done":
      return update(event.key, { status: "done", sent: event.attachment.size, attachment: event.attachment });
    case "failed":
      return update(event.key, { status: "error", error: event.error });
    case "retrying":
      return update(event.key, { status: "uploading", sent: 0, error: undefined });
    case "removed":
      return items.filter((item) => item.key !== event.key);
    case "cleared":
      return [];
  }
}

/** The attachments a send holds now, or null while any upload is still going (or failed). */
export function ready(items: UploadItem[]): Attachment[] | null {
  if (items.some((item) => item.status !== "done")) return null;
  return items.flatMap((item) => (item.attachment ? [item.attachment] : []));
}
