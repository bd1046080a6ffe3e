// One message bubble: its text (as text, links clickable), the quote of the message it replies
// to (a click jumps there), its images and files, time, "edited", my ticks, reactions with counts and who reacted, and
// its actions: hover or focus (desktop), or a long press (touch), opens react (quick row and
// picker), reply, edit inline (Esc cancels), delete (with confirmation) and copy.

import { useEffect, useRef, useState } from "react";
import { canDelete, canEdit, canReport, quote } from "../logic/actions";
import { splitLinks } from "../logic/links";
import { mentionsMe, splitMentions } from "../logic/mentions";
import { PICKER_REACTIONS, QUICK_REACTIONS, reconcile, type Toggle } from "../logic/reactions";
import { isSlow, type MessageStatus } from "../logic/status";
import type { Conversation, Member, Message } from "@parley/protocol";
import type { Pending } from "../state/cache";
import type { MessageActions } from "../state/actions";
import { bubbleRadius, type BubblePosition } from "../logic/grouping";
import { AttachmentList } from "./Attachments";
import { ReportForm } from "./Moderation";
import { ReadBy } from "./ReadBy";

/** A row item: a committed message, or a pending send shown in its place at the end. */
export interface Item {
  id: string;
  senderId: string;
  createdAt: string;
  message?: Message;
  pending?: Pending;
  /** A system message, shown as a line of its own. */
  system?: boolean;
}

export interface BubbleContext {
  conversation: Conversation;
  me: string;
  names: Map<string, string>;
  now: Date;
  toggles: Toggle[];
  actions: MessageActions;
  /** The loaded message with this id (for reply quotes). */
  find: (id: string) => Message | undefined;
  onReply: (message: Message) => void;
  onJump: (messageId: string) => void;
  onRetry: (p: Pending) => void;
}

const LONG_PRESS_MS = 500;

interface Props {
  item: Item;
  position: BubblePosition;
  sent: boolean;
  status: MessageStatus;
  readBy: number;
  highlighted: boolean;
  context: BubbleContext;
}

