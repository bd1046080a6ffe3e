// Web Push helpers (pure): the VAPID key as the bytes PushManager.subscribe wants, and a
// subscription as the server's registration body.

/** base64url (padded or not) to bytes. */
export function base64UrlToBytes(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** What `POST /api/users/me/push-subscriptions` takes for this browser. */
export function registrationOf(
  subscription: { endpoint?: string; keys?: Record<string, string> },
  label: string,
): { kind: "webpush"; endpoint: string; keys: { p256dh: string; auth: string }; label: string } | null {
  const { endpoint, keys } = subscription;
  if (!endpoint || !keys?.p256dh || !keys?.auth) return null;
  return { kind: "webpush", endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth }, label: label.slice(0, 100) };
}
