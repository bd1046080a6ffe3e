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
