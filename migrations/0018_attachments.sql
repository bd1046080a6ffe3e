-- Files and images (issue 19). A user uploads bytes (`POST /api/uploads`); the gateway sniffs the
-- type from them, stores them by SHA-256 under the data dir, and records the upload here. A send
-- names uploads (`attachments: [id]`); the batch that commits the message links them in the same
-- transaction. An upload is attachable once (a second send naming it is refused), and one never
-- attached is removed after a day; an attached one goes when its last message is deleted.
CREATE TABLE uploads (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Hex SHA-256 of the stored bytes: the blob's address (several uploads may share one).
    sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size         bigint      NOT NULL CHECK (size >= 0),
    -- Sniffed from the bytes, never taken from the client.
    mime_type    text        NOT NULL CHECK (char_length(mime_type) BETWEEN 1 AND 100),
    kind         text        NOT NULL CHECK (kind IN ('image', 'file')),
    name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    -- An image's size as shown (its EXIF orientation applied).
    width        int4        CHECK (width > 0),
    height       int4        CHECK (height > 0),
    -- The thumbnails made of an image (their longest side: 320, 1280), stored beside it as
    -- `<sha256>.t<size>`, in `thumbnail_mime` (JPEG, or PNG for images with transparency).
    thumbnails   int4[]      NOT NULL DEFAULT '{}',
    thumbnail_mime text      CHECK (thumbnail_mime IN ('image/jpeg', 'image/png')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    attached_at  timestamptz
);
CREATE INDEX uploads_user ON uploads (user_id, created_at);
CREATE INDEX uploads_sha ON uploads (sha256);
CREATE INDEX uploads_unattached ON uploads (created_at) WHERE attached_at IS NULL;

-- Which messages hold which uploads: what a download's access check reads (a member of the
-- conversation of a message, not deleted, that holds it). The key to `messages` cascades for
-- the hard deletes (retention, a conversation's deletion); a soft delete removes its rows.
CREATE TABLE message_attachments (
    message_id      uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    upload_id       uuid NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL,
    position        int2 NOT NULL CHECK (position BETWEEN 0 AND 9),
    PRIMARY KEY (message_id, position)
);
CREATE INDEX message_attachments_upload ON message_attachments (upload_id);

-- What every reader of a message shows of its attachments (id, name, type, size, dimensions),
-- written by the batch from the uploads it linked: uploads never change, so the copy never goes
-- stale. NULL for a message without attachments (almost all: nothing on the send path grows).
ALTER TABLE messages ADD COLUMN attachments jsonb
    CHECK (attachments IS NULL OR jsonb_typeof(attachments) = 'array');

-- Search by `has:image` / `has:file` alone reads only messages with attachments.
CREATE INDEX messages_with_attachments ON messages (conversation_id, id) WHERE attachments IS NOT NULL;

-- `image` and `file` messages; their text is optional.
ALTER TABLE messages DROP CONSTRAINT messages_content_type_check;
ALTER TABLE messages ADD CONSTRAINT messages_content_type_check
    CHECK (content_type IN ('text', 'system', 'image', 'file'));
ALTER TABLE messages DROP CONSTRAINT messages_content_length;
ALTER TABLE messages ADD CONSTRAINT messages_content_length CHECK (
    (deleted_at IS NULL AND char_length(content) <= 4000
     AND (char_length(content) >= 1 OR content_type IN ('image', 'file')))
    OR (deleted_at IS NOT NULL AND char_length(content) <= 4000)
);