export function Bubble({ item, position, sent, status, readBy, highlighted, context }: Props) {
  const { me, now, names } = context;
  const message = item.message;
  const [menu, setMenu] = useState<"closed" | "open" | "picker">("closed");
  const [editing, setEditing] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [reporting, setReporting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const row = useRef<HTMLDivElement>(null);
  const press = useRef<ReturnType<typeof setTimeout> | null>(null);

  // Escape or a click elsewhere closes the menu.
  useEffect(() => {
    if (menu === "closed") return;
    const key = (e: KeyboardEvent) => e.key === "Escape" && setMenu("closed");
    const outside = (e: PointerEvent) => {
      if (!row.current?.contains(e.target as Node)) setMenu("closed");
    };
    document.addEventListener("keydown", key);
    document.addEventListener("pointerdown", outside);
    return () => {
      document.removeEventListener("keydown", key);
      document.removeEventListener("pointerdown", outside);
    };
  }, [menu]);

  const deleted = !!message?.deletedAt;
  const content = message ? (deleted ? "Message deleted" : message.content) : (item.pending?.content ?? "");
  const time = new Date(item.createdAt).toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" });
  const slow = item.pending ? isSlow(item.pending.status, item.pending.sentAt, now.getTime()) : false;
  const reactions = message && !deleted ? reconcile(message.reactions, context.toggles, message.id, me) : [];
  const replyTo = message?.replyTo ?? item.pending?.replyTo ?? null;
  const actionable = !!message && !deleted && message.contentType !== "system";

  const run = (work: Promise<void>) => {
    setError(null);
    work.catch((e: Error) => setError(e.message || "That did not work"));
  };
  const react = (emoji: string) => {
    setMenu("closed");
    if (message) run(context.actions.react(message, reactions, emoji));
  };
  const saveEdit = () => {
    const text = editing?.trim();
    if (!message || !text) return;
    if (text === message.content) {
      setEditing(null);
      return;
    }
    run(context.actions.edit(message, text).then(() => setEditing(null)));
  };

  return (
    <div
      ref={row}
      className={`bubble-row ${sent ? "sent" : "received"} ${highlighted ? "highlighted" : ""}`}
      data-testid="message"
      data-message-id={message?.id}
      data-status={sent ? status : undefined}
      onPointerDown={(e) => {
        if (e.pointerType !== "touch" || !actionable) return;
        press.current = setTimeout(() => setMenu("open"), LONG_PRESS_MS);
      }}
      onPointerUp={() => press.current && clearTimeout(press.current)}
      onPointerLeave={() => press.current && clearTimeout(press.current)}
      onPointerMove={() => press.current && clearTimeout(press.current)}
    >
      {replyTo && (
        <button type="button" className="reply-quote" onClick={() => context.onJump(replyTo)}>
          <span className="reply-author">{replyAuthor(context.find(replyTo), names, me)}</span>
          <span className="reply-text">{quote(context.find(replyTo))}</span>
        </button>
      )}
      {editing !== null && message ? (
        <form
          className="edit-form"
          onSubmit={(e) => {
            e.preventDefault();
            saveEdit();
          }}
        >
          <textarea
            aria-label="Edit message"
            value={editing}
            autoFocus
            onChange={(e) => setEditing(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Escape") setEditing(null);
              if (e.key === "Enter" && !e.shiftKey) {
                e.preventDefault();
                saveEdit();
              }
            }}
          />
          <div className="edit-buttons">
            <button type="button" className="secondary" onClick={() => setEditing(null)}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={!editing.trim()}>
              Save
            </button>
          </div>
        </form>
      ) : (
        <div
          className={`bubble ${sent ? "sent" : "received"} ${deleted ? "deleted" : ""} ${
            message && mentionsMe(message.mentions, message.mentionsEveryone, message.senderId, me) ? "mentions-me" : ""
          } ${message?.priority === "urgent" ? "urgent" : ""}`}
          style={{ borderRadius: bubbleRadius(position, sent) }}
        >
          {message?.priority === "urgent" && !deleted && <span className="urgent-label">Urgent</span>}
          {!deleted && <AttachmentList attachments={message?.attachments ?? item.pending?.attachments ?? []} />}
          {(content || deleted) && (
            <span className="content">
              {deleted ? content : <Linked text={content} message={message} members={context.conversation.members} />}
            </span>
          )}
          <span className="bubble-meta">
            {message?.editedAt && !deleted && <span className="edited">edited</span>}
            <time dateTime={item.createdAt}>{time}</time>
            {sent && <StatusIcon status={status} />}
          </span>
        </div>
      )}
      {actionable && editing === null && (
        <button
          type="button"
          className="actions-trigger"
          aria-label="Message actions"
          aria-haspopup="menu"
          aria-expanded={menu !== "closed"}
          onClick={() => setMenu(menu === "closed" ? "open" : "closed")}
        >
          ⋯
        </button>
      )}
      {menu !== "closed" && message && (
        <div className="message-menu" role="menu" aria-label="Message actions">
          <div className="quick-reactions">
            {(menu === "picker" ? PICKER_REACTIONS : QUICK_REACTIONS).map((emoji) => (
              <button key={emoji} type="button" role="menuitem" aria-label={`React with ${emoji}`} onClick={() => react(emoji)}>
                {emoji}
              </button>
            ))}
            {menu === "open" && (
              <button type="button" role="menuitem" aria-label="More reactions" onClick={() => setMenu("picker")}>
                +
              </button>
            )}
          </div>
          <button type="button" role="menuitem" onClick={() => (setMenu("closed"), context.onReply(message))}>
            Reply
          </button>
          {canEdit(message, me, now.getTime()) && (
            <button type="button" role="menuitem" onClick={() => (setMenu("closed"), setEditing(message.content))}>
              Edit
            </button>
          )}
          {canDelete(message, me, context.conversation) && (
            <button type="button" role="menuitem" onClick={() => (setMenu("closed"), setConfirming(true))}>
              Delete
            </button>
          )}
          {canReport(message, me) && (
            <button type="button" role="menuitem" onClick={() => (setMenu("closed"), setReporting(true))}>
              Report
            </button>
          )}
          <button
            type="button"
            role="menuitem"
            onClick={() => {
              setMenu("closed");
              void navigator.clipboard?.writeText(message.content).catch(() => setError("Could not copy"));
            }}
          >
            Copy text
          </button>
        </div>
      )}
      {reporting && message && <ReportForm messageId={message.id} onDone={() => setReporting(false)} />}
      {confirming && message && (
        <div className="confirm" role="alertdialog" aria-label="Delete message?">
          <p>Delete this message for everyone?</p>
          <button type="button" className="secondary" autoFocus onClick={() => setConfirming(false)}>
            Cancel
          </button>
          <button
            type="button"
            className="danger"
            onClick={() => {
              setConfirming(false);
              run(context.actions.remove(message));
            }}
          >
            Delete
          </button>
        </div>
      )}
      {reactions.length > 0 && (
        <div className="reactions">
          {reactions.map((r) => (
            <button
              key={r.emoji}
              type="button"
              className="reaction"
              aria-pressed={r.userIds.includes(me)}
              aria-label={`${r.emoji} ${r.count}: ${r.userIds.map((u) => (u === me ? "you" : (names.get(u) ?? "someone"))).join(", ")}`}
              title={r.userIds.map((u) => (u === me ? "You" : (names.get(u) ?? "Someone"))).join(", ")}
              onClick={() => react(r.emoji)}
            >
              {r.emoji} {r.count}
            </button>
          ))}
        </div>
      )}
      {error && (
        <p className="action-error" role="alert">
          {error}
        </p>
      )}
      {slow && <p className="slow-note">Taking longer than usual...</p>}
      {status === "error" && item.pending && (
        <button type="button" className="retry" onClick={() => context.onRetry(item.pending!)}>
          Not sent. Retry
        </button>
      )}
      {sent && readBy > 0 && message && <ReadBy messageId={message.id} count={readBy} />}
    </div>
  );
}

/** Text with its web links clickable (the link's text is the text as written, it opens in a new
 * tab with no opener and no referrer) and the mentions the message resolved marked; nothing else
 * is ever interpreted. */
function Linked({ text, message, members }: { text: string; message?: Message; members: Member[] }) {
  const names = new Set(
    (message?.mentions ?? []).flatMap((id) => members.filter((m) => m.userId === id).map((m) => m.username)),
  );
  const everyone = message?.mentionsEveryone ?? false;
  return (
    <>
      {splitLinks(text).map((part, i) =>
        part.href ? (
          <a key={i} href={part.href} target="_blank" rel="noopener noreferrer">
            {part.text}
          </a>
        ) : (
          splitMentions(part.text, names, everyone).map((piece, j) =>
            piece.mention ? (
              <span key={`${i}-${j}`} className="mention">
                {piece.text}
              </span>
            ) : (
              piece.text
            ),
          )
        ),
      )}
    </>
  );
}

function replyAuthor(original: Message | undefined, names: Map<string, string>, me: string): string {
  if (!original) return "Reply";
  return original.senderId === me ? "You" : (names.get(original.senderId) ?? "Someone");
}

/** Distinct glyphs per state (not only colours): a clock while sending, one tick delivered, two
 * read, "!" failed. */
function StatusIcon({ status }: { status: MessageStatus }) {
  const label = { sending: "Sending", delivered: "Delivered", read: "Read", error: "Not sent" }[status];
  const glyph = { sending: "◷", delivered: "✓", read: "✓✓", error: "!" }[status];
  return (
    <span className={`tick tick-${status}`} aria-label={label} title={label} data-testid="tick">
      {glyph}
    </span>
  );
}
