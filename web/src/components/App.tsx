// The root: a reset link's page, the sign-in page, or the chat for the signed-in user (one realtime connection per
// user); what the previous user left on the device is cleared when the user changes.

import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import type { Api } from "../api/rest";
import { clearDrafts } from "../state/drafts";
import { OfflineState } from "../state/offline";
import { RealtimeProvider } from "../state/realtime";
import { ApiProvider, useSession } from "../state/session";
import { deviceStore } from "../state/store";
import { AuthPage } from "./AuthPage";
import { ChatPage } from "./ChatPage";
import { RESET_PATH, ResetPasswordPage } from "./ResetPassword";

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
  const previous = useRef(user);
  // An operator's reset link opens its own page, signed in or not.
  const [resetting, setResetting] = useState(() => location.pathname === RESET_PATH);
  // Another user's cached data must never show: clear it whenever the user changes, and what the
  // device kept for the one who left (pending sends, the snapshot).
  useEffect(() => {
    const was = previous.current;
    previous.current = user;
    if (was && was !== user) {
      void new OfflineState(deviceStore(), was).clear().catch(() => undefined);
      clearDrafts(was);
      // The next user must not land in the last one's conversation.
      if (!user) history.replaceState(null, "", "/");
    }
    queries.clear();
  }, [user, queries]);
  if (resetting) return <ResetPasswordPage onDone={() => setResetting(false)} />;
  if (!session) return <AuthPage />;
  return (
    <RealtimeProvider api={api} userId={session.user.id} key={user}>
      <ChatPage />
    </RealtimeProvider>
  );
}
