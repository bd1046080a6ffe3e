// Web links in message text, found so the bubble can make them clickable while everything else
// stays text: only http(s) URLs (and www. ones, given https), trailing punctuation left out, never
// `javascript:` or any other scheme. Pure.

export interface Part {
  text: string;
  /** Set for a link: where it goes. */
  href?: string;
}

const LINK = /\b(?:https?:\/\/|www\.)[^\s<>"]+/gi;
/** Punctuation that ends a sentence rather than a URL. */
const TRAILING = /[.,;:!?'")\]}]+$/;

export function splitLinks(text: string): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    let url = match[0];
    const start = match.index ?? 0;
    const trail = TRAILING.exec(url);
    // Keep a closing parenthesis that balances one inside the URL (Wikipedia links).
    if (trail) {
      let cut = trail[0];
      if (cut.startsWith(")") && (url.match(/\(/g)?.length ?? 0) > (url.slice(0, -cut.length).match(/\)/g)?.length ?? 0)) {
        cut = cut.slice(1);
      }
      url = url.slice(0, url.length - cut.length);
    }
    if (!url) continue;
    const href = url.toLowerCase().startsWith("www.") ? `https://${url}` : url;
    try {
      const parsed = new URL(href);
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") continue;
    } catch {
      continue;
    }
    if (start > last) parts.push({ text: text.slice(last, start) });
    parts.push({ text: url, href });
    last = start + url.length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}
