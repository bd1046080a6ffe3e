import { describe, expect, it } from "vitest";
import { MAX_TOASTS, TOAST_MS, current, toastLabel, withToast, type ToastItem } from "./toasts";

const toast = (conversationId: string, at: number, body = "hi"): ToastItem => ({
  conversationId,
  messageId: `msg_${at}`,
  title: "Design",
  body,
  count: 1,
  priority: "normal",
  at,
});

describe("toasts", () => {
  it("keeps one per conversation, newest first, at most a few", () => {
    let list: ToastItem[] = [];
    list = withToast(list, toast("a", 1));
    list = withToast(list, toast("b", 2));
    list = withToast(list, toast("a", 3, "3 new messages"));
    expect(list.map((t) => [t.conversationId, t.body])).toEqual([
      ["a", "3 new messages"],
      ["b", "hi"],
    ]);
    for (let i = 0; i < 10; i++) list = withToast(list, toast(`c${i}`, 10 + i));
    expect(list).toHaveLength(MAX_TOASTS);
    expect(list[0].conversationId).toBe("c9");
  });

  it("expires toasts and drops the open conversation's", () => {
    const list = [toast("a", 1000), toast("b", 0)];
    expect(current(list, TOAST_MS - 1, null)).toBe(list);
    expect(current(list, TOAST_MS + 1, null).map((t) => t.conversationId)).toEqual(["a"]);
    expect(current(list, 10, "a").map((t) => t.conversationId)).toEqual(["b"]);
  });

  it("labels with the title", () => {
    expect(toastLabel({ title: "Ann", body: "lunch?" })).toBe("Ann: lunch?");
    expect(toastLabel({ title: "", body: "lunch?" })).toBe("lunch?");
  });
});
