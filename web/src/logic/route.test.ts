import { describe, expect, it } from "vitest";
import { parseRoute, routePath } from "./route";

describe("routes", () => {
  it.each([
    ["/", null],
    ["/c/conv_01JD8X", "conv_01JD8X"],
    ["/c/conv_01JD8X/", "conv_01JD8X"],
    ["/c/", null],
    ["/c/a/b", null],
    ["/c/%3Cscript%3E", null],
    ["/settings", null],
  ])("%s opens %s", (path, id) => {
    expect(parseRoute(path).conversationId).toBe(id);
  });

  it("round-trips", () => {
    expect(routePath({ conversationId: null })).toBe("/");
    expect(parseRoute(routePath({ conversationId: "conv_1" })).conversationId).toBe("conv_1");
  });
});
