import { describe, expect, it } from "vitest";
import { bubbleRadius, dateLabel, layout, positionOf } from "./grouping";

const now = new Date(2026, 10, 22, 15, 0);
const at = (day: number, h: number, m: number) => new Date(2026, 10, day, h, m).toISOString();
const msg = (id: string, senderId: string, createdAt: string) => ({ id, senderId, createdAt });

describe("grouping", () => {
  it("labels days", () => {
    expect(dateLabel(new Date(2026, 10, 22, 1), now)).toBe("Today");
    expect(dateLabel(new Date(2026, 10, 21, 23), now)).toBe("Yesterday");
    expect(dateLabel(new Date(2026, 0, 15), now)).toBe("Jan 15");
    expect(dateLabel(new Date(2025, 0, 15), now)).toBe("Jan 15, 2025");
  });

  it("positions bubbles in a run", () => {
    expect(positionOf(0, 1)).toBe("solo");
    expect([0, 1, 2].map((i) => positionOf(i, 3))).toEqual(["first", "middle", "last"]);
  });

  it("groups by sender, time window and day", () => {
    const rows = layout(
      [
        msg("1", "ann", at(21, 22, 0)),
        msg("2", "ann", at(22, 9, 0)),
        msg("3", "ann", at(22, 9, 2)),
        msg("4", "ann", at(22, 9, 4)),
        msg("5", "ben", at(22, 9, 5)),
        msg("6", "ben", at(22, 9, 30)),
      ],
      now,
    );
    const shape = rows.map((r) =>
      r.kind === "date" ? r.label : `${r.senderId}:${r.items.map((i) => `${i.message.id}/${i.position}`).join(",")}`,
    );
    expect(shape).toEqual([
      "Yesterday",
      "ann:1/solo",
      "Today",
      "ann:2/first,3/middle,4/last",
      "ben:5/solo",
      "ben:6/solo",
    ]);
  });

  it("mirrors the radii of received bubbles", () => {
    expect(bubbleRadius("first", true)).toBe("var(--radius-lg) var(--radius-lg) var(--radius-sm) var(--radius-lg)");
    expect(bubbleRadius("first", false)).toBe("var(--radius-lg) var(--radius-lg) var(--radius-lg) var(--radius-sm)");
    expect(bubbleRadius("solo", false)).toBe(bubbleRadius("solo", true));
  });
});
