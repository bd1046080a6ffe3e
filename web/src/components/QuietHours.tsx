// Quiet hours: a daily do-not-disturb window in my time zone (the server's dndSchedule). Inside
// it nothing toasts or pushes except urgent messages; badges still count.

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import type { UserNotifications } from "../api/openapi";
import { defaultSchedule, scheduleProblem, scheduleText, zoneChoices, type Schedule } from "../logic/dnd";
import { useApi } from "../state/session";
import { DoneNote, ErrorNote, errorText } from "./common";

const MY_NOTIFICATIONS = ["my-notifications"] as const;

function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

function knownZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  return intl.supportedValuesOf?.("timeZone") ?? [];
}

export function QuietHours() {
  const api = useApi();
  const queries = useQueryClient();
  const saved = useQuery({ queryKey: MY_NOTIFICATIONS, queryFn: () => api.myNotifications() });
  // What the form shows: the user's edits, else what the server has.
  const [draft, setDraft] = useState<Schedule | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const current = draft === undefined ? (saved.data?.dndSchedule ?? null) : draft;
  const zones = useMemo(() => zoneChoices(knownZones(), localZone(), current?.timeZone), [current?.timeZone]);
  const save = useMutation({
    mutationFn: (dndSchedule: Schedule | null) => api.setMyNotifications({ dndSchedule }),
    onSuccess: (answer: UserNotifications) => {
      queries.setQueryData(MY_NOTIFICATIONS, answer);
      setDraft(undefined);
      setNotice(answer.dndSchedule ? `Quiet hours saved: ${scheduleText(answer.dndSchedule)}.` : "Quiet hours are off.");
    },
    onError: (e) => setError(errorText(e, "Could not save quiet hours")),
  });
  const edit = (change: Partial<Schedule>) => {
    setNotice(null);
    setDraft({ ...(current ?? defaultSchedule(localZone())), ...change });
  };
  const problem = current ? scheduleProblem(current, zones) : null;
  const dirty = draft !== undefined;
  return (
    <form
      className="account-section"
      aria-label="Quiet hours"
      onSubmit={(e) => {
        e.preventDefault();
        setError(null);
        if (problem) {
          setError(problem);
          return;
        }
        save.mutate(current);
      }}
    >
      <h3>Quiet hours</h3>
      <p className="muted">Every day in this window: no toasts or push notifications, except urgent messages.</p>
      <label className="check">
        <input
          type="checkbox"
          checked={current !== null}
          disabled={saved.isLoading}
          onChange={(e) => {
            setNotice(null);
            setDraft(e.target.checked ? (saved.data?.dndSchedule ?? defaultSchedule(localZone())) : null);
          }}
        />
        Quiet hours every day
      </label>
      {current && (
        <div className="quiet-hours">
          <label>
            From
            <input type="time" value={current.start} onChange={(e) => edit({ start: e.target.value })} required />
          </label>
          <label>
            Until
            <input type="time" value={current.end} onChange={(e) => edit({ end: e.target.value })} required />
          </label>
          <label>
            Time zone
            <select value={current.timeZone} onChange={(e) => edit({ timeZone: e.target.value })}>
              {zones.map((z) => (
                <option key={z} value={z}>
                  {z}
                </option>
              ))}
            </select>
          </label>
        </div>
      )}
      {saved.data?.inDndNow && !dirty && (
        <p className="notice" data-testid="quiet-now">
          Quiet hours are on now.
        </p>
      )}
      <button type="submit" className="primary" disabled={!dirty || save.isPending}>
        Save quiet hours
      </button>
      <ErrorNote text={error} />
      <DoneNote text={notice} />
    </form>
  );
}
