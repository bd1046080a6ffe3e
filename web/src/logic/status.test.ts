import { describe, expect, it } from "vitest";
import { committedStatus, isSlow, transition, type MessageStatus, type StatusEvent } from "./status";

describe("message status", () => {
  it("follows the state machine", () => {
    const cases: [MessageStatus, StatusEvent["type"], MessageStatus][] = [
      ["sending", "sent", "delivered"],
      ["sending", "failed", "error"],
      ["sending", "read", "read"],
      ["sending", "retry", "sending"],
      ["error", "retry", "sending"],
      ["error", "sent", "delivered"],
      ["error", "read", "error"],
      ["delivered", "read", "read"],
      ["delivered", "failed", "delivered"],
      ["delivered", "sent", "delivered"],
      ["read", "sent", "read"],
      ["read", "failed", "read"],
    ];
    for (const [from, event, to] of cases) {
      expect(transition(from, { type: event } as StatusEvent), `${from} + ${event}`).toBe(to);
    }
  });

  it("flags a slow send after three seconds, only while sending", () => {
    expect(isSlow("sending", 0, 2999)).toBe(false);
    expect(isSlow("sending", 0, 3000)).toBe(true);
    expect(isSlow("delivered", 0, 10000)).toBe(false);
  });

  it("derives read from the partner's watermark", () => {
    expect(committedStatus(5, 4)).toBe("delivered");
    expect(committedStatus(5, 5)).toBe("read");
  });
});
