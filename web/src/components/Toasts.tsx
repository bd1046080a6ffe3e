// Toasts: messages in conversations not on screen (`notification:toast`), in a polite live
// region at the bottom corner. A toast opens its conversation; × dismisses it; each goes after
// a few seconds, and at once when its conversation is opened.

import { useEffect, useState } from "react";
import { TOAST_MS, current, toastLabel } from "../logic/toasts";
import { useRealtime, useToasts } from "../state/realtime";

export function Toasts({ open, onOpen }: { open: string | null; onOpen: (conversationId: string) => void }) {
  const { toasts: store } = useRealtime();
  const toasts = useToasts();
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (toasts.length === 0) return;
    const oldest = Math.min(...toasts.map((t) => t.at));
    const timer = setTimeout(() => setNow(Date.now()), Math.max(0, oldest + TOAST_MS - Date.now()) + 50);
    return () => clearTimeout(timer);
  }, [toasts, now]);
  useEffect(() => store.set(current(toasts, now, open)), [store, toasts, now, open]);
  return (
    <div className="toasts" role="status" aria-live="polite" aria-label="Notifications">
      {toasts.map((t) => (
        <div key={t.conversationId} className={`toast ${t.priority === "urgent" ? "toast-urgent" : ""}`}>
          <button
            type="button"
            className="toast-open"
            onClick={() => {
              store.dismiss(t.conversationId);
              onOpen(t.conversationId);
            }}
          >
            <strong>{t.title}</strong>
            <span>{t.body}</span>
          </button>
          <button
            type="button"
            className="toast-close"
            aria-label={`Dismiss ${toastLabel(t)}`}
            onClick={() => store.dismiss(t.conversationId)}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
