// The MessageStatus state machine of the design seed: optimistic `sending`, `delivered` once the
// server committed (message:sent), `read` on a receipt, `error` (with a retry that goes back to
// `sending` under the same clientMessageId). A message never moves back from delivered or read.

export type MessageStatus = "sending" | "delivered" | "read" | "error";

export type StatusEvent =
  | { type: "sent" } // message:sent (committed)
  | { type: "failed" } // message:error, or the socket closed with the send unanswered
  | { type: "retry" } // the user pressed retry
  | { type: "read" }; // a receipt covers it

export function transition(status: MessageStatus, event: StatusEvent): MessageStatus {
  switch (event.type) {
    case "sent":
      return status === "sending" || status === "error" ? "delivered" : status;
    case "failed":
      return status === "sending" ? "error" : status;
    case "retry":
      return status === "error" ? "sending" : status;
    case "read":
      // A read implies the commit, even if its ack is still on the way.
      return status === "error" ? status : "read";
  }
}

/** After this long in `sending`, the bubble says "Taking longer than usual..." (it stays put). */
export const SLOW_AFTER_MS = 3000;

export function isSlow(status: MessageStatus, sentAt: number, now: number): boolean {
  return status === "sending" && now - sentAt >= SLOW_AFTER_MS;
}

/** The status of one of my committed messages: read once the other side's watermark covers it. */
export function committedStatus(seq: number, readUpTo: number): MessageStatus {
  return seq <= readUpTo ? "read" : "delivered";
}
