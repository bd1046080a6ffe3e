// The REST side: the session (tokens kept in localStorage, refreshed a minute before they expire,
// one refresh at a time, shared by the tabs: a refresh or a logout in one tab reaches the others
// over a BroadcastChannel) and JSON requests in the `{data, meta}` / `{error}` envelope.

import type { Conversation, ErrorBody, Member, Me, User } from "@parley/protocol";
import type * as Rest from "./openapi";

export class ApiError extends Error {
  constructor(
    public readonly status: number,
    public readonly body: ErrorBody,
  ) {
    super(body.message);
  }
}

export interface Session {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds. */
  expiresAt: number;
  user: Me;
}

/** A login session of mine (GET /api/auth/sessions). */
export type DeviceSession = Rest.Session;

export interface Page<T> {
  data: T[];
  /** `newerCursor`/`hasNewer` on a page around a message (`around=`). */
  meta: Rest.PageMeta;
}

const KEY = "parley.session";
/** Tabs tell each other that the stored session changed (a refresh, a login, a logout). */
const CHANNEL = "parley.session";

type AuthAnswer = Rest.AuthResponse;

export class Api {
  session: Session | null;
  private refreshing: Promise<string | null> | null = null;
  private readonly listeners = new Set<(session: Session | null) => void>();
  private readonly channel: BroadcastChannel | null;

  constructor(
    private readonly base = "",
    private readonly storage: Storage | null = typeof localStorage === "undefined" ? null : localStorage,
  ) {
    this.session = this.stored();
    this.channel = typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel(CHANNEL);
    // Another tab changed the session: take what it stored (null: it logged out, so do we).
    this.channel?.addEventListener("message", () => this.adopt(this.stored()));
  }

  private stored(): Session | null {
    try {
      const saved = this.storage?.getItem(KEY);
      return saved ? (JSON.parse(saved) as Session) : null;
    } catch {
      return null;
    }
  }

  /** Takes a session another tab stored, without storing or announcing it again. */
  private adopt(session: Session | null): void {
    if (session?.refreshToken === this.session?.refreshToken && session?.accessToken === this.session?.accessToken) return;
    if (session && this.session && session.user.id !== this.session.user.id) return;
    this.session = session;
    for (const listener of this.listeners) listener(session);
  }

