import { describe, expect, it } from "vitest";
import { formatting, presenceText, relativeTime, typingText } from "./presence";

formatting.locale = "en-US";

const now = new Date(2026, 10, 22, 15, 0);
const ago = (minutes: number) => new Date(now.getTime() - minutes * 60_000).toISOString();

describe("presence text", () => {
  it("follows the seed's table", () => {
    expect(presenceText("online", null, now)).toBe("Online");
    expect(presenceText("unknown", null, now)).toBe("");
    expect(presenceText("away", ago(10), now)).toBe("Away");
    expect(presenceText("dnd", null, now)).toBe("Do not disturb");
    expect(presenceText("offline", null, now)).toBe("Offline");
    expect(presenceText("offline", ago(0), now)).toBe("Last seen just now");
    expect(presenceText("offline", ago(1), now)).toBe("Last seen 1 minute ago");
    expect(presenceText("offline", ago(5), now)).toBe("Last seen 5 minutes ago");
    expect(presenceText("offline", new Date(2026, 10, 22, 9, 30).toISOString(), now)).toBe(
      "Last seen today at 9:30 AM",
    );
    expect(presenceText("offline", new Date(2026, 10, 21, 20, 0).toISOString(), now)).toBe("Last seen yesterday");
    expect(presenceText("offline", new Date(2026, 0, 15).toISOString(), now)).toBe("Last seen Jan 15");
  });

  it("names who is typing", () => {
    expect(typingText([])).toBe("");
    expect(typingText(["Alice"])).toBe("Alice is typing...");
    expect(typingText(["Alice", "Bob"])).toBe("Alice and Bob are typing...");
    expect(typingText(["Alice", "Bob", "Cat"])).toBe("Alice and 2 others are typing...");
  });

  it("shortens list timestamps", () => {
    expect(relativeTime(ago(0), now)).toBe("now");
    expect(relativeTime(ago(2), now)).toBe("2m");
    expect(relativeTime(ago(180), now)).toBe("3h");
    expect(relativeTime(ago(60 * 30), now)).toBe("Yesterday");
    expect(relativeTime(new Date(2026, 0, 15).toISOString(), now)).toBe("Jan 15");
  });
});
