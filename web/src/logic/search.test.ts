import { describe, expect, it } from "vitest";
import { moveSelection, searchParams, snippetParts } from "./search";

describe("search", () => {
  it("builds the query, scoped or not", () => {
    expect(searchParams("  ")).toBeNull();
    expect(searchParams("lunch from:ann")).toBe("q=lunch+from%3Aann&limit=20");
    expect(searchParams("pizza", "conv_1", 5)).toBe("q=pizza&limit=5&conversationId=conv_1");
  });

  it("splits a snippet by its highlights, in characters", () => {
    expect(snippetParts({ text: "say héllo to you", highlights: [[4, 9], [13, 16]] })).toEqual([
      { text: "say ", mark: false },
      { text: "héllo", mark: true },
      { text: " to ", mark: false },
      { text: "you", mark: true },
    ]);
    // Characters, not UTF-16 units: the emoji counts once.
    expect(snippetParts({ text: "🍕 pizza", highlights: [[2, 7]] })).toEqual([
      { text: "🍕 ", mark: false },
      { text: "pizza", mark: true },
    ]);
    // Ranges past the end or overlapping are clipped.
    expect(snippetParts({ text: "abc", highlights: [[1, 10], [0, 2]] })).toEqual([
      { text: "ab", mark: true },
      { text: "c", mark: true },
    ]);
  });

  it("moves through results with the arrows, wrapping", () => {
    expect(moveSelection(-1, "ArrowDown", 3)).toBe(0);
    expect(moveSelection(2, "ArrowDown", 3)).toBe(0);
    expect(moveSelection(0, "ArrowUp", 3)).toBe(2);
    expect(moveSelection(1, "End", 3)).toBe(2);
    expect(moveSelection(1, "x", 3)).toBe(1);
    expect(moveSelection(0, "ArrowDown", 0)).toBe(-1);
  });
});
