// Attachments' bytes as object URLs: an <img> cannot send the session's token, so each image (or
// thumbnail) is fetched through the API layer once and shown from a blob URL. The URLs are shared
// by every bubble showing the same attachment and bounded: past MAX_URLS, the least recently
// asked is revoked (a bubble showing it fetches it again when it next renders).

import { useEffect, useState } from "react";
import type { Api } from "../api/rest";
import { useApi } from "./session";

const MAX_URLS = 200;
const urls = new Map<string, Promise<string>>();

/** The object URL of attachment `id` (or its `thumbnail`). */
export function attachmentUrl(api: Api, id: string, thumbnail?: number): Promise<string> {
  const key = `${id}/${thumbnail ?? "full"}`;
  const known = urls.get(key);
  if (known) {
    urls.delete(key);
    urls.set(key, known);
    return known;
  }
  const made = api.attachment(id, thumbnail).then((blob) => URL.createObjectURL(blob));
  made.catch(() => urls.delete(key));
  urls.set(key, made);
  while (urls.size > MAX_URLS) {
    const [oldest, url] = urls.entries().next().value as [string, Promise<string>];
    urls.delete(oldest);
    void url.then((u) => URL.revokeObjectURL(u)).catch(() => undefined);
  }
  return made;
}

/** The object URL for an attachment (null while it loads); `failed` when it could not be had. */
export function useAttachmentUrl(id: string, thumbnail?: number): { url: string | null; failed: boolean } {
  const api = useApi();
  const [state, setState] = useState<{ url: string | null; failed: boolean }>({ url: null, failed: false });
  useEffect(() => {
    let live = true;
    setState({ url: null, failed: false });
    attachmentUrl(api, id, thumbnail).then(
      (url) => live && setState({ url, failed: false }),
      () => live && setState({ url: null, failed: true }),
    );
    return () => {
      live = false;
    };
  }, [api, id, thumbnail]);
  return state;
}

/** Saves attachment `id` as `name` (a download, whatever its type). */
export async function download(api: Api, id: string, name: string): Promise<void> {
  const blob = await api.attachment(id);
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
