// Account security: change the password (the server signs every other device out), review the
// devices signed in (with "This device"), sign one out, or log out everywhere.

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { ApiError, type DeviceSession } from "../api/rest";
import { relativeTime } from "../logic/presence";
import { useApi } from "../state/session";
import { useNow } from "./common";

const SESSIONS = ["sessions"] as const;

function message(error: unknown, fallback: string): string {
  if (!(error instanceof ApiError)) return fallback;
  const details = Object.values(error.body.details ?? {}).flat();
  return details.length > 0 ? `${error.body.message}: ${details.join("; ")}` : error.body.message;
}

/** "Active now", "Active 5m ago", "Active Yesterday", "Active Mar 3". */
function activeText(relative: string): string {
  if (relative === "now") return "Active now";
  return /^\d/.test(relative) ? `Active ${relative} ago` : `Active ${relative}`;
}

export function AccountPanel({ onClose }: { onClose: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <section className="account-panel" role="dialog" aria-modal="false" aria-labelledby="account-title">
      <header>
        <h2 id="account-title" tabIndex={-1} ref={heading}>
          Account security
        </h2>
        <button type="button" className="link" onClick={onClose}>
          Close
        </button>
      </header>
      <ChangePassword />
      <Devices />
    </section>
  );
}

function ChangePassword() {
  const api = useApi();
  const queries = useQueryClient();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const change = useMutation({
    mutationFn: () => api.changePassword(current, next),
    onSuccess: () => {
      setCurrent("");
      setNext("");
      setConfirm("");
      setNotice({ ok: true, text: "Password changed. Your other devices were signed out." });
      void queries.invalidateQueries({ queryKey: SESSIONS });
    },
    onError: (error) => setNotice({ ok: false, text: message(error, "Could not change the password") }),
  });
  return (
    <form
      className="account-section"
      aria-label="Change password"
      onSubmit={(e) => {
        e.preventDefault();
        if (next !== confirm) {
          setNotice({ ok: false, text: "The new passwords do not match" });
          return;
        }
        change.mutate();
      }}
    >
      <h3>Change password</h3>
      <label>
        Current password
        <input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required />
      </label>
      <label>
        New password
        <input type="password" autoComplete="new-password" minLength={8} value={next} onChange={(e) => setNext(e.target.value)} required />
      </label>
      <label>
        Repeat new password
        <input type="password" autoComplete="new-password" minLength={8} value={confirm} onChange={(e) => setConfirm(e.target.value)} required />
      </label>
      <button type="submit" className="primary" disabled={change.isPending}>
        Change password
      </button>
      {notice && (
        <p role={notice.ok ? "status" : "alert"} className={notice.ok ? "notice" : "error"}>
          {notice.text}
        </p>
      )}
    </form>
  );
}

function Devices() {
  const api = useApi();
  const queries = useQueryClient();
  const now = useNow(30_000);
  const [error, setError] = useState<string | null>(null);
  const sessions = useQuery({ queryKey: SESSIONS, queryFn: () => api.sessions() });
  const refresh = () => void queries.invalidateQueries({ queryKey: SESSIONS });
  const act = async (action: () => Promise<void>) => {
    setError(null);
    try {
      await action();
      refresh();
    } catch (e) {
      setError(message(e, "That did not work; try again"));
    }
  };
  // This device first, then the others by most recent use (the server's order).
  const list: DeviceSession[] = [...(sessions.data ?? [])].sort((a, b) => Number(b.current) - Number(a.current));
  const others = list.filter((s) => !s.current).length;
  return (
    <section className="account-section" aria-label="Signed-in devices">
      <h3>Signed-in devices</h3>
      {sessions.isLoading && <p className="muted">Loading...</p>}
      <ul className="device-list">
        {list.map((s) => (
          <li key={s.id} data-testid="device">
            <span className="device-text">
              <span className="device-name">
                {s.device}
                {s.current && <span className="tag">This device</span>}
              </span>
              <span className="muted">
                {activeText(relativeTime(s.lastUsedAt, now))}
                {s.ipAddress ? ` · ${s.ipAddress}` : ""}
              </span>
            </span>
            {!s.current && (
              <button type="button" className="secondary" onClick={() => void act(() => api.revokeSession(s.id))}>
                Sign out
              </button>
            )}
          </li>
        ))}
      </ul>
      <div className="account-actions">
        <button
          type="button"
          className="secondary"
          disabled={others === 0}
          onClick={() => void act(() => api.logoutEverywhere(false))}
        >
          Log out other devices
        </button>
        <button type="button" className="secondary danger" onClick={() => void act(() => api.logoutEverywhere(true))}>
          Log out everywhere
        </button>
      </div>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
}
