// What the UI says about someone's presence and typing, per the design seed's tables.

/** `unknown`: the server cannot tell now (several instances and their broker unreachable). */
export type PresenceStatus = "online" | "away" | "dnd" | "offline" | "unknown";

/** Dates and times are written in the browser's locale (`undefined`); tests pin one. */
export const formatting: { locale: string | undefined } = { locale: undefined };

function time(date: Date): string {
  const { locale } = formatting;
  return date.toLocaleTimeString(locale, { hour: "numeric", minute: "2-digit" });
}

/** "Online", "Away", "Do not disturb", "Last seen 5 minutes ago", "Last seen today at 2:30 PM",
 *  "Last seen yesterday", "Last seen Jan 15", or "Offline" when never seen. */
export function presenceText(status: PresenceStatus, lastSeenAt: string | null, now: Date): string {
  if (status === "online") return "Online";
  if (status === "away") return "Away";
  if (status === "dnd") return "Do not disturb";
  if (status === "unknown") return "";
  if (!lastSeenAt) return "Offline";
  const seen = new Date(lastSeenAt);
  const minutes = Math.floor((now.getTime() - seen.getTime()) / 60_000);
  if (minutes < 1) return "Last seen just now";
  if (minutes < 60) return `Last seen ${minutes} minute${minutes === 1 ? "" : "s"} ago`;
  const startOfToday = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  if (seen >= startOfToday) return `Last seen today at ${time(seen)}`;
  const startOfYesterday = new Date(startOfToday.getTime() - 86_400_000);
  if (seen >= startOfYesterday) return "Last seen yesterday";
  const options: Intl.DateTimeFormatOptions = { month: "short", day: "numeric" };
  if (seen.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return `Last seen ${seen.toLocaleDateString(formatting.locale, options)}`;
}

/** "Alice is typing...", "Alice and Bob are typing...", "Alice and 2 others are typing...". */
export function typingText(names: string[]): string {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing...`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing...`;
  return `${names[0]} and ${names.length - 1} others are typing...`;
}

/** "now", "2m", "3h", "Yesterday", "Jan 15": the conversation list's timestamps. */
export function relativeTime(iso: string, now: Date): string {
  const then = new Date(iso);
  const minutes = Math.floor((now.getTime() - then.getTime()) / 60_000);
  if (minutes < 1) return "now";
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h`;
  if (hours < 48) return "Yesterday";
  return then.toLocaleDateString(formatting.locale, { month: "short", day: "numeric" });
}
