import { describe, expect, it } from "vitest";
import { bubbleRadius, dateLabel, layout, positionOf } from "./grouping";

const now = new Date(2026, 10, 22, 15, 0);
const at = (day: number, h: number, m: number) => new Date(2026, 10, day, h, m).toISOString();
const msg = (id: string, senderId: string, createdAt: string) => ({ id, senderId, createdAt });

describe("grouping", () => {
  it("labels days", () => {
    expect(dateLabel(new Date(2026, 10, 22, 1), now)).toBe("Today");
    expect(dateLabel(new Date(2026, 10, 21, 23), now)).toBe("Yesterday");
    expect(dateLabel(new Date(2026, 0, 15), now, "en-US")).toBe("Jan 15");
    expect(dateLabel(new Date(2025, 0, 15), now, "en-US")).toBe("Jan 15, 2025");
    expect(dateLabel(new Date(2026, 0, 15), now, "de-DE")).toBe("15. Jan.");
  });

  it("positions bubbles in a run", () => {
    expect(positionOf(0, 1)).toBe("solo");
    expect([0, 1, 2].map((i) => positionOf(i, 3))).toEqual(["first", "middle", "last"]);
  });

  const six = [
    msg("1", "ann", at(21, 22, 0)),
    msg("2", "ann", at(22, 9, 0)),
    msg("3", "ann", at(22, 9, 2)),
    msg("4", "ann", at(22, 9, 4)),
    msg("5", "ben", at(22, 9, 5)),
    msg("6", "ben", at(22, 9, 30)),
  ];
  const shape = (rows: ReturnType<typeof layout>) =>
    rows.map((r) => (r.kind === "date" ? r.label : r.kind === "unread" ? "NEW" : `${r.senderId}:${r.message.id}/${r.position}`));

  it("groups by sender, time window and day, one row per message", () => {
    expect(shape(layout(six, now))).toEqual([
      "Yesterday",
      "ann:1/solo",
      "Today",
      "ann:2/first",
      "ann:3/middle",
      "ann:4/last",
      "ben:5/solo",
      "ben:6/solo",
    ]);
  });

  it("puts a system message on a line of its own, between runs", () => {
    const notice = { ...six[2], id: "n", system: true };
    const withNotice = [...six.slice(0, 3), notice, ...six.slice(3)];
    expect(shape(layout(withNotice, now))).toEqual([
      "Yesterday",
      "ann:1/solo",
      "Today",
      "ann:2/first",
      "ann:3/last",
      "ann:n/solo",
      "ann:4/solo",
      "ben:5/solo",
      "ben:6/solo",
    ]);
  });

  it("puts the new-messages divider before the first unread, splitting a run", () => {
    expect(shape(layout(six, now, "3"))).toEqual([
      "Yesterday",
      "ann:1/solo",
      "Today",
      "ann:2/solo",
      "NEW",
      "ann:3/first",
      "ann:4/last",
      "ben:5/solo",
      "ben:6/solo",
    ]);
  });

  it("keeps the keys of rows already shown when older messages come in front", () => {
    const later = layout(six.slice(3), now).map((r) => r.key);
    const all = layout(six, now).map((r) => r.key);
    for (const key of later) expect(all).toContain(key);
  });

  it("mirrors the radii of received bubbles", () => {
    expect(bubbleRadius("first", true)).toBe("var(--radius-lg) var(--radius-lg) var(--radius-sm) var(--radius-lg)");
    expect(bubbleRadius("first", false)).toBe("var(--radius-lg) var(--radius-lg) var(--radius-lg) var(--radius-sm)");
    expect(bubbleRadius("solo", false)).toBe(bubbleRadius("solo", true));
  });
});
