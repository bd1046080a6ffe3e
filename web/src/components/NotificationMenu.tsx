// A conversation's notification settings, from its header: the level (all messages, only
// @mentions, nothing) and a mute (an hour, eight hours, a week, until unmuted). Changes go to the server
// (PUT .../notifications) and into the cached conversation; Escape or a pick closes the menu.

import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import type { Conversation } from "@parley/protocol";
import { LEVELS, MUTES, describe, isMuted, muteUntil, type Level } from "../logic/notifications";
import { keys } from "../state/realtime";
import { useApi } from "../state/session";
import { ErrorNote } from "./common";

export function NotificationMenu({ conversation }: { conversation: Conversation }) {
  const api = useApi();
  const queries = useQueryClient();
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") setOpen(false);
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [open]);
  const now = Date.now();
  const prefs = conversation.notifications ?? { level: "all" as Level, mutedUntil: null, muted: false };
  const muted = isMuted(prefs, now);
  const save = async (level: Level, mutedUntil: string | null) => {
    setOpen(false);
    setError(null);
    try {
      const saved = await api.setConversationNotifications(conversation.id, { level, mutedUntil });
      queries.setQueryData<Conversation[]>(keys.conversations, (list) =>
        list?.map((c) => (c.id === conversation.id ? { ...c, notifications: saved } : c)),
      );
    } catch {
      setError("Could not change the notifications; try again");
    }
  };
  return (
    <div className="notification-menu">
      <button
        type="button"
        className="icon"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label={describe(prefs, now)}
        title={describe(prefs, now)}
        onClick={() => setOpen(!open)}
      >
        {muted || prefs.level === "off" ? "🔕" : "🔔"}
      </button>
      {open && (
        <div className="message-menu" role="menu" aria-label="Notifications">
          {LEVELS.map(({ level, label }) => (
            <button
              key={level}
              type="button"
              role="menuitemradio"
              aria-checked={prefs.level === level}
              onClick={() => void save(level, prefs.mutedUntil)}
            >
              {label}
            </button>
          ))}
          {muted ? (
            <button type="button" role="menuitem" onClick={() => void save(prefs.level, null)}>
              Unmute
            </button>
          ) : (
            MUTES.map(({ label, hours }) => (
              <button key={label} type="button" role="menuitem" onClick={() => void save(prefs.level, muteUntil(hours, Date.now()))}>
                {label}
              </button>
            ))
          )}
        </div>
      )}
      <ErrorNote text={error} />
    </div>
  );
}
