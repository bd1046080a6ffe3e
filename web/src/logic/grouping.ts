// How a conversation's messages are laid out: date separators ("Today", "Yesterday", "Jan 15"),
// and runs of messages from one sender within a few minutes grouped, each bubble knowing its
// position in the run (which decides its corner radii in the design seed).

export type BubblePosition = "solo" | "first" | "middle" | "last";

export interface Groupable {
  id: string;
  senderId: string;
  createdAt: string; // ISO 8601
}

export type Row<M extends Groupable> =
  | { kind: "date"; key: string; label: string }
  | { kind: "group"; key: string; senderId: string; items: { message: M; position: BubblePosition }[] };

/** Messages from one sender closer together than this stay in one group. */
export const GROUP_WINDOW_MS = 5 * 60 * 1000;

function dayKey(date: Date): string {
  return `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
}

/** "Today", "Yesterday", "Jan 15", or "Jan 15, 2025" for another year. */
export function dateLabel(date: Date, now: Date): string {
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const day = new Date(date.getFullYear(), date.getMonth(), date.getDate());
  const days = Math.round((today.getTime() - day.getTime()) / 86_400_000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  const options: Intl.DateTimeFormatOptions = { month: "short", day: "numeric" };
  if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return date.toLocaleDateString("en-US", options);
}

export function positionOf(index: number, length: number): BubblePosition {
  if (length === 1) return "solo";
  if (index === 0) return "first";
  if (index === length - 1) return "last";
  return "middle";
}

/** Rows for `messages` (oldest first). */
export function layout<M extends Groupable>(messages: M[], now: Date): Row<M>[] {
  const rows: Row<M>[] = [];
  let runs: M[] = [];
  let lastDay = "";
  const flush = () => {
    if (runs.length === 0) return;
    rows.push({
      kind: "group",
      key: `g-${runs[0].id}`,
      senderId: runs[0].senderId,
      items: runs.map((message, i) => ({ message, position: positionOf(i, runs.length) })),
    });
    runs = [];
  };
  for (const message of messages) {
    const at = new Date(message.createdAt);
    const day = dayKey(at);
    if (day !== lastDay) {
      flush();
      rows.push({ kind: "date", key: `d-${day}`, label: dateLabel(at, now) });
      lastDay = day;
    }
    const previous = runs[runs.length - 1];
    if (
      previous &&
      (previous.senderId !== message.senderId ||
        at.getTime() - new Date(previous.createdAt).getTime() > GROUP_WINDOW_MS)
    ) {
      flush();
    }
    runs.push(message);
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
