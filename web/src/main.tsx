import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { Api } from "./api/rest";
import { App } from "./components/App";
import { startTheme } from "./state/theme";
// The seed's typeface, served from this origin (no font CDN: the CSP allows only 'self').
import "@fontsource-variable/inter";
import "./styles/tokens.css";
import "./styles/app.css";

// Light or dark before the first paint.
startTheme();

const api = new Api();
const queries = new QueryClient({
  defaultOptions: { queries: { staleTime: 30_000, refetchOnWindowFocus: false, retry: 1 } },
});

const root = document.getElementById("root");
// The app shell offline (public/sw.js); only in a build, where the files are the hashed ones.
if (import.meta.env.PROD && "serviceWorker" in navigator) {
  window.addEventListener("load", () => void navigator.serviceWorker.register("/sw.js").catch(() => undefined));
}

if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queries}>
        <App api={api} />
      </QueryClientProvider>
    </StrictMode>,
  );
}
