// Toasts: messages in conversations not on screen (`notification:toast`), in a polite live
// region at the bottom corner. A toast opens its conversation; × dismisses it; each goes after
// a few seconds, and at once when its conversation is opened. The title is the conversation's as
// the list shows it when the list has it (the server says "New message" for a conversation it
// had not told this user's toasts of yet).

import { useEffect, useState } from "react";
import { TOAST_MS, current, toastLabel } from "../logic/toasts";
import { useRealtime, useToasts } from "../state/realtime";

interface Props {
  open: string | null;
  onOpen: (conversationId: string) => void;
  titleFor: (conversationId: string) => string | undefined;
}

export function Toasts({ open, onOpen, titleFor }: Props) {
  const { toasts: store } = useRealtime();
  const received = useToasts();
  const toasts = received.map((t) => ({ ...t, title: titleFor(t.conversationId) ?? t.title }));
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (received.length === 0) return;
    const oldest = Math.min(...received.map((t) => t.at));
    const timer = setTimeout(() => setNow(Date.now()), Math.max(0, oldest + TOAST_MS - Date.now()) + 50);
    return () => clearTimeout(timer);
  }, [received, now]);
  useEffect(() => store.set(current(received, now, open)), [store, received, now, open]);
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