  onSession(listener: (session: Session | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setSession(session: Session | null): void {
    this.session = session;
    if (session) this.storage?.setItem(KEY, JSON.stringify(session));
    else this.storage?.removeItem(KEY);
    this.channel?.postMessage(session ? "changed" : "logout");
    for (const listener of this.listeners) listener(session);
  }

  private fromAnswer(answer: AuthAnswer, user?: Me): Session {
    return {
      accessToken: answer.accessToken,
      refreshToken: answer.refreshToken,
      expiresAt: Date.now() + answer.expiresIn * 1000,
      user: answer.user ?? user,
    };
  }

  async register(username: string, password: string, displayName: string): Promise<void> {
    const answer = await this.call<AuthAnswer>("POST", "/api/auth/register", { username, password, displayName }, false);
    this.setSession(this.fromAnswer(answer));
  }

  /** Logs in; with two-factor sign-in on, answers the challenge `loginWithCode` finishes. */
  async login(username: string, password: string): Promise<{ challengeToken: string } | null> {
    const answer = await this.call<Rest.LoginResponse>("POST", "/api/auth/login", { username, password }, false);
    if ("mfaRequired" in answer) return { challengeToken: answer.challengeToken };
    this.setSession(this.fromAnswer(answer));
    return null;
  }

  /** The second step of a login: the authenticator's code, or a recovery code. */
  async loginWithCode(challengeToken: string, code: string): Promise<void> {
    const answer = await this.call<AuthAnswer>("POST", "/api/auth/login/mfa", { challengeToken, code }, false);
    this.setSession(this.fromAnswer(answer));
  }

  /** Changes my display name (the session's copy of me too). */
  async setDisplayName(displayName: string): Promise<Me> {
    const me = await this.patch<Me>("/api/users/me", { displayName });
    if (this.session) this.setSession({ ...this.session, user: me });
    return me;
  }

  /** The people I blocked. */
  async blocks(): Promise<Rest.Block[]> {
    return (await this.page<Rest.Block>("/api/users/me/blocks")).data;
  }

  /** Blocks someone: they can no longer open a DM with me, add me to groups or write to me. */
  block(userId: string): Promise<Rest.Block> {
    return this.post<Rest.Block>("/api/users/me/blocks", { userId });
  }

  /** Lifts a block. */
  unblock(userId: string): Promise<void> {
    return this.call<void>("DELETE", `/api/users/me/blocks/${encodeURIComponent(userId)}`);
  }

  /** Sets a new password with an operator's one-time reset link (every session of the account ends). */
  resetPassword(token: string, newPassword: string): Promise<void> {
    return this.call<void>("POST", "/api/auth/reset-password", { token, newPassword }, false);
  }

  /** Reports a message to the server admins. */
  reportMessage(messageId: string, reason: string): Promise<Rest.Report> {
    return this.post<Rest.Report>(`/api/messages/${encodeURIComponent(messageId)}/report`, { reason });
  }

  /** Server admins: the report queue (open ones, or all). */
  async reports(status: "open" | "all"): Promise<Rest.Report[]> {
    return (await this.page<Rest.Report>(`/api/admin/reports?status=${status}&limit=100`)).data;
  }

  /** Server admins: act on a report. */
  resolveReport(id: string, action: Rest.ResolveReportRequest["action"]): Promise<Rest.Report> {
    return this.post<Rest.Report>(`/api/admin/reports/${encodeURIComponent(id)}/resolve`, { action });
  }

  /** People whose username or display name contains `term`. */
  async searchUsers(term: string, limit = 10): Promise<User[]> {
    return (await this.page<User>(`/api/users?query=${encodeURIComponent(term)}&limit=${limit}`)).data;
  }

  /** Server admins: an account's role and state. */
  adminUser(id: string): Promise<Rest.AdminUser> {
    return this.get<Rest.AdminUser>(`/api/admin/users/${encodeURIComponent(id)}`);
  }

  /** Server admins: deactivate (or reactivate) an account. */
  setDeactivated(id: string, deactivated: boolean): Promise<Rest.AdminUser> {
    const verb = deactivated ? "deactivate" : "reactivate";
    return this.post<Rest.AdminUser>(`/api/admin/users/${encodeURIComponent(id)}/${verb}`, undefined);
  }

  /** Server admins: the newest audit records, optionally of one action. */
  async audit(action?: string): Promise<Rest.AuditEntry[]> {
    const filter = action ? `&action=${encodeURIComponent(action)}` : "";
    return (await this.page<Rest.AuditEntry>(`/api/admin/audit?limit=50${filter}`)).data;
  }

  /** Renames a group or changes its description (`null` or "" removes it). */
  updateConversation(id: string, change: { name?: string; description?: string | null }): Promise<Conversation> {
    return this.patch<Conversation>(`/api/conversations/${encodeURIComponent(id)}`, change);
  }

  /** How long a conversation keeps its messages ("30d"; null: as the server does). */
  setRetention(id: string, messages: string | null): Promise<Conversation> {
    return this.call<Conversation>("PUT", `/api/conversations/${encodeURIComponent(id)}/retention`, { messages });
  }

  /** Deletes a group and its history (its owner). */
  deleteConversation(id: string): Promise<void> {
    return this.call<void>("DELETE", `/api/conversations/${encodeURIComponent(id)}`);
  }

  /** A group's members with their roles, every page. */
  async members(id: string): Promise<Member[]> {
    const all: Member[] = [];
    let cursor: string | null | undefined = null;
    do {
      const after: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page: Page<Member> = await this.page<Member>(
        `/api/conversations/${encodeURIComponent(id)}/members?limit=200${after}`,
      );
      all.push(...page.data);
      cursor = page.meta.hasMore ? page.meta.cursor : null;
    } while (cursor);
    return all;
  }

  /** Adds someone to a group. */
  addMember(id: string, userId: string, role: "member" | "admin" = "member"): Promise<Member> {
    return this.post<Member>(`/api/conversations/${encodeURIComponent(id)}/members`, { userId, role });
  }

  /** Changes a member's role (`owner`: hands the group over). */
  setRole(id: string, userId: string, role: Member["role"]): Promise<Member> {
    return this.patch<Member>(
      `/api/conversations/${encodeURIComponent(id)}/members/${encodeURIComponent(userId)}`,
      { role },
    );
  }

  /** Removes a member, or leaves (my own id; the owner names who takes over). */
  removeMember(id: string, userId: string, newOwnerId?: string): Promise<void> {
    const heir = newOwnerId ? `?newOwnerId=${encodeURIComponent(newOwnerId)}` : "";
    return this.call<void>(
      "DELETE",
      `/api/conversations/${encodeURIComponent(id)}/members/${encodeURIComponent(userId)}${heir}`,
    );
  }

  /** Whether my account signs in with a second factor. */
  mfaStatus(): Promise<Rest.MfaStatus> {
    return this.get<Rest.MfaStatus>("/api/users/me/mfa");
  }

  /** Starts two-factor enrolment: the secret for the authenticator app. */
  beginMfa(password: string): Promise<Rest.MfaEnrolment> {
    return this.post<Rest.MfaEnrolment>("/api/users/me/mfa", { password });
  }

  /** Turns two-factor sign-in on with a first code; answers the recovery codes. */
  confirmMfa(code: string): Promise<Rest.MfaRecoveryCodes> {
    return this.post<Rest.MfaRecoveryCodes>("/api/users/me/mfa/confirm", { code });
  }

  /** New recovery codes (the old ones stop working). */
  newRecoveryCodes(code: string): Promise<Rest.MfaRecoveryCodes> {
    return this.post<Rest.MfaRecoveryCodes>("/api/users/me/mfa/recovery-codes", { code });
  }

  /** Turns two-factor sign-in off. */
  disableMfa(password: string, code: string): Promise<void> {
    return this.call<void>("POST", "/api/users/me/mfa/disable", { password, code });
  }

  async logout(): Promise<void> {
    const refreshToken = this.session?.refreshToken;
    this.setSession(null);
    if (refreshToken) {
      await this.call("POST", "/api/auth/logout", { refreshToken }, false).catch(() => undefined);
    }
  }

  /** A valid access token: refreshed when it expires within a minute (or when `fresh`: the
   * server refused it); null when logged out. */
  async token(fresh = false): Promise<string | null> {
    const session = this.session;
    if (!session) return null;
    if (!fresh && session.expiresAt - Date.now() > 60_000) return session.accessToken;
    this.refreshing ??= this.refresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async refresh(): Promise<string | null> {
    // Another tab may have refreshed already (refresh tokens rotate): use its tokens if fresh.
    const stored = this.stored();
    if (stored && this.session && stored.refreshToken !== this.session.refreshToken) {
      this.adopt(stored);
      if (stored.expiresAt - Date.now() > 60_000) return stored.accessToken;
    }
    const session = this.session;
    if (!session) return null;
    try {
      const answer = await this.call<AuthAnswer>("POST", "/api/auth/refresh", { refreshToken: session.refreshToken }, false);
      this.setSession({ ...this.fromAnswer(answer, session.user), user: session.user });
      return this.session?.accessToken ?? null;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) this.setSession(null);
      throw error;
    }
  }

  /** Changes my password; every other session of mine is signed out by the server. */
  changePassword(currentPassword: string, newPassword: string): Promise<void> {
    return this.call<void>("POST", "/api/auth/password", { currentPassword, newPassword });
  }

  /** My login sessions, most recently used first. */
  async sessions(): Promise<DeviceSession[]> {
    return (await this.page<DeviceSession>("/api/auth/sessions")).data;
  }

  /** Signs one of my sessions out (its device is logged out at once). */
  revokeSession(id: string): Promise<void> {
    return this.call<void>("DELETE", `/api/auth/sessions/${encodeURIComponent(id)}`);
  }

  /** Sets my level and mute for one conversation. */
  setConversationNotifications(
    conversationId: string,
    prefs: { level: "all" | "mentions" | "off"; mutedUntil: string | null },
  ): Promise<Rest.ConversationNotifications> {
    return this.call<Rest.ConversationNotifications>(
      "PUT",
      `/api/conversations/${encodeURIComponent(conversationId)}/notifications`,
      prefs,
    );
  }

  /** My daily do-not-disturb window, and whether it covers now. */
  myNotifications(): Promise<Rest.UserNotifications> {
    return this.get<Rest.UserNotifications>("/api/users/me/notifications");
  }

  /** Sets (or, with null, clears) my daily do-not-disturb window. */
  setMyNotifications(prefs: Rest.UserNotificationsRequest): Promise<Rest.UserNotifications> {
    return this.call<Rest.UserNotifications>("PUT", "/api/users/me/notifications", prefs);
  }

  /** The push channels the server has, with the VAPID key browsers subscribe with. */
  pushChannels(): Promise<Rest.PushChannels> {
    return this.get<Rest.PushChannels>("/api/push");
  }

  /** My devices that get pushes while I have no open connection. */
  async pushDevices(): Promise<Rest.Device[]> {
    return (await this.page<Rest.Device>("/api/users/me/push-subscriptions")).data;
  }

  /** Registers a device (this browser's Web Push subscription). */
  registerPushDevice(registration: unknown): Promise<Rest.Device> {
    return this.post<Rest.Device>("/api/users/me/push-subscriptions", registration);
  }

  /** Removes one of my push devices. */
  removePushDevice(id: string): Promise<void> {
    return this.call<void>("DELETE", `/api/users/me/push-subscriptions/${encodeURIComponent(id)}`);
  }

  /** Asks for an export of my data (prepared in the background). */
  requestExport(): Promise<Rest.Export> {
    return this.post<Rest.Export>("/api/users/me/export", undefined);
  }

  /** My exports, newest first. */
  async exports(): Promise<Rest.Export[]> {
    return (await this.page<Rest.Export>("/api/users/me/exports")).data;
  }

  /** Downloads a ready export (once: the server deletes it afterwards). */
  async downloadExport(id: string): Promise<Blob> {
    const token = await this.token();
    if (!token) throw new ApiError(401, { code: "UNAUTHORIZED", message: "Logged out", retryable: false });
    const response = await fetch(`${this.base}/api/users/me/exports/${encodeURIComponent(id)}/download`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!response.ok) {
      const json = await response.json().catch(() => null);
      const error: ErrorBody = json?.error ?? { code: "INTERNAL_ERROR", message: response.statusText, retryable: true };
      throw new ApiError(response.status, error);
    }
    return response.blob();
  }

  /** Uploads `file` (its raw bytes), reporting progress; `signal` cancels it. The attachment to
   * name in a send. XMLHttpRequest: fetch reports no upload progress. */
  async upload(
    file: Blob,
    name: string,
    onProgress: (sent: number, total: number) => void,
    signal?: AbortSignal,
  ): Promise<Rest.Attachment> {
    const token = await this.token();
    if (!token) throw new ApiError(401, { code: "UNAUTHORIZED", message: "Logged out", retryable: false });
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${this.base}/api/uploads?name=${encodeURIComponent(name)}`);
      xhr.setRequestHeader("authorization", `Bearer ${token}`);
      xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      const failed = (status: number, fallback: string) => {
        let body: ErrorBody = { code: "INTERNAL_ERROR", message: fallback, retryable: true };
        try {
          body = (JSON.parse(xhr.responseText) as Rest.Error).error ?? body;
        } catch {
          // Not JSON (a proxy's page): keep the fallback.
        }
        reject(new ApiError(status, body));
      };
      xhr.onload = () => {
        if (xhr.status === 201) {
          resolve((JSON.parse(xhr.responseText) as { data: Rest.Attachment }).data);
        } else {
          if (xhr.status === 401) this.setSession(null);
          failed(xhr.status, xhr.statusText || "Upload failed");
        }
      };
      xhr.onerror = () => failed(0, "Network error");
      xhr.onabort = () => reject(new DOMException("Upload cancelled", "AbortError"));
      signal?.addEventListener("abort", () => xhr.abort(), { once: true });
      xhr.send(file);
    });
  }

  /** An attachment's bytes (or one of its thumbnails) as a Blob, fetched with my token. */
  async attachment(id: string, thumbnail?: number): Promise<Blob> {
    const token = await this.token();
    if (!token) throw new ApiError(401, { code: "UNAUTHORIZED", message: "Logged out", retryable: false });
    const path = `/api/attachments/${encodeURIComponent(id)}${thumbnail ? `/thumbnails/${thumbnail}` : ""}`;
    const response = await fetch(this.base + path, { headers: { authorization: `Bearer ${token}` } });
    if (!response.ok) {
      const json = await response.json().catch(() => null);
      const error: ErrorBody = json?.error ?? { code: "NOT_FOUND", message: response.statusText, retryable: false };
      throw new ApiError(response.status, error);
    }
    return response.blob();
  }

  /** Deletes my account (password, and a code when two-factor sign-in is on); logged out after. */
  async deleteAccount(password: string, code?: string): Promise<void> {
    await this.call<void>("DELETE", "/api/users/me", code ? { password, code } : { password });
    this.setSession(null);
  }

  /** Logs out every other device, or (`includingThis`) everywhere. */
  async logoutEverywhere(includingThis: boolean): Promise<void> {
    await this.call<void>("DELETE", `/api/auth/sessions${includingThis ? "" : "?keepCurrent=true"}`);
    if (includingThis) this.setSession(null);
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }

  page<T>(path: string): Promise<Page<T>> {
    return this.call<Page<T>>("GET", path, undefined, true, true);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("POST", path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("PATCH", path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>("DELETE", path);
  }

  /** One request; `data` of the envelope (or the whole envelope for pages). */
  private async call<T>(method: string, path: string, body?: unknown, auth = true, whole = false): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (auth) {
      const token = await this.token();
      if (!token) throw new ApiError(401, { code: "UNAUTHORIZED", message: "Logged out", retryable: false });
      headers.authorization = `Bearer ${token}`;
    }
    const response = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return undefined as T;
    const json = await response.json().catch(() => null);
    if (!response.ok) {
      const error: ErrorBody = json?.error ?? { code: "INTERNAL_ERROR", message: response.statusText, retryable: true };
      if (auth && response.status === 401) this.setSession(null);
      throw new ApiError(response.status, error);
    }
    return (whole ? json : json?.data) as T;
  }
}
