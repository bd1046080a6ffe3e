// Edits, deletes and reactions over the socket (docs/protocol.md, "Edits, deletes, reactions"):
// each is answered after commit, and the event that answers it (also sent to every member's
// other connections) updates the cache through realtime.tsx. A reaction shows at once: it waits
// as a toggle (logic/reactions.ts) until answered, then the server's list has it.

import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useMemo } from "react";
import { toggleFor, type Toggle } from "../logic/reactions";
import type { Message, Reaction } from "@parley/protocol";
import { keys, useRealtime } from "./realtime";
import { useSession } from "./session";

export interface MessageActions {
  /** Toggles my `emoji` on `message`, given the reactions shown. */
  react: (message: Message, shown: Reaction[], emoji: string) => Promise<void>;
  edit: (message: Message, content: string) => Promise<void>;
  remove: (message: Message) => Promise<void>;
}

export function useMessageActions(conversationId: string): MessageActions {
  const { client } = useRealtime();
  const queries = useQueryClient();
  const me = useSession()!.user.id;
  const react = useCallback(
    async (message: Message, shown: Reaction[], emoji: string) => {
      const toggle = toggleFor(shown, message.id, emoji, me, crypto.randomUUID());
      const key = keys.toggles(conversationId);
      queries.setQueryData<Toggle[]>(key, (list = []) => [...list, toggle]);
      try {
        await client.request("message:react", { messageId: message.id, emoji, action: toggle.action });
      } finally {
        queries.setQueryData<Toggle[]>(key, (list = []) => list.filter((t) => t.id !== toggle.id));
      }
    },
    [client, queries, conversationId, me],
  );
  const edit = useCallback(
    async (message: Message, content: string) => {
      await client.request("message:edit", { messageId: message.id, content });
    },
    [client],
  );
  const remove = useCallback(
    async (message: Message) => {
      await client.request("message:delete", { messageId: message.id });
    },
    [client],
  );
  return useMemo(() => ({ react, edit, remove }), [react, edit, remove]);
}
