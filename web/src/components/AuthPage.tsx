// Login and Register (one page, two modes): errors from the API are shown as its message.

import { useState, type FormEvent } from "react";
import { ApiError } from "../api/rest";
import { useApi } from "../state/session";

export function AuthPage() {
  const api = useApi();
  const [mode, setMode] = useState<"login" | "register">("login");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "login") await api.login(username.trim(), password);
      else await api.register(username.trim(), password, displayName.trim() || username.trim());
    } catch (e) {
      if (e instanceof ApiError) {
        const details = Object.entries(e.body.details ?? {})
          .map(([field, problems]) => `${field}: ${problems.join(", ")}`)
          .join("; ");
        setError(details ? `${e.body.message} (${details})` : e.body.message);
      } else {
        setError("Could not reach the server");
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="auth">
      <form className="auth-card" onSubmit={submit} aria-label={mode === "login" ? "Log in" : "Create account"}>
        <h1>Parley</h1>
        <div className="auth-tabs" role="tablist">
          <button type="button" role="tab" aria-selected={mode === "login"} onClick={() => setMode("login")}>
            Log in
          </button>
          <button type="button" role="tab" aria-selected={mode === "register"} onClick={() => setMode("register")}>
            Register
          </button>
        </div>
        <label>
          Username
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
        </label>
        {mode === "register" && (
          <label>
            Display name
            <input name="displayName" value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
          </label>
        )}
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={mode === "login" ? "current-password" : "new-password"}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        {error && (
          <p className="auth-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {mode === "login" ? "Log in" : "Create account"}
        </button>
      </form>
    </main>
  );
}
