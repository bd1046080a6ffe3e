import { describe, expect, it } from "vitest";
import { base64UrlToBytes, registrationOf } from "./push";

describe("push", () => {
  it("decodes base64url with or without padding", () => {
    expect([...base64UrlToBytes("AQID_-8")]).toEqual([1, 2, 3, 255, 239]);
    expect([...base64UrlToBytes("AQID_-8=")]).toEqual([1, 2, 3, 255, 239]);
    expect(base64UrlToBytes("").length).toBe(0);
  });

  it("turns a subscription into a registration, or nothing without keys", () => {
    const sub = { endpoint: "https://fcm.googleapis.com/x", keys: { p256dh: "BP", auth: "au" } };
    expect(registrationOf(sub, "Chrome on Linux")).toEqual({
      kind: "webpush",
      endpoint: "https://fcm.googleapis.com/x",
      keys: { p256dh: "BP", auth: "au" },
      label: "Chrome on Linux",
    });
    expect(registrationOf({ endpoint: "https://x" }, "l")).toBeNull();
    expect(registrationOf(sub, "x".repeat(150))?.label).toHaveLength(100);
  });
});
