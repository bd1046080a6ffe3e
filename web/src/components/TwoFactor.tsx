// Two-factor sign-in in the account panel: set it up (the password, then the secret for an
// authenticator app and a first code), see the recovery codes once, get new ones, turn it off
// (the password and a code).

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import type { MfaEnrolment } from "../api/openapi";
import { useApi } from "../state/session";
import { ErrorNote, errorText } from "./common";

const MFA = ["mfa"] as const;

/** "ABCD EFGH ..." for reading and typing. */
function grouped(secret: string): string {
  return secret.replace(/(.{4})/g, "$1 ").trim();
}

export function TwoFactor() {
  const api = useApi();
  const queries = useQueryClient();
  const status = useQuery({ queryKey: MFA, queryFn: () => api.mfaStatus() });
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [enrolment, setEnrolment] = useState<MfaEnrolment | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async (work: () => Promise<void>) => {
    setError(null);
    setBusy(true);
    try {
      await work();
      setPassword("");
      setCode("");
    } catch (failure) {
      setError(errorText(failure, "That did not work; try again"));
    } finally {
      setBusy(false);
      void queries.invalidateQueries({ queryKey: MFA });
    }
  };
  const act = (work: () => Promise<void>) => (e: FormEvent) => {
    e.preventDefault();
    void run(work);
  };

  const passwordField = (
    <label>
      Password
      <input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
    </label>
  );
  const codeField = (label: string) => (
    <label>
      {label}
      <input autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} required />
    </label>
  );

  let body;
  if (codes) {
    body = (
      <>
        <p>Keep these recovery codes somewhere safe: each signs you in once if you lose your authenticator. They are not shown again.</p>
        <ul className="recovery-codes" aria-label="Recovery codes">
          {codes.map((c) => (
            <li key={c}>
              <code>{c}</code>
            </li>
          ))}
        </ul>
        <button type="button" className="secondary" onClick={() => setCodes(null)}>
          I have saved them
        </button>
      </>
    );
  } else if (enrolment) {
    body = (
      <form
        aria-label="Confirm two-factor sign-in"
        className="account-form"
        onSubmit={act(async () => {
          const answer = await api.confirmMfa(code.trim());
          setEnrolment(null);
          setCodes(answer.recoveryCodes);
        })}
      >
        <p>Add this key to your authenticator app (or open the link on this device), then enter the code it shows.</p>
        <p>
          <code data-testid="mfa-secret">{grouped(enrolment.secret)}</code>
        </p>
        <p>
          <a href={enrolment.otpauthUri}>Open in an authenticator app</a>
        </p>
        {codeField("Code from the app")}
        <button type="submit" className="primary" disabled={busy}>
          Turn on
        </button>
      </form>
    );
  } else if (status.data?.enabled) {
    body = (
      <>
        <p className="notice">Two-factor sign-in is on. {status.data.recoveryCodesLeft} recovery codes left.</p>
        <form
          aria-label="Turn off two-factor sign-in"
          className="account-form"
          onSubmit={act(async () => {
            await api.disableMfa(password, code.trim());
          })}
        >
          {passwordField}
          {codeField("Code (or a recovery code)")}
          <div className="account-actions">
            <button type="submit" className="secondary danger" disabled={busy}>
              Turn off
            </button>
            <button
              type="button"
              className="secondary"
              disabled={busy || !code.trim()}
              onClick={() =>
                void run(async () => {
                  setCodes((await api.newRecoveryCodes(code.trim())).recoveryCodes);
                })
              }
            >
              New recovery codes
            </button>
          </div>
        </form>
      </>
    );
  } else {
    body = (
      <form
        aria-label="Set up two-factor sign-in"
        className="account-form"
        onSubmit={act(async () => {
          setEnrolment(await api.beginMfa(password));
        })}
      >
        <p className="muted">Sign in with a code from an authenticator app as well as your password.</p>
        {passwordField}
        <button type="submit" className="primary" disabled={busy || status.isLoading}>
          Set up two-factor sign-in
        </button>
      </form>
    );
  }
  return (
    <section className="account-section" aria-label="Two-factor sign-in">
      <h3>Two-factor sign-in</h3>
      {body}
      <ErrorNote text={error} />
    </section>
  );
}
