// The composer: auto-resizing text area, focused when the conversation opens, Enter sends
// (Shift+Enter for a new line), the send button disabled while empty or over the 4,000-character
// limit (text past it is kept and marked, never cut silently); the draft kept per conversation
// (state/drafts.ts); typing:start at most once a second while typing, typing:stop when cleared
// or sent. Typing `@` offers the conversation's members (arrows, Enter or Tab to pick, Escape
// to close). Files come in through the attach button, a drop on the composer or a paste: each
// uploads at once (state in logic/uploads.ts, shown by the tray), and the message can go when
// every upload is done, with or without text.

import { useEffect, useReducer, useRef, useState } from "react";
import { quote } from "../logic/actions";
import type { Attachment, Member, Message } from "@parley/protocol";
import { reduce, ready, refusal } from "../logic/uploads";
import { useApi } from "../state/session";
import { UploadTray } from "./Attachments";
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
  onSend: (text: string, urgent: boolean, attachments: Attachment[]) => void;
}

export function MessageInput(props: Props) {
  const { conversationId, userId, replyTo, replyAuthor, members, everyone, onCancelReply, onSend } = props;
  const { client } = useRealtime();
  const api = useApi();
  const [text, setText] = useState(() => loadDraft(userId, conversationId));
  const [uploads, dispatch] = useReducer(reduce, []);
  const files = useRef(new Map<string, File>());
  const aborts = useRef(new Map<string, AbortController>());
  const [previews, setPreviews] = useState(() => new Map<string, string>());
  const [refused, setRefused] = useState<string | null>(null);
  const [dropping, setDropping] = useState(false);
  const picker = useRef<HTMLInputElement>(null);
  const attached = ready(uploads);
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

  // A conversation change or unmount cancels what is still uploading and frees the previews.
  useEffect(
    () => () => {
      aborts.current.forEach((a) => a.abort());
      aborts.current.clear();
      files.current.clear();
      dispatch({ kind: "cleared" });
      setPreviews((p) => {
        p.forEach((url) => URL.revokeObjectURL(url));
        return new Map();
      });
    },
    [conversationId],
  );

  function upload(key: string, file: File) {
    const abort = new AbortController();
    aborts.current.set(key, abort);
    api
      .upload(file, file.name || "pasted", (sent) => dispatch({ kind: "progress", key, sent }), abort.signal)
      .then(
        (attachment) => dispatch({ kind: "done", key, attachment }),
        (e: Error) => {
          if (e.name !== "AbortError") dispatch({ kind: "failed", key, error: e.message || "Upload failed" });
        },
      )
      .finally(() => aborts.current.delete(key));
  }

  function addFiles(list: FileList | File[]) {
    setRefused(null);
    let count = uploads.length;
    for (const file of Array.from(list)) {
      const problem = refusal(file.size, count);
      if (problem) {
        setRefused(`${file.name || "That file"}: ${problem}`);
        continue;
      }
      count += 1;
      const key = crypto.randomUUID();
      files.current.set(key, file);
      if (file.type.startsWith("image/")) {
        const url = URL.createObjectURL(file);
        setPreviews((p) => new Map(p).set(key, url));
      }
      dispatch({
        kind: "added",
        item: { key, name: file.name || "pasted", size: file.size, type: file.type, status: "uploading", sent: 0 },
      });
      upload(key, file);
    }
  }

  function removeUpload(key: string) {
    aborts.current.get(key)?.abort();
    files.current.delete(key);
    dispatch({ kind: "removed", key });
    setPreviews((p) => {
      const url = p.get(key);
      if (!url) return p;
      URL.revokeObjectURL(url);
      const next = new Map(p);
      next.delete(key);
      return next;
    });
  }

  function retryUpload(key: string) {
    const file = files.current.get(key);
    if (!file) return;
    dispatch({ kind: "retrying", key });
    upload(key, file);
  }

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
    if (!attached || (!content && attached.length === 0) || [...content].length > MAX_CHARS) return;
    onSend(content, urgent, attached);
    files.current.clear();
    dispatch({ kind: "cleared" });
    setPreviews((p) => {
      p.forEach((url) => URL.revokeObjectURL(url));
      return new Map();
    });
    setUrgent(false);
    setText("");
    setCaret(null);
    saveDraft(userId, conversationId, "");
    typing.current = false;
    lastStart.current = 0;
  }

  return (
    <form
      className={`message-input ${dropping ? "dropping" : ""}`}
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
      onDragOver={(e) => {
        if (!e.dataTransfer.types.includes("Files")) return;
        e.preventDefault();
        setDropping(true);
      }}
      onDragLeave={() => setDropping(false)}
      onDrop={(e) => {
        if (e.dataTransfer.files.length === 0) return;
        e.preventDefault();
        setDropping(false);
        addFiles(e.dataTransfer.files);
      }}
    >
      <UploadTray items={uploads} previews={previews} onRemove={removeUpload} onRetry={retryUpload} />
      {refused && (
        <p className="too-long" role="alert">
          {refused}
        </p>
      )}
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
        onPaste={(e) => {
          if (e.clipboardData.files.length === 0) return;
          e.preventDefault();
          addFiles(e.clipboardData.files);
        }}
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
      <input
        ref={picker}
        type="file"
        multiple
        hidden
        data-testid="file-input"
        onChange={(e) => {
          if (e.target.files) addFiles(e.target.files);
          e.target.value = "";
        }}
      />
      <button type="button" className="icon" aria-label="Attach files" title="Attach files (or drop or paste them)" onClick={() => picker.current?.click()}>
        📎
      </button>
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
      <button
        type="submit"
        className="primary"
        disabled={!attached || (!text.trim() && attached.length === 0) || over > 0}
        aria-label="Send"
      >
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
