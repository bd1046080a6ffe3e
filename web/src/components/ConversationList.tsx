// The sidebar: filter, message search, new conversation (find people, open a DM, or name a
// group), and the conversations with avatar + presence dot, title, last message preview,
// relative time and unread badge. The list is one tab stop: the arrow keys (and Home/End) move
// through it, Enter opens.

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState, type KeyboardEvent } from "react";
import { ApiError } from "../api/rest";
import type { Conversation, User } from "@parley/protocol";
import { attachmentsText } from "../logic/actions";
import { relativeTime } from "../logic/presence";
import { keys } from "../state/realtime";
import { useApi, useSession } from "../state/session";
import { AccountPanel } from "./AccountPanel";
import { AdminPanel } from "./Moderation";
import { StatusPicker } from "./StatusPicker";
import { currentTheme, nextTheme, setTheme, type ThemeChoice } from "../state/theme";
import { Avatar, partnerOf, titleOf, useNow, usePresence } from "./common";
import { isMuted } from "../logic/notifications";

interface Props {
  conversations: Conversation[];
  loading: boolean;
  selected: string | null;
  onSelect: (id: string) => void;
  /** Opens message search (also Ctrl/Cmd+K). */
  onSearch: () => void;
}

export function ConversationList({ conversations, loading, selected, onSelect, onSearch }: Props) {
  const api = useApi();
  const session = useSession()!;
  const me = session.user;
  const now = useNow(30_000);
  const [filter, setFilter] = useState("");
  const [creating, setCreating] = useState(false);
  const [account, setAccount] = useState(false);
  const [admin, setAdmin] = useState(false);
  const shown = conversations.filter((c) => titleOf(c, me.id).toLowerCase().includes(filter.trim().toLowerCase()));
  const list = useRef<HTMLUListElement>(null);
  // The one item in the tab order: the open conversation, else the first.
  const focusable = shown.some((c) => c.id === selected) ? selected : (shown[0]?.id ?? null);
  const arrows = (e: KeyboardEvent<HTMLUListElement>) => {
    const items = [...(list.current?.querySelectorAll<HTMLButtonElement>(".conversation-item") ?? [])];
    const at = items.indexOf(document.activeElement as HTMLButtonElement);
    if (at < 0) return;
    const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    items[Math.max(0, Math.min(items.length - 1, to))]?.focus();
  };
  return (
    <aside className="sidebar" aria-label="Conversations">
      <header className="sidebar-header">
        <div className="me-block">
          <span className="me" title={me.username}>
            {me.displayName}
          </span>
          <StatusPicker />
        </div>
        <button type="button" className="icon" aria-label="New conversation" onClick={() => setCreating(!creating)}>
          +
        </button>
        <button
          type="button"
          className="link"
          aria-expanded={account}
          onClick={() => setAccount(!account)}
        >
          Account
        </button>
        {me.isAdmin && (
          <button type="button" className="link" aria-expanded={admin} onClick={() => setAdmin(!admin)}>
            Admin
          </button>
        )}
        <ThemeToggle />
        <button type="button" className="link" onClick={() => void api.logout()}>
          Log out
        </button>
      </header>
      {account && <AccountPanel onClose={() => setAccount(false)} />}
      {admin && <AdminPanel onClose={() => setAdmin(false)} />}
      <div className="sidebar-search">
        <input
          className="search"
          type="search"
          placeholder="Filter"
          aria-label="Filter conversations"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
        <button type="button" className="secondary" onClick={onSearch} title="Search messages (Ctrl+K)">
          Search messages
        </button>
      </div>
      {creating && (
        <NewConversation
          onCreated={(id) => {
            setCreating(false);
            onSelect(id);
          }}
        />
      )}
      <ul className="conversation-list" ref={list} onKeyDown={arrows}>
        {loading && <li className="muted">Loading...</li>}
        {shown.map((c) => (
          <Item
            key={c.id}
            conversation={c}
            me={me.id}
            now={now}
            selected={c.id === selected}
            tabbable={c.id === focusable}
            onSelect={onSelect}
          />
        ))}
      </ul>
    </aside>
  );
}

