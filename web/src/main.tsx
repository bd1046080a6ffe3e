import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { Api } from "./api/rest";
import { App } from "./components/App";
import "./styles/tokens.css";
import "./styles/app.css";

const api = new Api();
const queries = new QueryClient({
  defaultOptions: { queries: { staleTime: 30_000, refetchOnWindowFocus: false, retry: 1 } },
});

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queries}>
        <App api={api} />
      </QueryClientProvider>
    </StrictMode>,
  );
}
