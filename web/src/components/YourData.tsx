// Your data, in the account panel: ask for an export (prepared in the background; the list shows
// how it goes, and a ready one downloads once as a JSON file), and delete the account (password,
// and a code when two-factor sign-in is on, after a confirmation; signed out at once after).

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import type * as Rest from "../api/openapi";
import { useApi } from "../state/session";
import { ErrorNote, errorText } from "./common";

const EXPORTS = ["exports"] as const;

const STATUS: Record<Rest.Export["status"], string> = {
  preparing: "Preparing...",
  ready: "Ready to download",
  downloaded: "Downloaded",
  failed: "Failed",
  expired: "Expired",
};

export function ExportData() {
  const api = useApi();
  const queries = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const list = useQuery({
    queryKey: EXPORTS,
    queryFn: () => api.exports(),
    // While one is being prepared, look again every second.
    refetchInterval: (query) => (query.state.data?.some((e) => e.status === "preparing") ? 1000 : false),
  });
  const ask = useMutation({
    mutationFn: () => api.requestExport(),
    onSuccess: () => void queries.invalidateQueries({ queryKey: EXPORTS }),
    onError: (e) => setError(errorText(e, "Could not ask for an export")),
  });
  const download = useMutation({
    mutationFn: async (id: string) => {
      const blob = await api.downloadExport(id);
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = "parley-export.json";
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    },
    onSettled: () => void queries.invalidateQueries({ queryKey: EXPORTS }),
    onError: (e) => setError(errorText(e, "Could not download the export")),
  });
  const exports = list.data ?? [];
  return (
    <section className="account-section" aria-label="Export your data">
      <h3>Your data</h3>
      <p className="muted">
        A JSON file with your profile, settings, sessions, conversations, and every message and reaction you sent. It
        can be downloaded once.
      </p>
      <button type="button" className="secondary" disabled={ask.isPending} onClick={() => ask.mutate()}>
        Export my data
      </button>
      <ErrorNote text={error} />
      <ul className="device-list" aria-label="Exports">
        {exports.map((e) => (
          <li key={e.id}>
            <span className="device-text">
              <span className="device-name">{new Date(e.createdAt).toLocaleString()}</span>
              <span className="muted">{STATUS[e.status]}</span>
            </span>
            {e.status === "ready" && (
              <button type="button" disabled={download.isPending} onClick={() => download.mutate(e.id)}>
                Download
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function DeleteAccount() {
  const api = useApi();
  const mfa = useQuery({ queryKey: ["mfa"], queryFn: () => api.mfaStatus() });
  const [asked, setAsked] = useState(false);
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const remove = useMutation({
    mutationFn: () => api.deleteAccount(password, mfa.data?.enabled ? code.trim() : undefined),
    onError: (e) => setError(errorText(e, "Could not delete the account")),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    remove.mutate();
  };
  return (
    <section className="account-section" aria-label="Delete account">
      <h3>Delete account</h3>
      {!asked ? (
        <button type="button" className="danger" onClick={() => setAsked(true)}>
          Delete my account
        </button>
      ) : (
        <form className="confirm" aria-label="Confirm account deletion" onSubmit={submit}>
          <p>
            Your account, your direct messages and the content of every message you sent are deleted for everyone. This
            cannot be undone.
          </p>
          <label>
            Password
            <input
              type="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              required
            />
          </label>
          {mfa.data?.enabled && (
            <label>
              Two-factor code
              <input inputMode="numeric" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} required />
            </label>
          )}
          <ErrorNote text={error} />
          <button type="button" className="secondary" onClick={() => setAsked(false)}>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={remove.isPending || !password}>
            Delete forever
          </button>
        </form>
      )}
    </section>
  );
}
