// A conversation's info panel, beside its messages. A DM's holds only how long its messages stay
// (either member decides). A group's: the name and description (owners and admins edit them), the
// members with their roles (the owner changes roles and hands the group over; owners and admins
// add and remove as the policy allows), how long messages stay (the owner), leaving (the owner
// names a new owner), and deleting the group (the owner, after a confirmation). What the buttons
// offer mirrors the server's policy (logic/groups.ts); every change comes back as an event.

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import type { Conversation, Member, User } from "@parley/protocol";
import {
  canAdd,
  canChangeRole,
  canDeleteGroup,
  canEditGroup,
  canRemove,
  leaveNeedsHeir,
  roleLabel,
  type Role,
} from "../logic/groups";
import { keys } from "../state/realtime";
import { useApi, useSession } from "../state/session";
import { DoneNote, ErrorNote, PanelHeader, errorText } from "./common";

interface Props {
  conversation: Conversation;
  onClose: () => void;
}

export function GroupInfo({ conversation, onClose }: Props) {
  const api = useApi();
  const me = useSession()!.user;
  const id = conversation.id;
  const group = conversation.type === "group";
  const members = useQuery({ queryKey: keys.members(id), queryFn: () => api.members(id), enabled: group });
  const role: Role = conversation.role;
  if (!group) {
    // A DM: nothing to rename or manage; either member decides how long messages stay.
    return (
      <aside className="group-info" role="dialog" aria-modal="false" aria-labelledby="group-info-title">
        <PanelHeader id="group-info-title" title="Conversation info" onClose={onClose} />
        <Retention conversation={conversation} />
      </aside>
    );
  }
  return (
    <aside className="group-info" role="dialog" aria-modal="false" aria-labelledby="group-info-title">
      <PanelHeader id="group-info-title" title="Group info" onClose={onClose} />
      <Details conversation={conversation} editable={canEditGroup(role)} />
      <section className="account-section" aria-labelledby="group-members-title">
        <h3 id="group-members-title">{conversation.memberCount} members</h3>
        {members.isLoading && <p className="muted">Loading...</p>}
        {members.isError && <ErrorNote text={errorText(members.error, "Could not load the members")} />}
        <ul className="member-list" aria-label="Members">
          {(members.data ?? []).map((m) => (
            <MemberRow key={m.userId} conversationId={id} member={m} mine={role} me={me.id} />
          ))}
        </ul>
        {canAdd(role, "member") && <AddMember conversationId={id} members={members.data ?? []} mine={role} />}
      </section>
      {role === "owner" && <Retention conversation={conversation} />}
      <Leave conversation={conversation} members={members.data ?? []} me={me.id} />
      {canDeleteGroup(role) && <DeleteGroup conversation={conversation} />}
    </aside>
  );
}

function Details({ conversation, editable }: { conversation: Conversation; editable: boolean }) {
  const api = useApi();
  const [name, setName] = useState(conversation.name ?? "");
  const [description, setDescription] = useState(conversation.description ?? "");
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: () => api.updateConversation(conversation.id, { name: name.trim(), description: description.trim() || null }),
    onSuccess: () => {
      setError(null);
      setDone("Saved");
    },
    onError: (e) => {
      setDone(null);
      setError(errorText(e, "Could not save"));
    },
  });
  if (!editable) {
    return (
      <section className="account-section">
        <h3>{conversation.name}</h3>
        {conversation.description ? (
          <p className="group-description">{conversation.description}</p>
        ) : (
          <p className="muted">No description.</p>
        )}
      </section>
    );
  }
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setDone(null);
    save.mutate();
  };
  return (
    <form className="account-section" aria-label="Group name and description" onSubmit={submit}>
      <label>
        Name
        <input value={name} maxLength={100} required onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        Description
        <textarea value={description} maxLength={500} onChange={(e) => setDescription(e.target.value)} />
      </label>
      <ErrorNote text={error} />
      <DoneNote text={done} />
      <button type="submit" disabled={save.isPending || !name.trim()}>
        Save
      </button>
    </form>
  );
}

