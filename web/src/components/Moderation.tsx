// Moderation in the web client: a member's "Report" form under a message, and, for server admins,
// the administration panel (the report queue with its actions, an account's state with deactivate
// and reactivate, and the newest audit records).

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import type * as Rest from "../api/openapi";
import { useApi } from "../state/session";
import { DoneNote, ErrorNote, PanelHeader, errorText } from "./common";

const REPORTS = ["admin", "reports"] as const;
const AUDIT = ["admin", "audit"] as const;

/** The reason form of a report, under the reported message. */
export function ReportForm({ messageId, onDone }: { messageId: string; onDone: () => void }) {
  const api = useApi();
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [sent, setSent] = useState(false);
  const report = useMutation({
    mutationFn: () => api.reportMessage(messageId, reason.trim()),
    onSuccess: () => setSent(true),
    onError: (e) => setError(errorText(e, "Could not send the report")),
  });
  if (sent) {
    return (
      <div className="confirm" role="status">
        <p>Reported. The server's admins will look at it.</p>
        <button type="button" className="secondary" autoFocus onClick={onDone}>
          Close
        </button>
      </div>
    );
  }
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    report.mutate();
  };
  return (
    <form className="confirm report-form" aria-label="Report message" onSubmit={submit}>
      <label>
        Why are you reporting this message?
        <textarea
          autoFocus
          maxLength={1000}
          required
          value={reason}
          onChange={(e) => setReason(e.target.value)}
        />
      </label>
      <ErrorNote text={error} />
      <button type="button" className="secondary" onClick={onDone}>
        Cancel
      </button>
      <button type="submit" className="danger" disabled={report.isPending || !reason.trim()}>
        Report
      </button>
    </form>
  );
}

/** The server admins' panel. */
export function AdminPanel({ onClose }: { onClose: () => void }) {
  return (
    <section className="account-panel" role="dialog" aria-modal="false" aria-labelledby="admin-title">
      <PanelHeader id="admin-title" title="Administration" onClose={onClose} />
      <Reports />
      <Account />
      <AuditLog />
    </section>
  );
}

function Reports() {
  const api = useApi();
  const queries = useQueryClient();
  const [status, setStatus] = useState<"open" | "all">("open");
  const [error, setError] = useState<string | null>(null);
  const list = useQuery({ queryKey: [...REPORTS, status], queryFn: () => api.reports(status) });
  const resolve = useMutation({
    mutationFn: ({ id, action }: { id: string; action: Rest.ResolveReportRequest["action"] }) =>
      api.resolveReport(id, action),
    onSuccess: () => {
      setError(null);
      void queries.invalidateQueries({ queryKey: REPORTS });
      void queries.invalidateQueries({ queryKey: AUDIT });
    },
    onError: (e) => setError(errorText(e, "Could not resolve the report")),
  });
  const reports = list.data ?? [];
  return (
    <section aria-labelledby="reports-title">
      <h3 id="reports-title">Reports</h3>
      <label>
        Show{" "}
        <select value={status} onChange={(e) => setStatus(e.target.value as "open" | "all")}>
          <option value="open">Open</option>
          <option value="all">All</option>
        </select>
      </label>
      <ErrorNote text={error} />
      {list.isLoading && <p className="muted">Loading...</p>}
      {!list.isLoading && reports.length === 0 && <p className="muted">No reports.</p>}
      <ul className="admin-list" aria-label="Reports">
        {reports.map((r) => (
          <li key={r.id} aria-label={`Report ${r.id}`}>
            <p>
              <strong>{r.reason}</strong>
            </p>
            <p className="muted">
              Message {r.messageId} by {r.reportedUserId}, reported {new Date(r.createdAt).toLocaleString()}
            </p>
            {r.status === "open" ? (
              <div className="row">
                {(
                  [
                    ["dismiss", "Dismiss"],
                    ["delete_message", "Delete message"],
                    ["deactivate_user", "Deactivate sender"],
                  ] as const
                ).map(([action, label]) => (
                  <button
                    key={action}
                    type="button"
                    className={action === "dismiss" ? "secondary" : "danger"}
                    disabled={resolve.isPending}
                    onClick={() => resolve.mutate({ id: r.id, action })}
                  >
                    {label}
                  </button>
                ))}
              </div>
            ) : (
              <p className="muted">Resolved: {r.resolution?.replace(/_/g, " ")}</p>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Account() {
  const api = useApi();
  const queries = useQueryClient();
  const [id, setId] = useState("");
  const [account, setAccount] = useState<Rest.AdminUser | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const find = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone(null);
    try {
      // A user id, or a username (looked up).
      const term = id.trim().replace(/^@/, "");
      const userId = term.startsWith("usr_")
        ? term
        : (await api.searchUsers(term, 20)).find((u) => u.username === term.toLowerCase())?.id;
      if (!userId) throw new Error("no such user");
      setAccount(await api.adminUser(userId));
    } catch (err) {
      setAccount(null);
      setError(errorText(err, "No account with that username or id"));
    }
  };
  const toggle = useMutation({
    mutationFn: (a: Rest.AdminUser) => api.setDeactivated(a.id, !a.deactivated),
    onSuccess: (a) => {
      setAccount(a);
      setDone(a.deactivated ? `${a.username} is deactivated` : `${a.username} may sign in again`);
      void queries.invalidateQueries({ queryKey: AUDIT });
    },
    onError: (e) => setError(errorText(e, "Could not change the account")),
  });
  return (
    <section aria-labelledby="admin-account-title">
      <h3 id="admin-account-title">Account</h3>
      <form className="row" onSubmit={find}>
        <label>
          Username or id
          <input value={id} placeholder="username or usr_..." onChange={(e) => setId(e.target.value)} required />
        </label>
        <button type="submit" className="secondary">
          Look up
        </button>
      </form>
      <ErrorNote text={error} />
      <DoneNote text={done} />
      {account && (
        <div>
          <p>
            <strong>{account.displayName}</strong> ({account.username}){account.isAdmin ? ", admin" : ""}:{" "}
            {account.deactivated ? "deactivated" : "active"}
          </p>
          <button
            type="button"
            className={account.deactivated ? "secondary" : "danger"}
            disabled={toggle.isPending}
            onClick={() => toggle.mutate(account)}
          >
            {account.deactivated ? "Reactivate" : "Deactivate"}
          </button>
        </div>
      )}
    </section>
  );
}

function AuditLog() {
  const api = useApi();
  const log = useQuery({ queryKey: AUDIT, queryFn: () => api.audit() });
  return (
    <section aria-labelledby="audit-title">
      <h3 id="audit-title">Audit log</h3>
      {log.isError && <ErrorNote text={errorText(log.error, "Could not load the audit log")} />}
      <ul className="admin-list" aria-label="Audit log">
        {(log.data ?? []).map((entry) => (
          <li key={entry.id}>
            <span>{new Date(entry.at).toLocaleString()}</span> <strong>{entry.action}</strong>{" "}
            <span className="muted">
              by {entry.actorId ?? "the operator (CLI)"}
              {entry.targetUserId ? ` on ${entry.targetUserId}` : ""}
              {entry.clientIp ? ` from ${entry.clientIp}` : ""}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}
