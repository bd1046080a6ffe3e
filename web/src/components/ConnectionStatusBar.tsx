// The connection bar, in the page's flow above the chat (it pushes the layout down and covers
// nothing): "You're offline..." while the browser has no network; "Reconnecting..." (with the
// next attempt's countdown and "Retry now") once the socket has been down for a second; then
// "Connected" for two seconds, only after the bar had said it was down. Never shown for the
// first connect of a page load or for a drop that mends itself within a second.

import { useEffect, useRef, useState } from "react";
import { useRealtime } from "../state/realtime";
import { useNow } from "./common";

/** A drop shorter than this (a rolling restart's reconnect) shows nothing. */
const SHOW_AFTER_MS = 1000;

function useOnline(): boolean {
  const [online, setOnline] = useState(() => typeof navigator === "undefined" || navigator.onLine);
  useEffect(() => {
    const update = () => setOnline(navigator.onLine);
    window.addEventListener("online", update);
    window.addEventListener("offline", update);
    return () => {
      window.removeEventListener("online", update);
      window.removeEventListener("offline", update);
    };
  }, []);
  return online;
}

export function ConnectionStatusBar() {
  const { client, state } = useRealtime();
  const online = useOnline();
  const [down, setDown] = useState(false);
  const [justConnected, setJustConnected] = useState(false);
  const shown = useRef(false);
  const now = useNow(1000);
  // Down only for a socket that is not connected for SHOW_AFTER_MS ("connecting" counts only
  // once an attempt failed: state "reconnecting").
  useEffect(() => {
    if (state === "reconnecting") {
      const timer = setTimeout(() => setDown(true), SHOW_AFTER_MS);
      return () => clearTimeout(timer);
    }
    setDown(false);
    if (state === "connected" && shown.current) {
      shown.current = false;
      setJustConnected(true);
      const timer = setTimeout(() => setJustConnected(false), 2000);
      return () => clearTimeout(timer);
    }
  }, [state]);
  if (!online && state !== "connected") {
    shown.current = true;
    return (
      <div className="status-bar status-offline" role="status">
        You're offline. Messages will be sent when you reconnect.
      </div>
    );
  }
  if (down && state === "reconnecting") {
    shown.current = true;
    const wait = client.nextAttemptAt ? Math.ceil((client.nextAttemptAt - now.getTime()) / 1000) : 0;
    return (
      <div className="status-bar status-reconnecting" role="status">
        Reconnecting...
        {wait > 1 && <span className="status-detail"> Next try in {wait} s.</span>}
        <button type="button" className="status-retry" onClick={() => client.retryNow()}>
          Retry now
        </button>
      </div>
    );
  }
  if (state === "connected" && justConnected) {
    return (
      <div className="status-bar status-connected" role="status">
        Connected
      </div>
    );
  }
  return null;
}