function MemberRow({ conversationId, member, mine, me }: { conversationId: string; member: Member; mine: Role; me: string }) {
  const api = useApi();
  const queries = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const refresh = () => void queries.invalidateQueries({ queryKey: keys.members(conversationId) });
  const change = useMutation({
    mutationFn: (role: Role) => api.setRole(conversationId, member.userId, role),
    onSuccess: refresh,
    onError: (e) => setError(errorText(e, "Could not change the role")),
  });
  const remove = useMutation({
    mutationFn: () => api.removeMember(conversationId, member.userId),
    onSuccess: refresh,
    onError: (e) => setError(errorText(e, "Could not remove")),
  });
  const self = member.userId === me;
  const [handing, setHanding] = useState(false);
  return (
    <li aria-label={member.displayName}>
      <span className="device-text">
        <span className="device-name">
          {member.displayName}
          {self ? " (you)" : ""}
        </span>
        <span className="muted">@{member.username}</span>
      </span>
      {!self && canChangeRole(mine, member.role) ? (
        <select
          aria-label={`Role of ${member.displayName}`}
          value={member.role}
          disabled={change.isPending}
          onChange={(e) => {
            const role = e.target.value as Role;
            if (role === "owner") setHanding(true);
            else change.mutate(role);
          }}
        >
          <option value="member">Member</option>
          <option value="admin">Admin</option>
          <option value="owner">Owner</option>
        </select>
      ) : (
        <span className={`role-badge ${member.role}`}>{roleLabel(member.role)}</span>
      )}
      {!self && canRemove(mine, member.role) && (
        <button type="button" className="link" disabled={remove.isPending} onClick={() => remove.mutate()}>
          Remove
        </button>
      )}
      {handing && (
        <div className="confirm">
          <p>Make {member.displayName} the owner? You become an admin.</p>
          <button type="button" className="secondary" onClick={() => setHanding(false)}>
            Cancel
          </button>
          <button
            type="button"
            disabled={change.isPending}
            onClick={() => {
              setHanding(false);
              change.mutate("owner");
            }}
          >
            Make owner
          </button>
        </div>
      )}
      <ErrorNote text={error} />
    </li>
  );
}

function AddMember({ conversationId, members, mine }: { conversationId: string; members: Member[]; mine: Role }) {
  const api = useApi();
  const queries = useQueryClient();
  const [query, setQuery] = useState("");
  const [error, setError] = useState<string | null>(null);
  const term = query.trim();
  const people = useQuery({
    queryKey: ["users", term],
    queryFn: () => api.searchUsers(term, 10),
    enabled: term.length > 0,
  });
  const add = useMutation({
    mutationFn: ({ user, role }: { user: User; role: "member" | "admin" }) => api.addMember(conversationId, user.id, role),
    onSuccess: () => {
      setError(null);
      setQuery("");
      void queries.invalidateQueries({ queryKey: keys.members(conversationId) });
    },
    onError: (e) => setError(errorText(e, "Could not add")),
  });
  const candidates = (people.data ?? []).filter((u) => !members.some((m) => m.userId === u.id));
  return (
    <div className="add-member">
      <input
        type="search"
        placeholder="Add people by name"
        aria-label="Add people"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
      />
      <ul className="member-list" aria-label="People to add">
        {term.length > 0 &&
          candidates.map((user) => (
            <li key={user.id}>
              <span className="device-text">
                <span className="device-name">{user.displayName}</span>
                <span className="muted">@{user.username}</span>
              </span>
              <button type="button" disabled={add.isPending} onClick={() => add.mutate({ user, role: "member" })}>
                Add
              </button>
              {canAdd(mine, "admin") && (
                <button
                  type="button"
                  className="link"
                  disabled={add.isPending}
                  onClick={() => add.mutate({ user, role: "admin" })}
                >
                  Add as admin
                </button>
              )}
            </li>
          ))}
      </ul>
      <ErrorNote text={error} />
    </div>
  );
}

