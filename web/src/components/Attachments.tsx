// What a message holds: images as thumbnails (fetched with the session's token) that open full
// size in a viewer (Escape or ✕ closes it; Download saves it), and other files as cards with
// their name, size and a Download button. The composer's tray: each upload with its preview (a
// local image before it is sent), a progress bar, ✕ to cancel or remove, and Retry when it failed.

import { useEffect, useRef, useState } from "react";
import type { Attachment } from "@parley/protocol";
import { formatBytes, percent, type UploadItem } from "../logic/uploads";
import { download, useAttachmentUrl } from "../state/attachments";
import { useApi } from "../state/session";

/** The thumbnail size to show in a bubble: the small one when there is one. */
function smallest(attachment: Attachment): number | undefined {
  return attachment.thumbnails.length > 0 ? Math.min(...attachment.thumbnails) : undefined;
}

export function AttachmentList({ attachments }: { attachments: Attachment[] }) {
  const [open, setOpen] = useState<Attachment | null>(null);
  if (attachments.length === 0) return null;
  return (
    <div className="attachments">
      {attachments.map((a) =>
        a.kind === "image" ? (
          <ImageThumb key={a.id} attachment={a} onOpen={() => setOpen(a)} />
        ) : (
          <FileCard key={a.id} attachment={a} />
        ),
      )}
      {open && <ImageViewer attachment={open} onClose={() => setOpen(null)} />}
    </div>
  );
}

function ImageThumb({ attachment, onOpen }: { attachment: Attachment; onOpen: () => void }) {
  const { url, failed } = useAttachmentUrl(attachment.id, smallest(attachment));
  const ratio = attachment.width && attachment.height ? attachment.width / attachment.height : 4 / 3;
  const width = Math.round(Math.min(240, 180 * ratio));
  return (
    <button
      type="button"
      className="attachment-image"
      aria-label={`Open ${attachment.name}`}
      style={{ width, aspectRatio: String(ratio) }}
      onClick={onOpen}
    >
      {url ? (
        <img src={url} alt={attachment.name} data-testid="attachment-thumbnail" />
      ) : (
        <span className="muted">{failed ? "Image unavailable" : "Loading…"}</span>
      )}
    </button>
  );
}

function FileCard({ attachment }: { attachment: Attachment }) {
  const api = useApi();
  const [error, setError] = useState<string | null>(null);
  return (
    <div className="file-card" data-testid="file-card">
      <span className="file-icon" aria-hidden="true">
        📄
      </span>
      <span className="file-name" title={attachment.name}>
        {attachment.name}
      </span>
      <span className="file-size muted">{formatBytes(attachment.size)}</span>
      <button
        type="button"
        className="secondary"
        aria-label={`Download ${attachment.name}`}
        onClick={() => {
          setError(null);
          download(api, attachment.id, attachment.name).catch(() => setError("Download failed"));
        }}
      >
        Download
      </button>
      {error && (
        <span className="action-error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

function ImageViewer({ attachment, onClose }: { attachment: Attachment; onClose: () => void }) {
  const api = useApi();
  const { url, failed } = useAttachmentUrl(attachment.id);
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    close.current?.focus();
    const key = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    document.addEventListener("keydown", key);
    return () => document.removeEventListener("keydown", key);
  }, [onClose]);
  return (
    <div className="image-viewer" role="dialog" aria-modal="true" aria-label={attachment.name} onClick={onClose}>
      <div className="image-viewer-bar" onClick={(e) => e.stopPropagation()}>
        <span>{attachment.name}</span>
        <button type="button" className="secondary" onClick={() => void download(api, attachment.id, attachment.name)}>
          Download
        </button>
        <button ref={close} type="button" className="icon" aria-label="Close" onClick={onClose}>
          ✕
        </button>
      </div>
      {url ? (
        <img src={url} alt={attachment.name} data-testid="attachment-full" onClick={(e) => e.stopPropagation()} />
      ) : (
        <p>{failed ? "Image unavailable" : "Loading…"}</p>
      )}
    </div>
  );
}

interface TrayProps {
  items: UploadItem[];
  /** Local previews of images, by item key. */
  previews: Map<string, string>;
  onRemove: (key: string) => void;
  onRetry: (key: string) => void;
}

export function UploadTray({ items, previews, onRemove, onRetry }: TrayProps) {
  if (items.length === 0) return null;
  return (
    <ul className="upload-tray" aria-label="Attachments">
      {items.map((item) => {
        const preview = previews.get(item.key);
        return (
          <li key={item.key} className={`upload ${item.status}`} data-testid="upload">
            {preview ? <img src={preview} alt="" className="upload-preview" /> : <span aria-hidden="true">📄</span>}
            <span className="upload-name" title={item.name}>
              {item.name}
            </span>
            {item.status === "uploading" && (
              <progress max={100} value={percent(item)} aria-label={`Uploading ${item.name}`} />
            )}
            {item.status === "done" && <span className="muted">{formatBytes(item.size)}</span>}
            {item.status === "error" && (
              <>
                <span className="action-error" role="alert">
                  {item.error}
                </span>
                <button type="button" className="secondary" onClick={() => onRetry(item.key)}>
                  Retry
                </button>
              </>
            )}
            <button
              type="button"
              className="icon"
              aria-label={item.status === "uploading" ? `Cancel ${item.name}` : `Remove ${item.name}`}
              onClick={() => onRemove(item.key)}
            >
              ✕
            </button>
          </li>
        );
      })}
    </ul>
  );
}
