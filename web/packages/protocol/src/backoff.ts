// Reconnect delays: 1, 2, 4, 8, ... seconds, at most 30, each with +-20 % jitter so a server
// restart does not bring every client back in the same instant.

export const MAX_DELAY_MS = 30_000;

export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.max(0, attempt));
  const jittered = base * (0.8 + 0.4 * random());
  return Math.round(Math.min(MAX_DELAY_MS, jittered));
}
