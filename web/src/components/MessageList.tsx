// The scrollable history: virtualised rows (one per message, date separators, the "New
// messages" divider at the first unread when the conversation opened), more history loaded when
// the top is near (keeping the view still: the row that was on top stays where it was), kept at
// the bottom as messages arrive while the reader is there, and a "N new messages" pill when they
// arrive while the reader is further up (they count as read only once seen). Bubbles and their
// actions are in Bubble.tsx. Text is rendered as text, never as HTML.

import { useVirtualizer } from "@tanstack/react-virtual";
import { useCallback, useEffect, useImperativeHandle, useLayoutEffect, useRef, useState, type Ref } from "react";
import { layout, type Row } from "../logic/grouping";
import { committedStatus, type MessageStatus } from "../logic/status";
import type { Conversation, Message } from "@parley/protocol";
import { readCount, type Pending, type Receipts } from "../state/cache";
import { Bubble, type BubbleContext, type Item } from "./Bubble";
import { Avatar } from "./common";

/** What the chat window can ask of the list. */
export interface MessageListHandle {
  /** Scrolls to a loaded message and highlights it; false when it is not loaded. */
  show: (messageId: string) => boolean;
  /** Shows the message now if it is loaded, else as soon as a render has it (within a few
   * seconds): for a page that was just put in the cache and is not rendered yet. */
  reveal: (messageId: string) => void;
}

interface Props {
  conversation: Conversation;
  me: string;
  messages: Message[];
  hasMore: boolean;
  /** Older messages were deleted by retention: the start says so. */
  expired?: boolean;
  /** The loaded messages are a window: newer ones are paged in near the bottom. */
  hasNewer: boolean;
  loading: boolean;
  pending: Pending[];
  receipts: Receipts | undefined;
  /** The first message unread when the conversation opened (the divider goes before it). */
  unreadFrom: string | undefined;
  /** The reader's watermark when the conversation opened. */
  readAtOpen: number;
  context: Omit<BubbleContext, "conversation" | "me" | "names" | "find">;
  onLoadOlder: () => Promise<void>;
  onLoadNewer: () => Promise<void>;
  /** The highest seq the reader has had on screen (what may be marked read). */
  onSeen: (seq: number) => void;
  handle?: Ref<MessageListHandle>;
}

type ListRow = Row<Item> | { kind: "start"; key: string };

/** How long the view holds its anchor after rows were put in front (they are measured meanwhile). */
const PIN_MS = 1500;

/** How long a loaded page of older messages is waited for on screen before another may load. */
const SETTLE_MS = 1000;

/** How long a message asked for by `reveal` is waited for. */
const REVEAL_MS = 5000;

/** Within this many pixels of the bottom counts as at the bottom; of the top, loads older. */
const NEAR = 80;

