// Toasts on screen (pure): a new toast for a conversation replaces the one shown for it (the
// server groups rapid messages; this keeps one card per conversation), the newest first, at most
// MAX_TOASTS, each for TOAST_MS.

export interface ToastItem {
  conversationId: string;
  messageId: string;
  title: string;
  body: string;
  count: number;
  priority: "normal" | "urgent";
  /** When it was shown (ms). */
  at: number;
}

export const MAX_TOASTS = 3;
export const TOAST_MS = 6000;

/** `list` with `toast` shown (newest first, one per conversation, at most MAX_TOASTS). */
export function withToast(list: ToastItem[], toast: ToastItem): ToastItem[] {
  return [toast, ...list.filter((t) => t.conversationId !== toast.conversationId)].slice(0, MAX_TOASTS);
}

/** `list` without the toasts shown longer than TOAST_MS before `now`, nor those of `open` (the
 * conversation now on screen). */
export function current(list: ToastItem[], now: number, open: string | null): ToastItem[] {
  const kept = list.filter((t) => now - t.at < TOAST_MS && t.conversationId !== open);
  return kept.length === list.length ? list : kept;
}

/** What a toast says in one line. */
export function toastLabel(toast: Pick<ToastItem, "title" | "body">): string {
  return toast.title ? `${toast.title}: ${toast.body}` : toast.body;
}
