// The main layout: conversation list and chat window side by side (one at a time on phones,
// sliding between them), the connection bar above them in the page's flow. The open
// conversation is the route (`/c/<id>`, logic/route.ts): opening one from the list pushes a
// history entry (so Back, on a phone too, returns to the list), switching between chats replaces
// it, and a reload opens the same conversation. Ctrl/Cmd+K opens message search; picking a
// result opens its conversation at that message.

import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { parseRoute, routePath } from "../logic/route";
import type { Conversation } from "@parley/protocol";
import { keys, useRealtime } from "../state/realtime";
import { useApi, useSession } from "../state/session";
import { ChatWindow } from "./ChatWindow";
import { partnerOf, titleOf } from "./common";
import { ConnectionStatusBar } from "./ConnectionStatusBar";
import { ConversationList } from "./ConversationList";
import { SearchDialog, type Hit } from "./SearchDialog";
import { Toasts } from "./Toasts";

/** Conversations per page while the list loads, and pages at most (a bound on memory). */
const CONVERSATION_PAGE = 100;
const CONVERSATION_PAGES = 200;

/** Where a picked search result should land. */
export interface JumpTarget {
  messageId: string;
  seq: number;
}

export function ChatPage() {
  const api = useApi();
  const me = useSession()!.user;
  const { client, state, setFocus } = useRealtime();
  const [selected, setSelected] = useState<string | null>(() => parseRoute(location.pathname).conversationId);
  useEffect(() => {
    const popped = () => setSelected(parseRoute(location.pathname).conversationId);
    window.addEventListener("popstate", popped);
    return () => window.removeEventListener("popstate", popped);
  }, []);
  const [search, setSearch] = useState<{ scope: Conversation | null } | null>(null);
  const [jump, setJump] = useState<JumpTarget | null>(null);
  useEffect(() => {
    const key = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
        e.preventDefault();
        setSearch({ scope: null });
      }
    };
    window.addEventListener("keydown", key);
    return () => window.removeEventListener("keydown", key);
  }, []);
  const open = (id: string) => {
    setJump(null);
    if (id === selected) return;
    const path = routePath({ conversationId: id });
    if (selected === null) history.pushState({ parley: "chat" }, "", path);
    else history.replaceState(history.state, "", path);
    setSelected(id);
  };
  const back = () => {
    // Opened from the list: going back is the browser's Back. Opened by a link or a reload:
    // there is no list entry behind it, so the list replaces the chat.
    if ((history.state as { parley?: string } | null)?.parley === "chat") history.back();
    else {
      history.replaceState(null, "", "/");
      setSelected(null);
    }
  };
  const conversations = useQuery({
    queryKey: keys.conversations,
    // Every page (the list has no cap but CONVERSATION_PAGES), so the filter finds any of them.
    queryFn: async () => {
      const all: Conversation[] = [];
      const seen = new Set<string>();
      let cursor: string | null = null;
      for (let page = 0; page < CONVERSATION_PAGES; page++) {
        const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
        const got = await api.page<Conversation>(`/api/conversations?limit=${CONVERSATION_PAGE}${query}`);
        for (const c of got.data) if (!seen.has(c.id) && seen.add(c.id)) all.push(c);
        if (!got.meta.hasMore || !got.meta.cursor) break;
        cursor = got.meta.cursor;
      }
      return all;
    },
  });
  const { data: total } = useQuery<number>({ queryKey: keys.total, queryFn: () => 0, enabled: false });

  // Watch the presence of everyone I have a DM with (the server also pushes it to DM partners).
  const partners = (conversations.data ?? [])
    .map((c) => partnerOf(c, me.id)?.userId)
    .filter((id): id is string => !!id)
    .slice(0, 100);
  const partnerKey = partners.join(",");
  useEffect(() => {
    if (state === "connected" && partnerKey) {
      client.send("presence:subscribe", { userIds: partnerKey.split(",") });
    }
  }, [state, partnerKey, client]);

  useEffect(() => {
    const unread = total ?? (conversations.data ?? []).reduce((sum, c) => sum + c.unreadCount, 0);
    document.title = unread > 0 ? `(${unread}) Parley` : "Parley";
  }, [total, conversations.data]);

  const current = conversations.data?.find((c) => c.id === selected) ?? null;
  const focused = current?.id ?? null;
  useEffect(() => setFocus(focused), [focused, setFocus]);
  const pick = (hit: Hit) => {
    setSearch(null);
    open(hit.message.conversationId);
    setJump({ messageId: hit.message.id, seq: hit.message.seq });
  };
  return (
    <div className="app-shell">
      <ConnectionStatusBar />
      <div className={`chat-page ${current ? "has-selection" : ""}`}>
      <ConversationList
        conversations={conversations.data ?? []}
        loading={conversations.isLoading}
        selected={selected}
        onSelect={open}
        onSearch={() => setSearch({ scope: null })}
      />
      {current ? (
        <ChatWindow
          key={current.id}
          conversation={current}
          onBack={back}
          jumpTo={jump}
          onJumped={() => setJump(null)}
          onSearch={() => setSearch({ scope: current })}
        />
      ) : (
        <section className="empty-state" aria-label="No conversation selected">
          <h2>Pick a conversation</h2>
          <p>Or start a new one with the + button.</p>
        </section>
      )}
      </div>
      {search && <SearchDialog scope={search.scope} onClose={() => setSearch(null)} onPick={pick} />}
      <Toasts
        open={focused}
        onOpen={open}
        titleFor={(id) => {
          const known = conversations.data?.find((c) => c.id === id);
          return known ? titleOf(known, me.id) : undefined;
        }}
      />
    </div>
  );
}
