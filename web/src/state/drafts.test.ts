import { describe, expect, it } from "vitest";
import { clearDrafts, DRAFTS_KEPT, loadDraft, saveDraft } from "./drafts";

function fakeStorage(): Storage {
  const map = new Map<string, string>();
  return {
    get length() {
      return map.size;
    },
    clear: () => map.clear(),
    getItem: (k) => map.get(k) ?? null,
    key: (i) => [...map.keys()][i] ?? null,
    removeItem: (k) => void map.delete(k),
    setItem: (k, v) => void map.set(k, v),
  };
}

describe("drafts", () => {
  it("keeps one draft per conversation and user, bounded, and clears on logout", () => {
    const s = fakeStorage();
    saveDraft("usr_a", "conv_1", "half a thought", s);
    saveDraft("usr_a", "conv_2", "another", s);
    saveDraft("usr_b", "conv_1", "not yours", s);
    expect(loadDraft("usr_a", "conv_1", s)).toBe("half a thought");
    expect(loadDraft("usr_b", "conv_1", s)).toBe("not yours");
    saveDraft("usr_a", "conv_1", "", s);
    expect(loadDraft("usr_a", "conv_1", s)).toBe("");
    for (let i = 0; i < DRAFTS_KEPT + 5; i++) saveDraft("usr_a", `conv_x${i}`, `d${i}`, s);
    expect(loadDraft("usr_a", "conv_2", s)).toBe("");
    expect(loadDraft("usr_a", `conv_x${DRAFTS_KEPT + 4}`, s)).toBe(`d${DRAFTS_KEPT + 4}`);
    clearDrafts("usr_a", s);
    expect(loadDraft("usr_a", `conv_x${DRAFTS_KEPT + 4}`, s)).toBe("");
    expect(loadDraft("usr_b", "conv_1", s)).toBe("not yours");
  });

  it("survives a broken entry", () => {
    const s = fakeStorage();
    s.setItem("parley.drafts.usr_a", "{not json");
    expect(loadDraft("usr_a", "conv_1", s)).toBe("");
    saveDraft("usr_a", "conv_1", "fresh", s);
    expect(loadDraft("usr_a", "conv_1", s)).toBe("fresh");
  });
});
