// The account panel: profile, password (the server signs every other device out), two-factor
// sign-in, the devices signed in (sign one out, or log out everywhere), quiet hours, push,
// blocked people, and your data (export, account deletion).

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { DeviceSession } from "../api/rest";
import { relativeTime } from "../logic/presence";
import { base64UrlToBytes, registrationOf } from "../logic/push";
import { useApi } from "../state/session";
import { ErrorNote, PanelHeader, errorText, useNow } from "./common";
import { QuietHours } from "./QuietHours";
import { BlockedPeople, Profile } from "./People";
import { TwoFactor } from "./TwoFactor";
import { DeleteAccount, ExportData } from "./YourData";

const SESSIONS = ["sessions"] as const;

/** "Active now", "Active 5m ago", "Active Yesterday", "Active Mar 3". */
function activeText(relative: string): string {
  if (relative === "now") return "Active now";
  return /^\d/.test(relative) ? `Active ${relative} ago` : `Active ${relative}`;
}

export function AccountPanel({ onClose }: { onClose: () => void }) {
  return (
    <section className="account-panel" role="dialog" aria-modal="false" aria-labelledby="account-title">
      <PanelHeader id="account-title" title="Account security" onClose={onClose} />
      <Profile />
      <ChangePassword />
      <TwoFactor />
      <Devices />
      <QuietHours />
      <PushNotifications />
      <BlockedPeople />
      <ExportData />
      <DeleteAccount />
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
    onError: (error) => setNotice({ ok: false, text: errorText(error, "Could not change the password") }),
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
      setError(errorText(e, "That did not work; try again"));
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
      <ErrorNote text={error} />
    </section>
  );
}

const PUSH_DEVICES = ["push-devices"] as const;

/** Whether this browser can take Web Push at all. */
function pushSupported(): boolean {
  return "serviceWorker" in navigator && typeof PushManager !== "undefined" && typeof Notification !== "undefined";
}

/** Notifications when no Parley tab is open: this browser's Web Push subscription, and every
 * device of mine that gets pushes (with Remove). */
function PushNotifications() {
  const api = useApi();
  const queries = useQueryClient();
  const channels = useQuery({ queryKey: ["push-channels"], queryFn: () => api.pushChannels() });
  const devices = useQuery({ queryKey: PUSH_DEVICES, queryFn: () => api.pushDevices() });
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const key = channels.data?.vapidPublicKey ?? null;
  const enable = async () => {
    setNotice(null);
    try {
      if ((await Notification.requestPermission()) !== "granted") {
        setNotice({ ok: false, text: "Notifications are blocked for this site in the browser's settings." });
        return;
      }
      const registration = await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: base64UrlToBytes(key ?? ""),
      });
      const body = registrationOf(subscription.toJSON(), deviceLabel());
      if (!body) throw new Error("The browser gave a subscription without keys");
      await api.registerPushDevice(body);
      setNotice({ ok: true, text: "This browser will be notified while Parley is closed." });
      void queries.invalidateQueries({ queryKey: PUSH_DEVICES });
    } catch (e) {
      setNotice({ ok: false, text: errorText(e, "Could not turn notifications on") });
    }
  };
  const remove = async (id: string) => {
    try {
      await api.removePushDevice(id);
    } finally {
      void queries.invalidateQueries({ queryKey: PUSH_DEVICES });
    }
  };
  return (
    <section className="account-section" aria-label="Notifications when Parley is closed">
      <h3>Notifications when Parley is closed</h3>
      {!key ? (
        <p className="muted">This server does not send browser notifications.</p>
      ) : !pushSupported() ? (
        <p className="muted">This browser cannot receive push notifications.</p>
      ) : (
        <button type="button" className="secondary" onClick={() => void enable()}>
          Notify this browser
        </button>
      )}
      <ul className="device-list">
        {(devices.data ?? []).map((d) => (
          <li key={d.id} data-testid="push-device">
            <span className="device-text">
              <span className="device-name">{d.label || (d.kind === "webpush" ? "A browser" : "A device")}</span>
              <span className="muted">{d.failures > 0 ? `${d.failures} failed deliveries` : "Ready"}</span>
            </span>
            <button type="button" className="secondary" onClick={() => void remove(d.id)}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      {notice && (
        <p role={notice.ok ? "status" : "alert"} className={notice.ok ? "muted" : "error"}>
          {notice.text}
        </p>
      )}
    </section>
  );
}

/** "Chrome on Linux"-like, from the user agent (a label only). */
function deviceLabel(): string {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? "Firefox" : /Edg\//.test(ua) ? "Edge" : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS X/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}
