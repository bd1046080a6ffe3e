import { describe as suite, expect, it } from "vitest";
import { describe, isMuted, muteUntil } from "./notifications";

suite("conversation notifications", () => {
  const now = Date.parse("2026-12-02T10:00:00Z");
  it("computes mute ends", () => {
    expect(muteUntil(1, now)).toBe("2026-12-02T11:00:00.000Z");
    expect(muteUntil(null, now).startsWith("9999")).toBe(true);
  });
  it("reads mutes and labels", () => {
    expect(isMuted(undefined, now)).toBe(false);
    expect(isMuted({ level: "all", mutedUntil: "2026-12-02T09:00:00Z", muted: false }, now)).toBe(false);
    expect(isMuted({ level: "all", mutedUntil: "2026-12-02T11:00:00Z", muted: true }, now)).toBe(true);
    expect(describe({ level: "mentions", mutedUntil: null, muted: false }, now)).toBe("Notifications: Only @mentions");
    expect(describe({ level: "all", mutedUntil: "9999-12-31T23:59:59Z", muted: true }, now)).toBe("Notifications: muted");
  });
});
