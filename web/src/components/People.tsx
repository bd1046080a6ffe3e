// My profile and the people I blocked, in the account panel; and the Block / Unblock button of a
// DM's header. A blocked person cannot open a DM with me, add me to a group or write in our DM;
// they are not told.

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useApi, useSession } from "../state/session";
import { DoneNote, ErrorNote, errorText } from "./common";

const BLOCKS = ["blocks"] as const;

export function Profile() {
  const api = useApi();
  const me = useSession()!.user;
  const [name, setName] = useState(me.displayName);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      className="account-section"
      aria-label="Profile"
      onSubmit={(e) => {
        e.preventDefault();
        setError(null);
        setNotice(null);
        api
          .setDisplayName(name)
          .then((saved) => {
            setName(saved.displayName);
            setNotice("Display name saved.");
          })
          .catch((failure) => setError(errorText(failure, "Could not save the name")));
      }}
    >
      <h3>Profile</h3>
      <label>
        Display name
        <input value={name} maxLength={64} onChange={(e) => setName(e.target.value)} required />
      </label>
      <p className="muted">Your username, {me.username}, stays as it is.</p>
      <button type="submit" className="primary" disabled={!name.trim() || name === me.displayName}>
        Save name
      </button>
      <ErrorNote text={error} />
      <DoneNote text={notice} />
    </form>
  );
}

export function BlockedPeople() {
  const api = useApi();
  const queries = useQueryClient();
  const blocks = useQuery({ queryKey: BLOCKS, queryFn: () => api.blocks() });
  const [error, setError] = useState<string | null>(null);
  return (
    <section className="account-section" aria-label="Blocked people">
      <h3>Blocked people</h3>
      {blocks.data?.length === 0 && <p className="muted">Nobody.</p>}
      <ul className="device-list">
        {(blocks.data ?? []).map((b) => (
          <li key={b.userId}>
            <span className="device-text">
              <span className="device-name">{b.displayName}</span>
              <span className="muted">@{b.username}</span>
            </span>
            <button
              type="button"
              className="secondary"
              onClick={() =>
                void api
                  .unblock(b.userId)
                  .catch((failure) => setError(errorText(failure, "Could not unblock")))
                  .finally(() => void queries.invalidateQueries({ queryKey: BLOCKS }))
              }
            >
              Unblock
            </button>
          </li>
        ))}
      </ul>
      <ErrorNote text={error} />
    </section>
  );
}

/** Block or unblock the other member of a DM. */
export function BlockButton({ userId, name }: { userId: string; name: string }) {
  const api = useApi();
  const queries = useQueryClient();
  const blocks = useQuery({ queryKey: BLOCKS, queryFn: () => api.blocks() });
  const blocked = blocks.data?.some((b) => b.userId === userId) ?? false;
  const toggle = async () => {
    if (!blocked && !window.confirm(`Block ${name}? They will not be able to write to you or add you to groups.`)) return;
    try {
      if (blocked) await api.unblock(userId);
      else await api.block(userId);
    } finally {
      void queries.invalidateQueries({ queryKey: BLOCKS });
    }
  };
  return (
    <button type="button" className="link" disabled={blocks.isLoading} onClick={() => void toggle()}>
      {blocked ? `Unblock ${name}` : `Block ${name}`}
    </button>
  );
}
