// The composer: auto-resizing text area, focused when the conversation opens, Enter sends
// (Shift+Enter for a new line), the send button disabled while empty or over the 4,000-character
// limit (text past it is kept and marked, never cut silently); the draft kept per conversation
// (state/drafts.ts); typing:start at most once a second while typing, typing:stop when cleared
// or sent. Typing `@` offers the conversation's members (arrows, Enter or Tab to pick, Escape
// to close).

import { useEffect, useRef, useState } from "react";
import { quote } from "../logic/actions";
import type { Member, Message } from "@parley/protocol";
import { insertMention, mentionAt, mentionCandidates } from "../logic/mentions";
import { loadDraft, saveDraft } from "../state/drafts";
import { useRealtime } from "../state/realtime";

/** The server's limit on a message's content (limits in the seeds: 4,000 characters). */
export const MAX_CHARS = 4000;
/** How long the draft waits after the last keystroke before it is saved. */
const DRAFT_SAVE_MS = 300;

interface Props {
  conversationId: string;
  userId: string;
  /** The message being answered (a quote above the text; Escape or ✕ drops it). */
  replyTo: Message | null;
  replyAuthor: string;
  /** Who `@` offers. */
  members: Member[];
  /** Whether `@everyone` counts (groups, owners and admins). */
  everyone: boolean;
  onCancelReply: () => void;
  /** `urgent`: breaks through the recipients' mutes and do-not-disturb (a few an hour). */
  onSend: (text: string, urgent: boolean) => void;
}

export function MessageInput(props: Props) {
  const { conversationId, userId, replyTo, replyAuthor, members, everyone, onCancelReply, onSend } = props;
  const { client } = useRealtime();
  const [text, setText] = useState(() => loadDraft(userId, conversationId));
  const [urgent, setUrgent] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  const lastStart = useRef(0);
  const typing = useRef(false);
  const [caret, setCaret] = useState<number | null>(null);
  const [picked, setPicked] = useState(0);
  const [closedAt, setClosedAt] = useState<number | null>(null);
  const typed = caret === null ? null : mentionAt(text, caret);
  const candidates = typed && typed.start !== closedAt ? mentionCandidates(members, typed.query, userId, everyone) : [];
  const active = Math.min(picked, Math.max(0, candidates.length - 1));
  const listId = `mentions-${conversationId}`;
  const length = [...text].length;
  const over = length - MAX_CHARS;

  useEffect(() => area.current?.focus(), [conversationId, replyTo]);

  useEffect(() => {
    const timer = setTimeout(() => saveDraft(userId, conversationId, text), DRAFT_SAVE_MS);
    return () => clearTimeout(timer);
  }, [userId, conversationId, text]);

  useEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
  }, [text]);

  useEffect(
    () => () => {
      if (typing.current) client.send("typing:stop", { conversationId });
    },
    [client, conversationId],
  );

  function pick(username: string) {
    if (!typed || caret === null) return;
    const next = insertMention(text, typed.start, caret, username);
    changed(next.text, next.caret);
    requestAnimationFrame(() => area.current?.setSelectionRange(next.caret, next.caret));
  }

  function changed(value: string, at: number | null) {
    setText(value);
    setCaret(at);
    setPicked(0);
    const now = Date.now();
    if (value.trim() && now - lastStart.current >= 1000) {
      lastStart.current = now;
      typing.current = client.send("typing:start", { conversationId });
    }
    if (!value.trim() && typing.current) {
      typing.current = false;
      client.send("typing:stop", { conversationId });
    }
  }

  function submit() {
    const content = text.trim();
    if (!content || [...content].length > MAX_CHARS) return;
    onSend(content, urgent);
    setUrgent(false);
    setText("");
    setCaret(null);
    saveDraft(userId, conversationId, "");
    typing.current = false;
    lastStart.current = 0;
  }

  return (
    <form
      className="message-input"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      {replyTo && (
        <div className="reply-preview" data-testid="reply-preview">
          <span>
            Replying to <strong>{replyAuthor}</strong>: {quote(replyTo, 80)}
          </span>
          <button type="button" className="icon" aria-label="Cancel reply" onClick={onCancelReply}>
            ✕
          </button>
        </div>
      )}
      {candidates.length > 0 && (
        <ul className="mention-suggestions" role="listbox" id={listId} aria-label="Mention someone">
          {candidates.map((c, i) => (
            <li
              key={c.username}
              id={`${listId}-${c.username}`}
              role="option"
              aria-selected={i === active}
              onMouseDown={(e) => {
                e.preventDefault();
                pick(c.username);
              }}
            >
              <strong>{c.displayName}</strong> <span className="muted">@{c.username}</span>
            </li>
          ))}
        </ul>
      )}
      <textarea
        ref={area}
        rows={1}
        aria-label="Message"
        placeholder="Write a message"
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={candidates.length > 0}
        aria-controls={candidates.length > 0 ? listId : undefined}
        aria-activedescendant={candidates.length > 0 ? `${listId}-${candidates[active].username}` : undefined}
        aria-invalid={over > 0}
        aria-describedby={over > 0 ? `too-long-${conversationId}` : undefined}
        value={text}
        onChange={(e) => changed(e.target.value, e.target.selectionStart)}
        onSelect={(e) => setCaret(e.currentTarget.selectionStart)}
        onKeyDown={(e) => {
          if (candidates.length > 0) {
            const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1 };
            if (e.key in moves) {
              e.preventDefault();
              setPicked((active + moves[e.key] + candidates.length) % candidates.length);
              return;
            }
            if (e.key === "Enter" || e.key === "Tab") {
              e.preventDefault();
              pick(candidates[active].username);
              return;
            }
            if (e.key === "Escape") {
              e.preventDefault();
              setClosedAt(typed?.start ?? null);
              return;
            }
          }
          if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            submit();
          }
          if (e.key === "Escape" && replyTo) onCancelReply();
        }}
      />
      <button
        type="button"
        className={`icon urgent-toggle ${urgent ? "on" : ""}`}
        aria-pressed={urgent}
        aria-label="Send as urgent"
        title="Urgent: reaches people through mute and do not disturb (3 an hour)"
        onClick={() => setUrgent((u) => !u)}
      >
        !
      </button>
      <button type="submit" className="primary" disabled={!text.trim() || over > 0} aria-label="Send">
        Send
      </button>
      {over > 0 && (
        <p className="too-long" id={`too-long-${conversationId}`} role="alert">
          {over.toLocaleString()} {over === 1 ? "character" : "characters"} over the{" "}
          {MAX_CHARS.toLocaleString()}-character limit
        </p>
      )}
    </form>
  );
}
