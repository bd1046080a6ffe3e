// The app's routes: `/` (the conversation list) and `/c/<conversationId>` (one conversation open),
// so a reload keeps the open conversation and the browser's (and a phone's) Back and Forward move
// between the list and the chats. Pure: the components push and read `location`.

export interface Route {
  conversationId: string | null;
}

/** Ids the server hands out: letters, digits, `_` and `-` (anything else is not a route). */
const ID = /^[A-Za-z0-9_-]{1,64}$/;

export function parseRoute(pathname: string): Route {
  const match = /^\/c\/([^/]+)\/?$/.exec(pathname);
  const id = match ? decodeURIComponent(match[1]) : null;
  return { conversationId: id && ID.test(id) ? id : null };
}

export function routePath(route: Route): string {
  return route.conversationId ? `/c/${encodeURIComponent(route.conversationId)}` : "/";
}
