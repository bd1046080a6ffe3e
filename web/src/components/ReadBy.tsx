// "Read by N" under my group message, and on click who read it and when
// (GET /api/messages/{id}/receipts).

import { useEffect, useState } from "react";
import type { Receipt } from "../api/openapi";
import { useApi } from "../state/session";


/** "Read by N", and on click who read it and when (GET /api/messages/{id}/receipts). */
export function ReadBy({ messageId, count }: { messageId: string; count: number }) {
  const api = useApi();
  const [open, setOpen] = useState(false);
  const [list, setList] = useState<Receipt[] | null>(null);
  useEffect(() => {
    if (!open) return;
    const key = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    document.addEventListener("keydown", key);
    return () => document.removeEventListener("keydown", key);
  }, [open]);
  async function toggle() {
    setOpen(!open);
    if (!open) setList((await api.page<Receipt>(`/api/messages/${messageId}/receipts`)).data);
  }
  return (
    <div className="read-by">
      <button type="button" className="link" aria-expanded={open} onClick={() => void toggle()} data-testid="read-by">
        Read by {count}
      </button>
      {open && (
        <ul className="popover" role="dialog" aria-label="Read by">
          {list === null && <li className="muted">Loading...</li>}
          {list?.map((r) => (
            <li key={r.userId}>
              {r.displayName}
              <span className="muted">
                {r.readAt ? new Date(r.readAt).toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" }) : ""}
              </span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