/** Choices of how long messages stay ("" is the server's retention). */
const KEEP: [string, string, number | null][] = [
  ["", "As long as the server keeps them", null],
  ["1d", "1 day", 86_400],
  ["7d", "7 days", 7 * 86_400],
  ["30d", "30 days", 30 * 86_400],
  ["90d", "90 days", 90 * 86_400],
  ["365d", "1 year", 365 * 86_400],
];

function Retention({ conversation }: { conversation: Conversation }) {
  const api = useApi();
  const [error, setError] = useState<string | null>(null);
  const current = conversation.retentionSeconds ?? null;
  const known = KEEP.find(([, , seconds]) => seconds === current);
  const save = useMutation({
    mutationFn: (value: string) => api.setRetention(conversation.id, value || null),
    onSuccess: () => setError(null),
    onError: (e) => setError(errorText(e, "Could not change how long messages are kept")),
  });
  return (
    <section className="account-section" aria-labelledby="retention-title">
      <h3 id="retention-title">Keep messages</h3>
      <select
        aria-label="Keep messages for"
        value={known ? known[0] : "custom"}
        disabled={save.isPending}
        onChange={(e) => save.mutate(e.target.value)}
      >
        {!known && <option value="custom">{Math.round((current ?? 0) / 86_400)} days</option>}
        {KEEP.map(([value, label]) => (
          <option key={value || "server"} value={value}>
            {label}
          </option>
        ))}
      </select>
      <ErrorNote text={error} />
    </section>
  );
}

function Leave({ conversation, members, me }: { conversation: Conversation; members: Member[]; me: string }) {
  const api = useApi();
  const others = members.filter((m) => m.userId !== me);
  const [heir, setHeir] = useState("");
  const [asked, setAsked] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const needsHeir = leaveNeedsHeir(conversation.role, conversation.memberCount);
  const leave = useMutation({
    mutationFn: () => api.removeMember(conversation.id, me, needsHeir ? heir : undefined),
    onError: (e) => setError(errorText(e, "Could not leave")),
  });
  if (conversation.role === "owner" && conversation.memberCount <= 1) return null;
  return (
    <section className="account-section" aria-labelledby="leave-title">
      <h3 id="leave-title">Leave</h3>
      {!asked ? (
        <button type="button" className="secondary" onClick={() => setAsked(true)}>
          Leave group
        </button>
      ) : (
        <div className="confirm">
          {needsHeir && (
            <label>
              Who becomes the owner?
              <select value={heir} onChange={(e) => setHeir(e.target.value)} aria-label="New owner">
                <option value="">Choose a member</option>
                {others.map((m) => (
                  <option key={m.userId} value={m.userId}>
                    {m.displayName}
                  </option>
                ))}
              </select>
            </label>
          )}
          <p>Leave {conversation.name}? You will no longer see its messages.</p>
          <ErrorNote text={error} />
          <button type="button" className="secondary" onClick={() => setAsked(false)}>
            Cancel
          </button>
          <button
            type="button"
            className="danger"
            disabled={leave.isPending || (needsHeir && !heir)}
            onClick={() => leave.mutate()}
          >
            Leave
          </button>
        </div>
      )}
    </section>
  );
}

function DeleteGroup({ conversation }: { conversation: Conversation }) {
  const api = useApi();
  const [asked, setAsked] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const remove = useMutation({
    mutationFn: () => api.deleteConversation(conversation.id),
    onError: (e) => setError(errorText(e, "Could not delete the group")),
  });
  return (
    <section className="account-section" aria-labelledby="delete-group-title">
      <h3 id="delete-group-title">Delete group</h3>
      {!asked ? (
        <button type="button" className="danger" onClick={() => setAsked(true)}>
          Delete group
        </button>
      ) : (
        <div className="confirm">
          <p>Delete {conversation.name} and its whole history for every member? This cannot be undone.</p>
          <ErrorNote text={error} />
          <button type="button" className="secondary" onClick={() => setAsked(false)}>
            Cancel
          </button>
          <button type="button" className="danger" disabled={remove.isPending} onClick={() => remove.mutate()}>
            Delete for everyone
          </button>
        </div>
      )}
    </section>
  );
}
