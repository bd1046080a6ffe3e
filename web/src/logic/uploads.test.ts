import { describe, expect, it } from "vitest";
import type { Attachment } from "@parley/protocol";
import { formatBytes, percent, ready, reduce, refusal, type UploadItem, MAX_UPLOAD_BYTES } from "./uploads";

const attachment = (id: string): Attachment => ({
  id,
  name: `${id}.png`,
  mimeType: "image/png",
  kind: "image",
  size: 100,
  thumbnails: [],
});
const item = (key: string): UploadItem => ({ key, name: `${key}.png`, size: 100, type: "image/png", status: "uploading", sent: 0 });

describe("uploads", () => {
  it.each([
    [0, 0, "The file is empty"],
    [10, 0, null],
    [MAX_UPLOAD_BYTES, 9, null],
    [MAX_UPLOAD_BYTES + 1, 0, "Larger than 25 MB"],
    [10, 10, "At most 10 files per message"],
  ])("refuses %s bytes with %s already attached: %s", (size, already, want) => {
    expect(refusal(size, already)).toBe(want);
  });

  it.each([
    [1, "1 byte"],
    [1000, "1000 bytes"],
    [1536, "1.5 KB"],
    [20 * 1024, "20 KB"],
    [25 * 1024 * 1024, "25 MB"],
  ])("formats %s as %s", (n, want) => expect(formatBytes(n)).toBe(want));

  it("moves items through uploading, failed, retried and done, in order", () => {
    let items = reduce([], { kind: "added", item: item("a") });
    items = reduce(items, { kind: "added", item: item("b") });
    items = reduce(items, { kind: "progress", key: "a", sent: 50 });
    expect(percent(items[0])).toBe(50);
    expect(ready(items)).toBeNull();
    items = reduce(items, { kind: "failed", key: "b", error: "Network error" });
    expect(items[1]).toMatchObject({ status: "error", error: "Network error" });
    expect(ready(items)).toBeNull();
    items = reduce(items, { kind: "retrying", key: "b" });
    items = reduce(items, { kind: "done", key: "b", attachment: attachment("att_b") });
    items = reduce(items, { kind: "done", key: "a", attachment: attachment("att_a") });
    expect(ready(items)?.map((a) => a.id)).toEqual(["att_a", "att_b"]);
    expect(percent(items[0])).toBe(100);
    items = reduce(items, { kind: "removed", key: "a" });
    expect(ready(items)?.map((a) => a.id)).toEqual(["att_b"]);
    expect(reduce(items, { kind: "cleared" })).toEqual([]);
    expect(ready([])).toEqual([]);
  });
});