export function MessageList(props: Props) {
  const { conversation, me, messages, pending, receipts } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const items: Item[] = [
    ...messages.map((m) => ({
      id: m.id,
      senderId: m.senderId,
      createdAt: m.createdAt,
      message: m,
      system: m.contentType === "system",
    })),
    ...pending.map((p) => ({
      id: p.clientMessageId,
      senderId: me,
      createdAt: new Date(p.sentAt).toISOString(),
      pending: p,
    })),
  ];
  // "The start of the conversation" is a row too: it must not shift the rows when it appears.
  const rows: ListRow[] = [
    ...(!props.hasMore && messages.length > 0 ? [{ kind: "start", key: "start" } as const] : []),
    ...layout(items, props.context.now, props.unreadFrom),
  ];
  const pinned = useRef<number>(0);
  const virtual = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 56,
    overscan: 8,
    getItemKey: (index) => rows[index].key,
  });
  // A row above the view that turns out taller or shorter than estimated moves the view by the
  // difference, so what is shown stays put, except while the anchor is pinned below (the pin
  // places the view itself; both would count the difference twice).
  virtual.shouldAdjustScrollPositionOnItemSizeChange = (item, _delta, instance) =>
    Date.now() >= pinned.current && item.start < (instance.scrollOffset ?? 0);
  const [highlight, setHighlight] = useState<string | null>(null);

  // Where the reader is: at the bottom (follow new rows), or anchored on the row at the top of
  // the view (kept in place when rows are put in front of it).
  const atBottom = useRef(true);
  const anchor = useRef<{ key: string; offset: number } | null>(null);
  const firstKey = useRef<string | undefined>(undefined);
  const opened = useRef(false);
  /** The page of older messages being loaded: how many messages there were when it was asked
   * for, and whether its load has settled (see `maybeLoad`). */
  const olderInFlight = useRef<{ length: number; settled: boolean } | null>(null);
  /** The last seq when the reader was last at the bottom: what came after is "new". */
  const leftAt = useRef(props.readAtOpen);
  /** After rows were put in front: the anchor is held in place while the new rows are measured
   * (their real heights replace estimates over the next renders), until the reader scrolls. */
  const remember = () => {
    const el = scroller.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR;
    if (atBottom.current) leftAt.current = messages.at(-1)?.seq ?? 0;
  };
  /** The row on top of the view now, from this render's measurements (a scroll event's own list
   * of rows is the previous render's). A message's row, never a day's separator or the divider:
   * a separator keeps its key (and its place at the top) when its day gets older messages. */
  const noteAnchor = (el: HTMLDivElement) => {
    if (Date.now() < pinned.current) return;
    const top = virtual
      .getVirtualItems()
      .find((v) => v.end > el.scrollTop && rows[v.index]?.kind === "message");
    if (top) anchor.current = { key: String(top.key), offset: top.start - el.scrollTop };
  };
  /** The reader moves the view: the anchor follows them. */
  const unpin = () => {
    pinned.current = 0;
  };

  /** A message to show once a render has it (see `reveal`). */
  const wanted = useRef<{ id: string; until: number } | null>(null);
  const show = (messageId: string) => {
    const index = rows.findIndex((r) => r.kind === "message" && r.message.id === messageId);
    if (index < 0) return false;
    wanted.current = null;
    atBottom.current = false;
    pinned.current = 0;
    virtual.scrollToIndex(index, { align: "center" });
    setHighlight(messageId);
    setTimeout(() => setHighlight((h) => (h === messageId ? null : h)), 2500);
    return true;
  };

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el || rows.length === 0) return;
    // The first message's row (a day's separator stays first when its day gets older messages).
    const first = rows.find((r) => r.kind === "message")?.key;
    if (!opened.current) {
      // Opening: at the divider if there is one, else at the bottom.
      opened.current = true;
      const divider = rows.findIndex((r) => r.kind === "unread");
      if (divider >= 0) {
        atBottom.current = false;
        virtual.scrollToIndex(divider, { align: "start" });
        // Older pages load at once when the divider is near the top: it stays where it is.
        anchor.current = { key: rows[divider].key, offset: 0 };
        pinned.current = Date.now() + PIN_MS;
      } else el.scrollTop = el.scrollHeight;
    } else if (anchor.current && !atBottom.current && (firstKey.current !== first || Date.now() < pinned.current)) {
      const index = rows.findIndex((r) => r.key === anchor.current!.key);
      // Rows put in front of the anchor pin it; rows replaced (a jump's window) do not. A scroll
      // the virtualizer is still settling (to the divider at open, to a shown message) aims at a
      // row index, which now names another row: it ends here, the pin holds the view instead.
      if (firstKey.current !== first) {
        if (index >= 0) virtual.cancelScroll();
        pinned.current = index >= 0 ? Date.now() + PIN_MS : 0;
      }
      const start = index >= 0 ? virtual.measurementsCache[index]?.start : undefined;
      if (start !== undefined && Math.abs(el.scrollTop - (start - anchor.current.offset)) > 1) {
        el.scrollTop = start - anchor.current.offset;
      }
    } else if (atBottom.current && !props.hasNewer) {
      el.scrollTop = el.scrollHeight;
    }
    firstKey.current = first;
    noteAnchor(el);
    if (olderInFlight.current?.settled && olderInFlight.current.length !== messages.length) {
      olderInFlight.current = null;
    }
    const want = wanted.current;
    if (want && (Date.now() > want.until || show(want.id))) wanted.current = null;
  });

  // Older history when the top is near: on scroll, and again after a page if still near it
  // (the view does not move, so no scroll event would come). One page at a time, until its rows
  // are on screen: the ref says so at once (two scroll events before the next render both saw
  // the state still false), and holds until a render has the page's rows and has put the view
  // back in place (the load's promise settles before that render, when the view is still at
  // the top: a second page was loaded at once).
  const [loadingOlder, setLoadingOlder] = useState(false);
  const { hasMore, onLoadOlder } = props;
  const maybeLoad = useCallback(() => {
    const el = scroller.current;
    if (!el || olderInFlight.current || !hasMore || el.scrollTop >= NEAR || el.scrollHeight <= el.clientHeight) {
      return;
    }
    const asked = { length: messages.length, settled: false };
    olderInFlight.current = asked;
    setLoadingOlder(true);
    void onLoadOlder().finally(() => {
      asked.settled = true;
      setLoadingOlder(false);
      // A page that brought nothing new renders nothing: give up waiting for it.
      setTimeout(() => {
        if (olderInFlight.current === asked) olderInFlight.current = null;
      }, SETTLE_MS);
    });
  }, [hasMore, onLoadOlder, messages.length]);
  useEffect(() => {
    if (!loadingOlder) maybeLoad();
  }, [loadingOlder, maybeLoad, messages.length]);
  const newerInFlight = useRef(false);
  const { hasNewer, onLoadNewer } = props;
  const maybeLoadNewer = useCallback(() => {
    const el = scroller.current;
    if (!el || newerInFlight.current || !hasNewer || el.scrollHeight - el.scrollTop - el.clientHeight >= NEAR * 4) {
      return;
    }
    newerInFlight.current = true;
    void onLoadNewer().finally(() => {
      newerInFlight.current = false;
    });
  }, [hasNewer, onLoadNewer]);

  // What has been on screen: everything when at the bottom, else the last row fully in view.
  const lastSeq = messages.at(-1)?.seq ?? 0;
  const [seen, setSeen] = useState(0);
  const { onSeen } = props;
  const measureSeen = useCallback(() => {
    const el = scroller.current;
    if (!el) return;
    if (el.scrollHeight - el.scrollTop - el.clientHeight < NEAR) {
      setSeen(lastSeq);
      return;
    }
    const bottom = el.scrollTop + el.clientHeight;
    let best = 0;
    for (const v of virtual.getVirtualItems()) {
      const row = rows[v.index];
      if (row?.kind === "message" && row.message.message && v.end <= bottom + 4) best = Math.max(best, row.message.message.seq);
    }
    setSeen((s) => Math.max(s, best));
  }, [lastSeq, rows, virtual]);
  useEffect(measureSeen, [measureSeen]);
  useEffect(() => onSeen(seen), [seen, onSeen]);
  const unseen = messages.filter((m) => m.seq > Math.max(seen, leftAt.current) && m.senderId !== me).length;

  useImperativeHandle(props.handle, () => ({
    show,
    reveal: (messageId: string) => {
      wanted.current = show(messageId) ? null : { id: messageId, until: Date.now() + REVEAL_MS };
    },
  }));

  const partner = conversation.type === "dm" ? conversation.members.find((m) => m.userId !== me) : undefined;
  const names = new Map(conversation.members.map((m) => [m.userId, m.displayName]));
  const byId = new Map(messages.map((m) => [m.id, m]));
  const context: BubbleContext = { ...props.context, conversation, me, names, find: (id) => byId.get(id) };
  const group = conversation.type === "group";
  return (
    <div className="message-list-frame">
      <div
        className="message-list"
        ref={scroller}
        onWheel={unpin}
        onTouchMove={unpin}
        onKeyDown={unpin}
        onPointerDown={unpin}
        onScroll={() => {
          remember();
          measureSeen();
          maybeLoad();
          maybeLoadNewer();
        }}
        role="log"
        aria-label="Messages"
      >
        {props.loading && <p className="muted center">Loading...</p>}
        {!props.loading && items.length === 0 && <p className="muted center">No messages yet. Say hello!</p>}
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
                {row.kind === "start" && (
                  <p className="muted center history-start">
                    {props.expired ? "Older messages expired" : "The start of the conversation"}
                  </p>
                )}
                {row.kind === "date" && (
                  <div className="date-separator" role="separator">
                    {row.label}
                  </div>
                )}
                {row.kind === "unread" && (
                  <div className="unread-divider" role="separator" data-testid="new-messages-divider">
                    New messages
                  </div>
                )}
                {row.kind === "message" && row.message.system && (
                  <p className="system-message" role="note" data-testid="system-message">
                    {row.message.message?.content}
                  </p>
                )}
                {row.kind === "message" && !row.message.system && (
                  <div className={`message-row ${row.senderId === me ? "sent" : "received"} ${row.position}`}>
                    {group && row.senderId !== me && (row.position === "first" || row.position === "solo") && (
                      <div className="sender-name">{names.get(row.senderId) ?? "Someone"}</div>
                    )}
                    <div className="message-line">
                      {group && row.senderId !== me && (
                        <span className="sender-avatar">
                          {(row.position === "last" || row.position === "solo") && (
                            <Avatar name={names.get(row.senderId) ?? "?"} />
                          )}
                        </span>
                      )}
                      <Bubble
                        item={row.message}
                        position={row.position}
                        sent={row.senderId === me}
                        status={statusOf(row.message, partner?.userId, receipts)}
                        readBy={group && row.message.message ? readCount(receipts, row.message.message) : 0}
                        highlighted={highlight === row.message.id}
                        context={context}
                      />
                    </div>
                  </div>
                )}
              </div>
            );
          })}
        </div>
      </div>
      {loadingOlder && (
        <p className="loading-older muted" role="status">
          Loading earlier messages...
        </p>
      )}
      {unseen > 0 && !atBottom.current && (
        <button
          type="button"
          className="new-messages-pill"
          onClick={() => {
            const el = scroller.current;
            if (el) el.scrollTop = el.scrollHeight;
            atBottom.current = true;
            measureSeen();
          }}
        >
          {unseen} new {unseen === 1 ? "message" : "messages"} ↓
        </button>
      )}
    </div>
  );
}

function statusOf(item: Item, partner: string | undefined, receipts: Receipts | undefined): MessageStatus {
  if (item.pending) return item.pending.status;
  const seq = item.message?.seq ?? 0;
  return partner ? committedStatus(seq, receipts?.watermarks[partner] ?? 0) : "delivered";
}
