import { describe, expect, it } from "vitest";
import { splitLinks } from "./links";

describe("links", () => {
  it.each([
    ["no links here", [{ text: "no links here" }]],
    ["see https://example.com.", [{ text: "see " }, { text: "https://example.com", href: "https://example.com" }, { text: "." }]],
    ["www.example.org/a?b=1, ok", [{ text: "www.example.org/a?b=1", href: "https://www.example.org/a?b=1" }, { text: ", ok" }]],
    [
      "(https://en.wikipedia.org/wiki/Foo_(bar))",
      [{ text: "(" }, { text: "https://en.wikipedia.org/wiki/Foo_(bar)", href: "https://en.wikipedia.org/wiki/Foo_(bar)" }, { text: ")" }],
    ],
    ["javascript:alert(1) stays text", [{ text: "javascript:alert(1) stays text" }]],
    ['<a href="https://x.y">', [{ text: '<a href="' }, { text: "https://x.y", href: "https://x.y" }, { text: '">' }]],
  ])("%s", (text, parts) => {
    expect(splitLinks(text)).toEqual(parts);
  });
});
