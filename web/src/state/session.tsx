// The REST client and the logged-in session, for every component.

import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { Api, type Session } from "../api/rest";

const ApiContext = createContext<Api | null>(null);

export function ApiProvider({ api, children }: { api: Api; children: ReactNode }) {
  return <ApiContext.Provider value={api}>{children}</ApiContext.Provider>;
}

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error("useApi outside ApiProvider");
  return api;
}

/** The current session; re-renders on login, refresh and logout. */
export function useSession(): Session | null {
  const api = useApi();
  const [session, setSession] = useState(api.session);
  useEffect(() => api.onSession(setSession), [api]);
  return session;
}
