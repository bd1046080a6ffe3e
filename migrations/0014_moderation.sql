-- Moderation (issue 18): a server admin role, deactivated accounts, operator-issued password
-- resets, user reports of messages, and an audit log written in the transaction of what it records.
ALTER TABLE users
    ADD COLUMN is_admin       boolean NOT NULL DEFAULT false,
    ADD COLUMN deactivated_at timestamptz;

ALTER TABLE auth_sessions DROP CONSTRAINT auth_sessions_revoked_reason_check;
ALTER TABLE auth_sessions ADD CONSTRAINT auth_sessions_revoked_reason_check CHECK (revoked_reason IN
    ('logout', 'reuse_detected', 'password_changed', 'admin', 'password_reset', 'deactivated'));

-- A one-time password-reset link issued by the operator (`parley admin reset-password USER`):
-- only the SHA-256 of its token is kept; it expires, and using it spends it.
CREATE TABLE password_resets (
    token_hash bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX password_resets_user ON password_resets (user_id);

-- A member's report of a message, for the server admins. The message's sender and conversation
-- are copied at report time (messages have no foreign keys, and a report outlives a deletion).
CREATE TABLE message_reports (
    id              uuid        PRIMARY KEY,
    message_id      uuid        NOT NULL,
    conversation_id uuid        NOT NULL,
    reported_user   uuid        NOT NULL,
    reporter_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason          text        NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 1000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    resolved_by     uuid,
    resolution      text CHECK (resolution IN ('dismissed', 'message_deleted', 'user_deactivated')),
    UNIQUE (message_id, reporter_id)
);
CREATE INDEX message_reports_open ON message_reports (created_at, id) WHERE resolved_at IS NULL;
CREATE INDEX message_reports_all ON message_reports (created_at, id);

-- Who did what to whom, when and from where. Never message content. `actor` is NULL for the
-- operator's command line. No foreign keys: the trail outlives the accounts it names.
CREATE TABLE audit_log (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                  timestamptz NOT NULL DEFAULT now(),
    actor               uuid,
    action              text        NOT NULL CHECK (action ~ '^[a-z_.]{1,64}$'),
    target_user         uuid,
    target_conversation uuid,
    target_message      uuid,
    client_ip           inet,
    user_agent          text CHECK (char_length(user_agent) <= 512),
    details             jsonb
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_target_user ON audit_log (target_user, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
