import { describe, expect, it } from "vitest";
import type { Reaction } from "@parley/protocol";
import { applyToggle, reconcile, toggleFor, type Toggle } from "./reactions";

const r = (emoji: string, ...userIds: string[]): Reaction => ({ emoji, count: userIds.length, userIds });
const t = (emoji: string, action: Toggle["action"], messageId = "m1", id = emoji + action): Toggle => ({
  id,
  messageId,
  emoji,
  action,
});

describe("reactions", () => {
  it.each([
    ["add a new emoji", [r("👍", "u2")], t("❤️", "add"), [r("👍", "u2"), r("❤️", "me")]],
    ["add to an existing one", [r("👍", "u2")], t("👍", "add"), [r("👍", "u2", "me")]],
    ["add twice changes nothing", [r("👍", "me")], t("👍", "add"), [r("👍", "me")]],
    ["remove mine", [r("👍", "u2", "me")], t("👍", "remove"), [r("👍", "u2")]],
    ["remove the last one drops it", [r("👍", "me"), r("🎉", "u2")], t("👍", "remove"), [r("🎉", "u2")]],
    ["remove what is not mine changes nothing", [r("👍", "u2")], t("👍", "remove"), [r("👍", "u2")]],
  ])("%s", (_, before, toggle, after) => {
    expect(applyToggle(before, toggle, "me")).toEqual(after);
  });

  it("keeps my pending toggle over a server update from someone else", () => {
    // I tapped 👍 (not answered yet); meanwhile u3's ❤️ arrives, without my 👍.
    const pending = [t("👍", "add")];
    const server = [r("👍", "u2"), r("❤️", "u3")];
    expect(reconcile(server, pending, "m1", "me")).toEqual([r("👍", "u2", "me"), r("❤️", "u3")]);
    // Once the server has mine too, the same toggle changes nothing (no double count).
    const answered = [r("👍", "u2", "me"), r("❤️", "u3")];
    expect(reconcile(answered, pending, "m1", "me")).toEqual(answered);
    // Toggles of other messages do not apply.
    expect(reconcile(server, [t("👍", "add", "m2")], "m1", "me")).toEqual(server);
  });

  it("a tap adds what I have not reacted with and removes what I have", () => {
    expect(toggleFor([r("👍", "u2")], "m1", "👍", "me", "x").action).toBe("add");
    expect(toggleFor([r("👍", "me")], "m1", "👍", "me", "x").action).toBe("remove");
  });
});
