// Unsent text per conversation, kept across conversation switches and reloads (localStorage: it
// must be there for the first render of the composer). One entry per user, at most DRAFTS_KEPT
// conversations (the most recently edited); logging out removes the user's drafts.

export const DRAFTS_KEPT = 100;

type Drafts = Record<string, string>;

const key = (userId: string) => `parley.drafts.${userId}`;

function read(storage: Storage | null, userId: string): Drafts {
  try {
    const saved = storage?.getItem(key(userId));
    const parsed: unknown = saved ? JSON.parse(saved) : {};
    return parsed && typeof parsed === "object" ? (parsed as Drafts) : {};
  } catch {
    return {};
  }
}

const browser = (): Storage | null => (typeof localStorage === "undefined" ? null : localStorage);

export function loadDraft(userId: string, conversationId: string, storage = browser()): string {
  return read(storage, userId)[conversationId] ?? "";
}

/** Saves (or, for empty text, removes) a draft; the oldest beyond DRAFTS_KEPT go. */
export function saveDraft(userId: string, conversationId: string, text: string, storage = browser()): void {
  const { [conversationId]: _, ...rest } = read(storage, userId);
  const entries = Object.entries(rest);
  if (text) entries.push([conversationId, text]);
  const kept = Object.fromEntries(entries.slice(-DRAFTS_KEPT));
  try {
    if (Object.keys(kept).length === 0) storage?.removeItem(key(userId));
    else storage?.setItem(key(userId), JSON.stringify(kept));
  } catch {
    // Storage full or refused: the draft lives only as long as the page.
  }
}

export function clearDrafts(userId: string, storage = browser()): void {
  storage?.removeItem(key(userId));
}
