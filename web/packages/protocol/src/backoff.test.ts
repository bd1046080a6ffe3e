import { describe, expect, it } from "vitest";
import { backoffDelay, MAX_DELAY_MS } from "./backoff";

describe("backoff", () => {
  it("doubles from one second up to thirty, with jitter", () => {
    const middle = () => 0.5;
    expect([0, 1, 2, 3, 4, 5, 9].map((n) => backoffDelay(n, middle))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000,
    ]);
    expect(backoffDelay(0, () => 0)).toBe(800);
    expect(backoffDelay(0, () => 1)).toBe(1200);
    expect(backoffDelay(20, () => 1)).toBe(MAX_DELAY_MS);
  });
});
