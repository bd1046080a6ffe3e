// The scrollable history: virtualised rows (date separators and sender groups), more history
// loaded when scrolled to the top (keeping the view still), kept at the bottom as messages
// arrive while the reader is there. Bubbles show their status: ticks for my messages, "Read by N"
// in groups (with who and when on click), "Taking longer than usual..." after 3 s of sending,
// and a retry button on failure. Text is rendered as text, never as HTML.

import { useVirtualizer } from "@tanstack/react-virtual";
import { useLayoutEffect, useRef, useState } from "react";
import { bubbleRadius, layout, type BubblePosition } from "../logic/grouping";
import { committedStatus, isSlow, type MessageStatus } from "../logic/status";
import type { Conversation, Message } from "../protocol/types";
import { readCount, type Pending, type Receipts } from "../state/cache";
import { useApi } from "../state/session";

interface Props {
  conversation: Conversation;
  me: string;
  messages: Message[];
  hasMore: boolean;
  loading: boolean;
  pending: Pending[];
  receipts: Receipts | undefined;
  now: Date;
  onLoadOlder: () => Promise<void>;
  onRetry: (p: Pending) => void;
}

/** A row item: a committed message, or a pending send shown in its place at the end. */
interface Item {
  id: string;
  senderId: string;
  createdAt: string;
  message?: Message;
  pending?: Pending;
}

export function MessageList(props: Props) {
  const { conversation, me, messages, pending, receipts, now } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const items: Item[] = [
    ...messages.map((m) => ({ id: m.id, senderId: m.senderId, createdAt: m.createdAt, message: m })),
    ...pending.map((p) => ({
      id: p.clientMessageId,
      senderId: me,
      createdAt: new Date(p.sentAt).toISOString(),
      pending: p,
    })),
  ];
  const rows = layout(items, now);
  const virtual = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 64,
    overscan: 8,
    getItemKey: (index) => rows[index].key,
  });

  // Stay at the bottom when new rows arrive (if the reader was there); keep the view still when
  // older rows are put in front.
  const atBottom = useRef(true);
  const before = useRef<{ height: number; first: string | undefined } | null>(null);
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const first = rows[0]?.key;
    if (before.current && before.current.first !== first && !atBottom.current) {
      el.scrollTop += el.scrollHeight - before.current.height;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
    before.current = { height: el.scrollHeight, first };
  });
  const [loadingOlder, setLoadingOlder] = useState(false);
  function scrolled() {
    const el = scroller.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < 80 && props.hasMore && !loadingOlder) {
      setLoadingOlder(true);
      void props.onLoadOlder().finally(() => setLoadingOlder(false));
    }
  }

  const partner = conversation.type === "dm" ? conversation.members.find((m) => m.userId !== me) : undefined;
  const names = new Map(conversation.members.map((m) => [m.userId, m.displayName]));
  return (
    <div className="message-list" ref={scroller} onScroll={scrolled} role="log" aria-label="Messages">
      {props.loading && <p className="muted center">Loading...</p>}
      {!props.loading && items.length === 0 && <p className="muted center">No messages yet. Say hello!</p>}
      {loadingOlder && <p className="muted center">Loading earlier messages...</p>}
      <div style={{ height: virtual.getTotalSize(), position: "relative" }}>
        {virtual.getVirtualItems().map((v) => {
          const row = rows[v.index];
          return (
            <div
              key={v.key}
              data-index={v.index}
              ref={virtual.measureElement}
              style={{ position: "absolute", top: 0, left: 0, width: "100%", transform: `translateY(${v.start}px)` }}
            >
              {row.kind === "date" ? (
                <div className="date-separator" role="separator">
                  {row.label}
                </div>
              ) : (
                <div className={`message-group ${row.senderId === me ? "sent" : "received"}`}>
                  {row.senderId !== me && conversation.type === "group" && (
                    <div className="sender-name">{names.get(row.senderId) ?? "Someone"}</div>
                  )}
                  {row.items.map(({ message: item, position }) => (
                    <Bubble
                      key={item.id}
                      item={item}
                      position={position}
                      sent={row.senderId === me}
                      status={statusOf(item, partner?.userId, receipts)}
                      readBy={conversation.type === "group" && item.message ? readCount(receipts, item.message) : 0}
                      now={now}
                      onRetry={props.onRetry}
                    />
                  ))}
                </div>
              )}
            </div>
          );
        })}
      </div>
    </div>
  );
}

function statusOf(item: Item, partner: string | undefined, receipts: Receipts | undefined): MessageStatus {
  if (item.pending) return item.pending.status;
  const seq = item.message?.seq ?? 0;
  return partner ? committedStatus(seq, receipts?.watermarks[partner] ?? 0) : "delivered";
}

function Bubble({
  item,
  position,
  sent,
  status,
  readBy,
  now,
  onRetry,
}: {
  item: Item;
  position: BubblePosition;
  sent: boolean;
  status: MessageStatus;
  readBy: number;
  now: Date;
  onRetry: (p: Pending) => void;
}) {
  const message = item.message;
  const content = message ? (message.deletedAt ? "Message deleted" : message.content) : (item.pending?.content ?? "");
  const time = new Date(item.createdAt).toLocaleTimeString("en-US", { hour: "numeric", minute: "2-digit" });
  const slow = item.pending ? isSlow(item.pending.status, item.pending.sentAt, now.getTime()) : false;
  return (
    <div className={`bubble-row ${sent ? "sent" : "received"}`} data-testid="message" data-status={sent ? status : undefined}>
      <div
        className={`bubble ${sent ? "sent" : "received"} ${message?.deletedAt ? "deleted" : ""}`}
        style={{ borderRadius: bubbleRadius(position, sent) }}
      >
        <span className="content">{content}</span>
        <span className="bubble-meta">
          {message?.editedAt && !message.deletedAt && <span className="edited">edited</span>}
          <time dateTime={item.createdAt}>{time}</time>
          {sent && <StatusIcon status={status} />}
        </span>
        {message && message.reactions.length > 0 && (
          <span className="reactions">
            {message.reactions.map((r) => (
              <span key={r.emoji} className="reaction" title={`${r.count}`}>
                {r.emoji} {r.count}
              </span>
            ))}
          </span>
        )}
      </div>
      {slow && <p className="slow-note">Taking longer than usual...</p>}
      {status === "error" && item.pending && (
        <button type="button" className="retry" onClick={() => onRetry(item.pending!)}>
          Not sent. Retry
        </button>
      )}
      {sent && readBy > 0 && message && <ReadBy messageId={message.id} count={readBy} />}
    </div>
  );
}

function StatusIcon({ status }: { status: MessageStatus }) {
  const label = { sending: "Sending", delivered: "Delivered", read: "Read", error: "Not sent" }[status];
  const glyph = { sending: "✓", delivered: "✓", read: "✓✓", error: "!" }[status];
  return (
    <span className={`tick tick-${status}`} aria-label={label} title={label} data-testid="tick">
      {glyph}
    </span>
  );
}

interface Receipt {
  userId: string;
  displayName: string;
  readAt: string | null;
}

/** "Read by N", and on click who read it and when (GET /api/messages/{id}/receipts). */
function ReadBy({ messageId, count }: { messageId: string; count: number }) {
  const api = useApi();
  const [open, setOpen] = useState(false);
  const [list, setList] = useState<Receipt[] | null>(null);
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
                {r.readAt ? new Date(r.readAt).toLocaleTimeString("en-US", { hour: "numeric", minute: "2-digit" }) : ""}
              </span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
