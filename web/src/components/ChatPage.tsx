// The main layout: conversation list and chat window side by side (one at a time on phones,
// sliding between them), the connection bar on top.

import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import type { Conversation } from "../protocol/types";
import { keys, useRealtime } from "../state/realtime";
import { useApi, useSession } from "../state/session";
import { ChatWindow } from "./ChatWindow";
import { partnerOf } from "./common";
import { ConnectionStatusBar } from "./ConnectionStatusBar";
import { ConversationList } from "./ConversationList";

export function ChatPage() {
  const api = useApi();
  const me = useSession()!.user;
  const { client, state } = useRealtime();
  const [selected, setSelected] = useState<string | null>(null);
  const conversations = useQuery({
    queryKey: keys.conversations,
    queryFn: async () => (await api.page<Conversation>("/api/conversations?limit=100")).data,
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
  return (
    <div className={`chat-page ${current ? "has-selection" : ""}`}>
      <ConnectionStatusBar />
      <ConversationList
        conversations={conversations.data ?? []}
        loading={conversations.isLoading}
        selected={selected}
        onSelect={setSelected}
      />
      {current ? (
        <ChatWindow key={current.id} conversation={current} onBack={() => setSelected(null)} />
      ) : (
        <section className="empty-state" aria-label="No conversation selected">
          <h2>Pick a conversation</h2>
          <p>Or start a new one with the + button.</p>
        </section>
      )}
    </div>
  );
}
