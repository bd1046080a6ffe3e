// A conversation's notification settings (pure): what the menu offers and how it reads.

import type { ConversationNotifications } from "@parley/protocol";

export type Level = ConversationNotifications["level"];

/** The levels, as the menu names them. */
export const LEVELS: { level: Level; label: string }[] = [
  { level: "all", label: "All messages" },
  { level: "mentions", label: "Only @mentions" },
  { level: "off", label: "Nothing" },
];

/** Mute lengths the menu offers (`null`: until turned back on). */
export const MUTES: { label: string; hours: number | null }[] = [
  { label: "Mute for 1 hour", hours: 1 },
  { label: "Mute for 8 hours", hours: 8 },
  { label: "Mute for 1 week", hours: 24 * 7 },
  { label: "Mute until I unmute", hours: null },
];

/** Far enough to mean "until turned back on". */
const FOREVER = "9999-12-31T23:59:59Z";

/** When a mute of `hours` from `now` ends, as the API takes it. */
export function muteUntil(hours: number | null, now: number): string {
  return hours === null ? FOREVER : new Date(now + hours * 3_600_000).toISOString();
}

/** Whether the conversation is muted at `now` (settings kept by an older client may be absent). */
export function isMuted(prefs: ConversationNotifications | undefined, now: number): boolean {
  return !!prefs?.mutedUntil && Date.parse(prefs.mutedUntil) > now;
}

/** One line for the menu button's label. */
export function describe(prefs: ConversationNotifications | undefined, now: number): string {
  const level = LEVELS.find((l) => l.level === (prefs?.level ?? "all"))?.label ?? "All messages";
  if (!isMuted(prefs, now)) return `Notifications: ${level}`;
  const until = prefs!.mutedUntil!;
  return until.startsWith("9999") ? "Notifications: muted" : `Notifications: muted until ${new Date(until).toLocaleTimeString()}`;
}
