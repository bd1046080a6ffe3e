import { describe, expect, it } from "vitest";
import { mentionsMe, splitMentions } from "./mentions";

describe("splitMentions", () => {
  const names = new Set(["ann", "bob_2"]);
  it.each([
    ["hi @ann!", [{ text: "hi " }, { text: "@ann", mention: true }, { text: "!" }]],
    ["@Ann and @bob_2", [{ text: "@Ann", mention: true }, { text: " and " }, { text: "@bob_2", mention: true }]],
    ["mail ann@example.com", [{ text: "mail ann@example.com" }]],
    ["@@ann x.@ann", [{ text: "@@ann x.@ann" }]],
    ["@cat is not resolved", [{ text: "@cat is not resolved" }]],
    ["@annie is another name", [{ text: "@annie is another name" }]],
    ["@everyone too", [{ text: "@everyone too" }]],
  ])("%s", (text, parts) => {
    expect(splitMentions(text, names, false)).toEqual(parts);
  });

  it("marks @everyone only when the message mentions everyone", () => {
    expect(splitMentions("@everyone lunch", new Set(), true)).toEqual([
      { text: "@everyone", mention: true },
      { text: " lunch" },
    ]);
  });
});

describe("mentionsMe", () => {
  it("by name or everyone, never by oneself", () => {
    expect(mentionsMe(["usr_me"], false, "usr_a", "usr_me")).toBe(true);
    expect(mentionsMe([], true, "usr_a", "usr_me")).toBe(true);
    expect(mentionsMe([], true, "usr_me", "usr_me")).toBe(false);
    expect(mentionsMe(["usr_b"], false, "usr_a", "usr_me")).toBe(false);
    // A message saved offline before mentions existed.
    expect(mentionsMe(undefined, undefined, "usr_a", "usr_me")).toBe(false);
  });
});
