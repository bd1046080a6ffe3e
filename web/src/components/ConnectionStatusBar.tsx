// Visible only when the socket is not connected, and for two seconds after it reconnects.

import { useEffect, useRef, useState } from "react";
import { useRealtime } from "../state/realtime";

export function ConnectionStatusBar() {
  const { client, state } = useRealtime();
  const [justConnected, setJustConnected] = useState(false);
  const wasDown = useRef(false);
  useEffect(() => {
    if (state === "reconnecting" || state === "disconnected") wasDown.current = true;
    if (state === "connected" && wasDown.current) {
      wasDown.current = false;
      setJustConnected(true);
      const timer = setTimeout(() => setJustConnected(false), 2000);
      return () => clearTimeout(timer);
    }
  }, [state]);
  if (state === "reconnecting") {
    return (
      <div className="status-bar status-reconnecting" role="status">
        Reconnecting...
      </div>
    );
  }
  if (state === "disconnected") {
    return (
      <button type="button" className="status-bar status-disconnected" onClick={() => client.retry()}>
        Connection lost. Tap to retry.
      </button>
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
