// Login and Register (one page, two modes), and the login's second step when two-factor sign-in
// is on (the authenticator's code or a recovery code): errors from the API are shown as its message.

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
  const [challenge, setChallenge] = useState<string | null>(null);
  const [code, setCode] = useState("");

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (challenge) await api.loginWithCode(challenge, code.trim());
      else if (mode === "login") setChallenge((await api.login(username.trim(), password))?.challengeToken ?? null);
      else await api.register(username.trim(), password, displayName.trim() || username.trim());
    } catch (e) {
      // A spent or expired challenge: back to the password.
      if (challenge && e instanceof ApiError && e.body.code === "UNAUTHORIZED") {
        setChallenge(null);
        setCode("");
      }
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

  if (challenge) {
    return (
      <main className="auth">
        <form className="auth-card" onSubmit={submit} aria-label="Two-factor sign-in">
          <h1>Parley</h1>
          <p>Enter the code from your authenticator app, or one of your recovery codes.</p>
          <label>
            Code
            <input
              name="code"
              autoComplete="one-time-code"
              inputMode="text"
              autoFocus
              value={code}
              onChange={(e) => setCode(e.target.value)}
              required
            />
          </label>
          <AuthError text={error} />
          <button type="submit" className="primary" disabled={busy}>
            Verify
          </button>
          <button
            type="button"
            className="link"
            onClick={() => {
              setChallenge(null);
              setCode("");
              setError(null);
            }}
          >
            Back
          </button>
        </form>
      </main>
    );
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
        <AuthError text={error} />
        <button type="submit" className="primary" disabled={busy}>
          {mode === "login" ? "Log in" : "Create account"}
        </button>
      </form>
    </main>
  );
}

function AuthError({ text }: { text: string | null }) {
  if (!text) return null;
  return (
    <p className="auth-error" role="alert">
      {text}
    </p>
  );
}
