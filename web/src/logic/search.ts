// Message search on the client: the request's query string (the server parses the words and
// operators: `from:`, `in:`, `before:`, `after:`), and a snippet's highlights (ranges in Unicode
// characters, from the server) split into text parts to render as text, marked or not. Pure.

/** As the server sends it (`SearchHit.snippet`): `[start, end)` pairs, in characters. */
export interface Snippet {
  text: string;
  highlights: number[][];
}

export interface SnippetPart {
  text: string;
  mark: boolean;
}

/** The query string of `GET /api/search/messages`, or null when there is nothing to look for. */
export function searchParams(input: string, conversationId?: string, limit = 20): string | null {
  const q = input.trim();
  if (!q) return null;
  const params = new URLSearchParams({ q, limit: String(limit) });
  if (conversationId) params.set("conversationId", conversationId);
  return params.toString();
}

/** The snippet in parts; out-of-range or overlapping ranges are clipped, never trusted. */
export function snippetParts(snippet: Snippet): SnippetPart[] {
  const chars = [...snippet.text];
  const parts: SnippetPart[] = [];
  let at = 0;
  const ranges = [...snippet.highlights].sort((a, b) => a[0] - b[0]);
  for (const [rawStart = 0, rawEnd = 0] of ranges) {
    const start = Math.max(at, Math.min(rawStart, chars.length));
    const end = Math.max(start, Math.min(rawEnd, chars.length));
    if (start > at) parts.push({ text: chars.slice(at, start).join(""), mark: false });
    if (end > start) parts.push({ text: chars.slice(start, end).join(""), mark: true });
    at = end;
  }
  if (at < chars.length) parts.push({ text: chars.slice(at).join(""), mark: false });
  return parts;
}

/** The next index for an arrow key in a list of `length` results (wrapping). */
export function moveSelection(index: number, key: string, length: number): number {
  if (length === 0) return -1;
  if (key === "ArrowDown") return (index + 1) % length;
  if (key === "ArrowUp") return (index - 1 + length) % length;
  if (key === "Home") return 0;
  if (key === "End") return length - 1;
  return index;
}
