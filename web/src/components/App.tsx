import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import type { Api } from "../api/rest";
import { RealtimeProvider } from "../state/realtime";
import { ApiProvider, useSession } from "../state/session";
import { AuthPage } from "./AuthPage";
import { ChatPage } from "./ChatPage";

export function App({ api }: { api: Api }) {
  return (
    <ApiProvider api={api}>
      <Root api={api} />
    </ApiProvider>
  );
}

function Root({ api }: { api: Api }) {
  const session = useSession();
  const queries = useQueryClient();
  const user = session?.user.id;
  // Another user's cached data must never show: clear it whenever the user changes.
  useEffect(() => queries.clear(), [user, queries]);
  if (!session) return <AuthPage />;
  return (
    <RealtimeProvider api={api} key={user}>
      <ChatPage />
    </RealtimeProvider>
  );
}
