// Message search (Ctrl/Cmd+K, or the search buttons): across every conversation, or within one.
// Results as the server ranks them, with the matched words highlighted (as text), moved through
// with the arrow keys; Enter or a click opens the conversation at that message. Escape closes.

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useId, useRef, useState } from "react";
import type { SearchHit } from "../api/openapi";
import { moveSelection, searchParams, snippetParts } from "../logic/search";
import type { Conversation } from "@parley/protocol";
import { keys } from "../state/realtime";
import { useApi, useSession } from "../state/session";
import { titleOf } from "./common";

/** One result, as the server's OpenAPI document describes it. */
export type Hit = SearchHit;

interface Props {
  /** Search only this conversation. */
  scope: Conversation | null;
  onClose: () => void;
  onPick: (hit: Hit) => void;
}

const DEBOUNCE_MS = 250;

export function SearchDialog({ scope, onClose, onPick }: Props) {
  const api = useApi();
  const me = useSession()!.user;
  const [input, setInput] = useState("");
  const [query, setQuery] = useState<string | null>(null);
  const [selected, setSelected] = useState(-1);
  const field = useRef<HTMLInputElement>(null);
  const listId = useId();
  useEffect(() => field.current?.focus(), []);
  useEffect(() => {
    const timer = setTimeout(() => setQuery(searchParams(input, scope?.id)), DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [input, scope?.id]);
  const results = useQuery({
    queryKey: ["search", query],
    queryFn: async () => (await api.page<Hit>(`/api/search/messages?${query}`)).data,
    enabled: query !== null,
    staleTime: 10_000,
  });
  const hits = query ? (results.data ?? []) : [];
  useEffect(() => setSelected(hits.length > 0 ? 0 : -1), [hits.length, query]);
  const conversations = useQueryClient().getQueryData<Conversation[]>(keys.conversations) ?? [];
  const byId = new Map(conversations.map((c) => [c.id, c]));

  return (
    <div className="search-overlay" onPointerDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        className="search-dialog"
        role="dialog"
        aria-modal="true"
        aria-label={scope ? `Search in ${titleOf(scope, me.id)}` : "Search messages"}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.stopPropagation();
            onClose();
          }
        }}
      >
        <input
          ref={field}
          type="search"
          role="combobox"
          aria-label={scope ? `Search in ${titleOf(scope, me.id)}` : "Search messages"}
          aria-expanded={hits.length > 0}
          aria-controls={listId}
          aria-activedescendant={selected >= 0 ? `${listId}-${selected}` : undefined}
          placeholder={scope ? `Search in ${titleOf(scope, me.id)}` : "Search all messages"}
          value={input}
          onChange={(e) => setInput(e.target.value)}
          onKeyDown={(e) => {
            if (["ArrowDown", "ArrowUp"].includes(e.key)) {
              e.preventDefault();
              setSelected((i) => moveSelection(i, e.key, hits.length));
            }
            if (e.key === "Enter" && hits[selected]) onPick(hits[selected]);
          }}
        />
        <p className="muted search-help">
          Words, "phrases", -exclude, or; from:username, before:YYYY-MM-DD, after:YYYY-MM-DD
        </p>
        {results.isFetching && <p className="muted">Searching...</p>}
        {results.isError && (
          <p className="action-error" role="alert">
            {(results.error as Error).message}
          </p>
        )}
        {query && results.isSuccess && hits.length === 0 && <p className="muted">No messages found.</p>}
        <ul id={listId} role="listbox" className="search-results" aria-label="Results">
          {hits.map((hit, i) => {
            const conversation = byId.get(hit.message.conversationId);
            const sender =
              hit.message.senderId === me.id
                ? "You"
                : (conversation?.members.find((m) => m.userId === hit.message.senderId)?.displayName ?? "Someone");
            return (
              <li
                key={hit.message.id}
                id={`${listId}-${i}`}
                role="option"
                aria-selected={i === selected}
                className="search-hit"
                onPointerEnter={() => setSelected(i)}
                onClick={() => onPick(hit)}
                data-testid="search-hit"
              >
                <div className="search-hit-head">
                  <strong>{conversation ? titleOf(conversation, me.id) : "Conversation"}</strong>
                  <span className="muted">
                    {sender} · {new Date(hit.message.createdAt).toLocaleDateString(undefined, { dateStyle: "medium" })}
                  </span>
                </div>
                <div className="search-hit-text">
                  {snippetParts(hit.snippet).map((part, n) => (part.mark ? <mark key={n}>{part.text}</mark> : part.text))}
                </div>
              </li>
            );
          })}
        </ul>
      </div>
    </div>
  );
}
