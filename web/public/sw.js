// Parley's service worker: the app shell offline. A page load goes to the network first and falls
// back to the last index.html it got (so a reload while the server is down opens the app, with
// the conversations and pending sends the device kept); the hashed files under /assets/ never
// change, so they are served from the cache once fetched. Nothing else is touched: the API, the
// WebSocket, health and metrics always go to the network, and no response with user data is kept.

const CACHE = "parley-shell-v1";
const SHELL = "/index.html";

/** The assets an index.html references (script and stylesheet paths under /assets/). */
function assetsOf(html) {
  return [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
}

/** Keeps `response` (an index.html: every route answers with it) and the files it needs. */
async function cacheShell(response) {
  if (!response.ok || !(response.headers.get("content-type") ?? "").startsWith("text/html")) return;
  const html = await response.clone().text();
  const cache = await caches.open(CACHE);
  await cache.put(SHELL, response);
  await cache.addAll(assetsOf(html));
  // Files of older builds are of no use once the new shell is cached.
  const keep = new Set([SHELL, ...assetsOf(html)]);
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (!keep.has(path)) await cache.delete(request);
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    fetch("/", { cache: "no-cache" })
      .then(cacheShell)
      .catch(() => undefined)
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(
      (async () => {
        try {
          const response = await fetch(request);
          // Perhaps a new build: keep its shell (and its assets) for the next offline start.
          event.waitUntil(cacheShell(response.clone()).catch(() => undefined));
          return response;
        } catch {
          const cached = await caches.match(SHELL);
          if (cached) return cached;
          throw new Error("offline and no app shell cached");
        }
      })(),
    );
    return;
  }
  if (url.pathname.startsWith("/assets/")) {
    event.respondWith(
      (async () => {
        const cached = await caches.match(request);
        if (cached) return cached;
        const response = await fetch(request);
        if (response.ok) {
          const cache = await caches.open(CACHE);
          await cache.put(request, response.clone());
        }
        return response;
      })(),
    );
  }
});

// Web Push: a message for a user with no open tab arrives here (encrypted by the server to this
// browser's subscription, decrypted by the browser). It shows as a system notification; clicking
// it focuses an open Parley tab on the conversation, or opens one.
self.addEventListener("push", (event) => {
  let push = {};
  try {
    push = event.data ? event.data.json() : {};
  } catch {
    push = {};
  }
  const title = push.title || "Parley";
  const options = {
    body: push.body || "New message",
    tag: push.conversationId || "parley",
    renotify: push.priority === "urgent",
    requireInteraction: push.priority === "urgent",
    data: { conversationId: push.conversationId || null },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const conversationId = event.notification.data && event.notification.data.conversationId;
  const path = conversationId ? `/c/${encodeURIComponent(conversationId)}` : "/";
  event.waitUntil(
    (async () => {
      const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const tab of tabs) {
        if (new URL(tab.url).origin === self.location.origin && "focus" in tab) {
          // focus() needs the click's activation; a refused focus still opens the conversation.
          await tab.focus().catch(() => undefined);
          if ("navigate" in tab) await tab.navigate(path);
          return;
        }
      }
      await self.clients.openWindow(path);
    })(),
  );
});
