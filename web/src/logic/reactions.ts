// Reactions as the user sees them: the server's list (`message:reacted`, history, sync) with my
// own toggles that are still on their way applied on top, so a toggle shows at once and a
// change from someone else arriving meanwhile neither hides nor doubles it. Pure.

import type { Reaction } from "@parley/protocol";

export interface Toggle {
  /** The request's own id, to drop it once answered. */
  id: string;
  messageId: string;
  emoji: string;
  action: "add" | "remove";
}

/** The quick row under a message's actions; the picker offers these and more. */
export const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🙏"];
export const PICKER_REACTIONS = [
  ...QUICK_REACTIONS,
  "🎉", "🔥", "👀", "✅", "❌", "👏", "🙌", "🤔", "😅", "😍", "😎", "🥲", "💯", "🚀", "👋", "🤝", "☕", "🍕",
];

export function hasReacted(reactions: Reaction[], emoji: string, me: string): boolean {
  return reactions.some((r) => r.emoji === emoji && r.userIds.includes(me));
}

/** One toggle applied (idempotent, like the server's: adding twice or removing what is not there
 * changes nothing). */
export function applyToggle(reactions: Reaction[], toggle: Toggle, me: string): Reaction[] {
  const present = hasReacted(reactions, toggle.emoji, me);
  if (toggle.action === "add") {
    if (present) return reactions;
    const existing = reactions.find((r) => r.emoji === toggle.emoji);
    if (!existing) return [...reactions, { emoji: toggle.emoji, count: 1, userIds: [me] }];
    return reactions.map((r) =>
      r.emoji === toggle.emoji ? { ...r, count: r.count + 1, userIds: [...r.userIds, me] } : r,
    );
  }
  if (!present) return reactions;
  return reactions
    .map((r) =>
      r.emoji === toggle.emoji ? { ...r, count: r.count - 1, userIds: r.userIds.filter((u) => u !== me) } : r,
    )
    .filter((r) => r.count > 0);
}

/** What to show: the server's reactions with my unanswered toggles of this message on top. */
export function reconcile(server: Reaction[], toggles: Toggle[], messageId: string, me: string): Reaction[] {
  return toggles.filter((t) => t.messageId === messageId).reduce((r, t) => applyToggle(r, t, me), server);
}

/** The toggle a tap on `emoji` makes, given what is shown. */
export function toggleFor(shown: Reaction[], messageId: string, emoji: string, me: string, id: string): Toggle {
  return { id, messageId, emoji, action: hasReacted(shown, emoji, me) ? "remove" : "add" };
}
