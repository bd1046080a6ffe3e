-- Data protection (issue 18): a user's export of their data, prepared in the background and
-- downloaded once by its owner; its archive is kept in parts (so neither the builder nor the
-- download holds it whole) until downloaded or expired.
CREATE TABLE data_exports (
    id            uuid        PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status        text        NOT NULL DEFAULT 'preparing'
                  CHECK (status IN ('preparing', 'ready', 'downloaded', 'failed', 'expired')),
    bytes         bigint      NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    ready_at      timestamptz,
    downloaded_at timestamptz,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX data_exports_user ON data_exports (user_id, created_at);

CREATE TABLE data_export_parts (
    export_id uuid  NOT NULL REFERENCES data_exports (id) ON DELETE CASCADE,
    n         int4  NOT NULL CHECK (n >= 0),
    body      bytea NOT NULL,
    PRIMARY KEY (export_id, n)
);

-- A user's reactions, found by user: for their export, and for the cascade of their deletion
-- (reactions are written by the lanes' change transactions, never by the send batch).
CREATE INDEX message_reactions_user ON message_reactions (user_id);

-- A deleted account stays as an anonymous tombstone ("Deleted user": no email, no password, a
-- username nobody picks, nothing else of theirs kept), so the messages it sent keep a sender
-- that reads as such and its closed direct messages keep their second member.
ALTER TABLE users ADD COLUMN deleted_at timestamptz;

-- An account's deletion ends its sessions first (then deletes them with the account).
ALTER TABLE auth_sessions DROP CONSTRAINT auth_sessions_revoked_reason_check;
ALTER TABLE auth_sessions ADD CONSTRAINT auth_sessions_revoked_reason_check CHECK (revoked_reason IN
    ('logout', 'reuse_detected', 'password_changed', 'admin', 'password_reset', 'deactivated',
     'deleted'));
