// How a conversation's messages are laid out: date separators ("Today", "Yesterday", "Jan 15"),
// and runs of messages from one sender within a few minutes grouped, each bubble knowing its
// position in the run (which decides its corner radii in the design seed). System messages stand
// alone.

export type BubblePosition = "solo" | "first" | "middle" | "last";

export interface Groupable {
  id: string;
  senderId: string;
  createdAt: string; // ISO 8601
  /** A system message ("Ann added Ben"): a line of its own, in no sender's run. */
  system?: boolean;
}

/** One row of the list: a day's separator, the "New messages" divider, or one message with its
 * place in its sender's run (a row per message, keyed by its id, so loading older messages in
 * front never changes the rows already shown). */
export type Row<M extends Groupable> =
  | { kind: "date"; key: string; label: string }
  | { kind: "unread"; key: string }
  | { kind: "message"; key: string; senderId: string; message: M; position: BubblePosition };

/** Messages from one sender closer together than this stay in one group. */
export const GROUP_WINDOW_MS = 5 * 60 * 1000;

function dayKey(date: Date): string {
  return `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
}

/** "Today", "Yesterday", "Jan 15", or "Jan 15, 2025" for another year (in `locale`: the
 * browser's by default). */
export function dateLabel(date: Date, now: Date, locale?: string): string {
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const day = new Date(date.getFullYear(), date.getMonth(), date.getDate());
  const days = Math.round((today.getTime() - day.getTime()) / 86_400_000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  const options: Intl.DateTimeFormatOptions = { month: "short", day: "numeric" };
  if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return date.toLocaleDateString(locale, options);
}

export function positionOf(index: number, length: number): BubblePosition {
  if (length === 1) return "solo";
  if (index === 0) return "first";
  if (index === length - 1) return "last";
  return "middle";
}

/** Rows for `messages` (oldest first); the "New messages" divider before `unreadFrom` (an id). */
export function layout<M extends Groupable>(messages: M[], now: Date, unreadFrom?: string): Row<M>[] {
  const rows: Row<M>[] = [];
  let run: M[] = [];
  let lastDay = "";
  const flush = () => {
    run.forEach((message, i) =>
      rows.push({
        kind: "message",
        key: `m-${message.id}`,
        senderId: message.senderId,
        message,
        position: positionOf(i, run.length),
      }),
    );
    run = [];
  };
  for (const message of messages) {
    const at = new Date(message.createdAt);
    const day = dayKey(at);
    if (day !== lastDay) {
      flush();
      rows.push({ kind: "date", key: `d-${day}`, label: dateLabel(at, now) });
      lastDay = day;
    }
    const previous = run[run.length - 1];
    if (
      message.id === unreadFrom ||
      message.system ||
      previous?.system ||
      (previous &&
        (previous.senderId !== message.senderId ||
          at.getTime() - new Date(previous.createdAt).getTime() > GROUP_WINDOW_MS))
    ) {
      flush();
    }
    if (message.id === unreadFrom) rows.push({ kind: "unread", key: "unread" });
    run.push(message);
  }
  flush();
  return rows;
}

/** Corner radii (CSS `border-radius`) for a bubble, per the seed's convention. */
export function bubbleRadius(position: BubblePosition, sent: boolean): string {
  const lg = "var(--radius-lg)";
  const sm = "var(--radius-sm)";
  // [top-left, top-right, bottom-right, bottom-left] for a sent bubble; mirrored when received.
  const sentCorners: Record<BubblePosition, string[]> = {
    solo: [lg, lg, lg, lg],
    first: [lg, lg, sm, lg],
    middle: [lg, sm, sm, lg],
    last: [lg, sm, lg, lg],
  };
  const [tl, tr, br, bl] = sentCorners[position];
  return sent ? `${tl} ${tr} ${br} ${bl}` : `${tr} ${tl} ${bl} ${br}`;
}