function Item({
  conversation,
  me,
  now,
  selected,
  tabbable,
  onSelect,
}: {
  conversation: Conversation;
  me: string;
  now: Date;
  selected: boolean;
  tabbable: boolean;
  onSelect: (id: string) => void;
}) {
  const partner = partnerOf(conversation, me);
  const presence = usePresence(partner?.userId);
  const title = titleOf(conversation, me);
  const last = conversation.lastMessage;
  const unread = conversation.unreadCount > 0;
  const preview = last ? (last.deletedAt ? "Message deleted" : last.content || attachmentsText(last)) : "No messages yet";
  return (
    <li>
      <button
        type="button"
        className={`conversation-item ${selected ? "selected" : ""} ${unread ? "unread" : ""}`}
        aria-current={selected ? "true" : undefined}
        tabIndex={tabbable ? 0 : -1}
        onClick={() => onSelect(conversation.id)}
      >
        <Avatar name={title} status={partner ? (presence?.status ?? "offline") : undefined} />
        <span className="conversation-text">
          <span className="conversation-title">
            {title}
            {isMuted(conversation.notifications, now.getTime()) && (
              <span className="muted-mark" title="Muted">
                {" "}
                🔕<span className="sr-only"> muted</span>
              </span>
            )}
          </span>
          <span className={`conversation-preview ${last ? "" : "empty"}`}>{preview}</span>
        </span>
        <span className="conversation-meta">
          <time dateTime={conversation.lastActivityAt}>{relativeTime(conversation.lastActivityAt, now)}</time>
          {unread && (
            <span className="badges">
              {conversation.mentionCount > 0 && (
                <span className="badge mention" data-testid="mention-badge">
                  @<span className="sr-only"> {conversation.mentionCount} mentioning you,</span>
                </span>
              )}
              <span className="badge" data-testid="unread-badge">
                {conversation.unreadCount}
                <span className="sr-only"> unread</span>
              </span>
            </span>
          )}
        </span>
      </button>
    </li>
  );
}

function NewConversation({ onCreated }: { onCreated: (id: string) => void }) {
  const api = useApi();
  const queries = useQueryClient();
  const [query, setQuery] = useState("");
  const [groupName, setGroupName] = useState("");
  const [picked, setPicked] = useState<User[]>([]);
  const [error, setError] = useState<string | null>(null);
  const term = query.trim();
  const people = useQuery({
    queryKey: ["users", term],
    queryFn: async () => (await api.page<User>(`/api/users?query=${encodeURIComponent(term)}&limit=10`)).data,
    enabled: term.length > 0,
  });
  async function create(body: unknown) {
    setError(null);
    try {
      const conversation = await api.post<Conversation>("/api/conversations", body);
      await queries.invalidateQueries({ queryKey: keys.conversations });
      onCreated(conversation.id);
    } catch (e) {
      setError(e instanceof ApiError ? e.body.message : "Could not create the conversation");
    }
  }
  return (
    <section className="new-conversation" aria-label="New conversation">
      <input
        type="search"
        placeholder="Find people by name"
        aria-label="Find people"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        autoFocus
      />
      <ul>
        {(people.data ?? []).map((user) => (
          <li key={user.id}>
            <span>
              {user.displayName} <span className="muted">@{user.username}</span>
            </span>
            <button type="button" onClick={() => void create({ type: "dm", userId: user.id })}>
              Message
            </button>
            <button
              type="button"
              className="link"
              onClick={() => setPicked((p) => (p.some((u) => u.id === user.id) ? p : [...p, user]))}
            >
              Add to group
            </button>
          </li>
        ))}
      </ul>
      {picked.length > 0 && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void create({ type: "group", name: groupName.trim(), memberIds: picked.map((u) => u.id) });
          }}
        >
          <p className="muted">Group with {picked.map((u) => u.displayName).join(", ")}</p>
          <input
            placeholder="Group name"
            aria-label="Group name"
            value={groupName}
            onChange={(e) => setGroupName(e.target.value)}
            required
          />
          <button type="submit">Create group</button>
        </form>
      )}
      {error && <p role="alert">{error}</p>}
    </section>
  );
}

/** Theme: system, dark or light (the choice stays on the device). */
function ThemeToggle() {
  const [choice, setChoice] = useState<ThemeChoice>(currentTheme);
  const label = { system: "System theme", dark: "Dark theme", light: "Light theme" }[choice];
  return (
    <button
      type="button"
      className="icon"
      aria-label={`${label}. Change theme`}
      title={label}
      onClick={() => {
        const next = nextTheme(choice);
        setTheme(next);
        setChoice(next);
      }}
    >
      {{ system: "◐", dark: "☾", light: "☀" }[choice]}
    </button>
  );
}

