// The page an operator's reset link opens (`/reset-password#token=...`, printed by `parley admin
// reset-password USER`): a new password, twice. The token stays in the fragment, so it never
// reaches a server log or a Referer; on success the account's every session has ended.

import { useState, type FormEvent } from "react";
import { useApi } from "../state/session";
import { errorText } from "./common";

export const RESET_PATH = "/reset-password";

/** The token of a reset link's fragment. */
export function resetToken(hash: string): string {
  return new URLSearchParams(hash.replace(/^#/, "")).get("token") ?? "";
}

export function ResetPasswordPage({ onDone }: { onDone: () => void }) {
  const api = useApi();
  const [token] = useState(() => resetToken(location.hash));
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (password !== confirm) {
      setError("The two passwords differ");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api.resetPassword(token, password);
      // The link is spent: keep it out of the history.
      history.replaceState(null, "", RESET_PATH);
      setDone(true);
    } catch (e) {
      setError(errorText(e, "Could not reach the server"));
    } finally {
      setBusy(false);
    }
  }

  const leave = () => {
    history.replaceState(null, "", "/");
    onDone();
  };
  if (done) {
    return (
      <main className="auth">
        <div className="auth-card" role="status">
          <h1>Parley</h1>
          <p>Your password is changed, and every device was signed out.</p>
          <button type="button" className="primary" autoFocus onClick={leave}>
            Log in
          </button>
        </div>
      </main>
    );
  }
  return (
    <main className="auth">
      <form className="auth-card" onSubmit={submit} aria-label="Choose a new password">
        <h1>Parley</h1>
        {!token && <p className="auth-error">This link has no token; ask the operator for a new one.</p>}
        <label>
          New password
          <input
            name="password"
            type="password"
            autoComplete="new-password"
            minLength={8}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        <label>
          New password again
          <input
            name="confirm"
            type="password"
            autoComplete="new-password"
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
            required
          />
        </label>
        {error && (
          <p className="auth-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy || !token}>
          Set password
        </button>
        <button type="button" className="link" onClick={leave}>
          Back to log in
        </button>
      </form>
    </main>
  );
}
