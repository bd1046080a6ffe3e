import { describe, expect, it } from "vitest";
import { insertMention, mentionAt, mentionCandidates, mentionsMe, splitMentions } from "./mentions";

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

describe("mention autocomplete", () => {
  it.each([
    ["@", 1, { start: 0, query: "" }],
    ["hi @an", 6, { start: 3, query: "an" }],
    ["hi @an there", 6, { start: 3, query: "an" }],
    ["hi @an there", 5, { start: 3, query: "a" }],
    ["(@bo", 4, { start: 1, query: "bo" }],
    ["mail ann@ex", 11, null],
    ["no at here", 5, null],
    ["@ann done", 9, null],
    [`@${"a".repeat(33)}`, 34, null],
  ])("%s at %i", (text, caret, expected) => {
    expect(mentionAt(text, caret)).toEqual(expected);
  });

  const members = [
    { userId: "me", username: "annika", displayName: "Annika Me" },
    { userId: "u1", username: "ann", displayName: "Ann Lee" },
    { userId: "u2", username: "bob", displayName: "Annabel Bob" },
    { userId: "u3", username: "carl", displayName: "Carl" },
  ];

  it("offers usernames first, then display names, never me", () => {
    expect(mentionCandidates(members, "an", "me", false).map((c) => c.username)).toEqual(["ann", "bob"]);
    expect(mentionCandidates(members, "BOB", "me", false).map((c) => c.username)).toEqual(["bob"]);
    expect(mentionCandidates(members, "", "me", false, 2).map((c) => c.username)).toEqual(["ann", "bob"]);
  });

  it("offers @everyone only where allowed", () => {
    expect(mentionCandidates(members, "ev", "me", true).map((c) => c.username)).toEqual(["everyone"]);
    expect(mentionCandidates(members, "ev", "me", false)).toEqual([]);
  });

  it("replaces the typed part and puts the caret after one space", () => {
    expect(insertMention("hi @an", 3, 6, "ann")).toEqual({ text: "hi @ann ", caret: 8 });
    expect(insertMention("hi @a there", 3, 5, "ann")).toEqual({ text: "hi @ann there", caret: 8 });
    expect(insertMention("@anx!", 0, 2, "ann")).toEqual({ text: "@ann !", caret: 5 });
  });
});
