// The daily do-not-disturb window ("quiet hours") as the settings form edits it: HH:MM times in
// an IANA zone, wrapping past midnight when the end is earlier than the start.

export interface Schedule {
  start: string;
  end: string;
  timeZone: string;
}

/** What the form starts with when a user turns quiet hours on. */
export function defaultSchedule(zone: string): Schedule {
  return { start: "22:00", end: "07:00", timeZone: zone };
}

const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Why the schedule cannot be saved, or null when it can. */
export function scheduleProblem(s: Schedule, zones: readonly string[]): string | null {
  if (!TIME.test(s.start) || !TIME.test(s.end)) return "Times are HH:MM, 00:00 to 23:59";
  if (s.start === s.end) return "The start and the end must differ";
  if (!zones.includes(s.timeZone)) return "Choose a time zone from the list";
  return null;
}

/** "22:00 to 07:00 the next morning" or "12:00 to 13:00". */
export function scheduleText(s: Schedule): string {
  return s.end < s.start ? `${s.start} to ${s.end} the next day` : `${s.start} to ${s.end}`;
}

/** The zones the browser knows, with `local` (and any zone already saved) always among them. */
export function zoneChoices(known: readonly string[], local: string, saved?: string): string[] {
  const all = new Set(known);
  all.add(local);
  if (saved) all.add(saved);
  return [...all].sort();
}
