// Small shared pieces: avatar with presence dot, conversation naming, the ticking clock.

import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import type { Conversation } from "@parley/protocol";
import { ApiError } from "../api/rest";
import { keys, type Presence } from "../state/realtime";

/** The other member of a DM (undefined for groups). */
export function partnerOf(conversation: Conversation, me: string) {
  return conversation.type === "dm" ? conversation.members.find((m) => m.userId !== me) : undefined;
}

export function titleOf(conversation: Conversation, me: string): string {
  if (conversation.type === "group") return conversation.name ?? "Group";
  return partnerOf(conversation, me)?.displayName ?? "Direct message";
}

/** Cached presence of a user (pushed by presence:update / presence:subscribed). */
export function usePresence(userId: string | undefined): Presence | undefined {
  const { data } = useQuery<Presence>({
    queryKey: keys.presence(userId ?? "none"),
    queryFn: () => Promise.resolve({ status: "offline", lastSeenAt: null }),
    enabled: false,
    staleTime: Infinity,
  });
  return userId ? data : undefined;
}

export function PresenceDot({ status }: { status: Presence["status"] }) {
  return <span className={`presence-dot presence-${status}`} aria-label={status} role="img" />;
}

export function Avatar({ name, status }: { name: string; status?: Presence["status"] }) {
  const initials = name
    .split(/\s+/)
    .map((w) => w[0] ?? "")
    .join("")
    .slice(0, 2)
    .toUpperCase();
  return (
    <span className="avatar" aria-hidden="true">
      {initials}
      {status && status !== "unknown" && <PresenceDot status={status} />}
    </span>
  );
}

/** The current time, re-read every `ms` (relative timestamps, "Taking longer than usual"). */
export function useNow(ms: number): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/** A failed action's explanation, announced to screen readers (nothing when `text` is null). */
export function ErrorNote({ text }: { text: string | null }) {
  if (!text) return null;
  return (
    <p role="alert" className="error">
      {text}
    </p>
  );
}

/** A done action's confirmation, announced politely (nothing when `text` is null). */
export function DoneNote({ text }: { text: string | null }) {
  if (!text) return null;
  return (
    <p role="status" className="notice">
      {text}
    </p>
  );
}

/** The server's message for a failed call (with the fields it names), else `fallback`. */
export function errorText(error: unknown, fallback: string): string {
  if (!(error instanceof ApiError)) return fallback;
  const details = Object.values(error.body.details ?? {}).flat();
  return details.length > 0 ? `${error.body.message}: ${details.join("; ")}` : error.body.message;
}

/** A side panel's header: its title (focused when the panel opens) and Close; Escape closes. */
export function PanelHeader({ id, title, onClose }: { id: string; title: string; onClose: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <header>
      <h2 id={id} tabIndex={-1} ref={heading}>
        {title}
      </h2>
      <button type="button" className="link" onClick={onClose}>
        Close
      </button>
    </header>
  );
}
