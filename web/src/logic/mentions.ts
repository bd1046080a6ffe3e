// Mentions in a message's text, by the server's rule (docs/protocol.md, "Mentions"): `@name` (3
// to 32 of a-z, 0-9, _; any case) where the `@` starts the text or follows a character that
// cannot be part of a name or an address. Only names the message resolved are marked.

export interface TextPart {
  text: string;
  /** The part is a mention the message resolved (a member's name, or @everyone). */
  mention?: boolean;
}

const NAME = /[A-Za-z0-9_]/;
const NOT_BEFORE = /[A-Za-z0-9_@.\-+/]/;

/** Splits `text` into plain parts and the mentions of `names` (lowercase usernames), plus
 * `@everyone` when `everyone`. */
export function splitMentions(text: string, names: Set<string>, everyone: boolean): TextPart[] {
  if (names.size === 0 && !everyone) return [{ text }];
  const parts: TextPart[] = [];
  let plain = 0;
  for (let at = text.indexOf("@"); at >= 0; at = text.indexOf("@", at + 1)) {
    if (at > 0 && NOT_BEFORE.test(text[at - 1])) continue;
    let end = at + 1;
    while (end < text.length && NAME.test(text[end])) end++;
    const name = text.slice(at + 1, end).toLowerCase();
    if (end - at - 1 < 3 || end - at - 1 > 32) continue;
    if (!(name === "everyone" ? everyone : names.has(name))) continue;
    if (at > plain) parts.push({ text: text.slice(plain, at) });
    parts.push({ text: text.slice(at, end), mention: true });
    plain = end;
    at = end - 1;
  }
  if (plain < text.length) parts.push({ text: text.slice(plain) });
  return parts;
}

/** Whether `me` is mentioned by a message (one kept offline by an older client may lack the
 * fields). */
export function mentionsMe(
  mentions: string[] | undefined,
  everyone: boolean | undefined,
  senderId: string,
  me: string,
): boolean {
  return senderId !== me && (everyone === true || (mentions ?? []).includes(me));
}

/** The `@name` being typed at `caret`: where its `@` is and what follows it (possibly nothing),
 * or null when the caret is not in one. */
export function mentionAt(text: string, caret: number): { start: number; query: string } | null {
  let at = caret;
  while (at > 0 && NAME.test(text[at - 1])) at--;
  if (at === 0 || text[at - 1] !== "@") return null;
  const start = at - 1;
  if (start > 0 && NOT_BEFORE.test(text[start - 1])) return null;
  const query = text.slice(at, caret);
  return query.length > 32 ? null : { start, query };
}

export interface Candidate {
  username: string;
  displayName: string;
}

/** Up to `limit` members whose username or display name starts with `query` (any case; never
 * me), usernames first; `@everyone` too where I may use it. */
export function mentionCandidates(
  members: readonly (Candidate & { userId: string })[],
  query: string,
  me: string,
  everyone: boolean,
  limit = 6,
): Candidate[] {
  const q = query.toLowerCase();
  const starts = (m: Candidate) => m.username.toLowerCase().startsWith(q);
  const named = (m: Candidate) => m.displayName.toLowerCase().split(/\s+/).some((w) => w.startsWith(q));
  const others = members.filter((m) => m.userId !== me);
  const found: Candidate[] = [...others.filter(starts), ...others.filter((m) => !starts(m) && named(m))];
  if (everyone && "everyone".startsWith(q)) found.push({ username: "everyone", displayName: "Everyone here" });
  return found.slice(0, limit);
}

/** `text` with the `@query` at `start..caret` replaced by `@username ` and where the caret goes. */
export function insertMention(
  text: string,
  start: number,
  caret: number,
  username: string,
): { text: string; caret: number } {
  const after = text.slice(caret).replace(/^[A-Za-z0-9_]*/, "");
  const inserted = `@${username}${after.startsWith(" ") ? "" : " "}`;
  return { text: text.slice(0, start) + inserted + after, caret: start + inserted.length + (after.startsWith(" ") ? 1 : 0) };
}
