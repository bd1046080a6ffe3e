// The status picker beside my name: online (automatic: away after a while without activity),
// away, or do not disturb (no toasts or pushes, except urgent messages). The choice is kept on
// this device and told to the server again after every reconnect.

import { STATUS_CHOICES, type ChosenStatus } from "../state/status";
import { useMyStatus } from "../state/realtime";

export function StatusPicker() {
  const [status, choose] = useMyStatus();
  return (
    <label className="status-picker" title="Your status">
      <span className={`presence-dot presence-${status}`} aria-hidden="true" />
      <select aria-label="Status" value={status} onChange={(e) => choose(e.target.value as ChosenStatus)}>
        {STATUS_CHOICES.map((c) => (
          <option key={c.value} value={c.value}>
            {c.label}
          </option>
        ))}
      </select>
    </label>
  );
}
