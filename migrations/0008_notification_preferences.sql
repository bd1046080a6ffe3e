-- Notification preferences (issue 17). Rows exist only for what differs from the defaults (every
-- message notifies, nothing muted, no do-not-disturb schedule), in tables of their own: the send
-- path's rows (`messages`, `conversation_members`, updated by every batch) stay as narrow as they
-- were.

-- Per member and conversation: `all` | `mentions` | `off`, and a mute until a time. A member who
-- leaves takes the row with them.
CREATE TABLE member_notifications (
    conversation_id uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    level           text        NOT NULL CHECK (level IN ('all', 'mentions', 'off')),
    muted_until     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id),
    FOREIGN KEY (conversation_id, user_id)
        REFERENCES conversation_members (conversation_id, user_id) ON DELETE CASCADE
);

-- Per user: a daily do-not-disturb window (minutes after local midnight; it wraps past midnight
-- when the end is earlier than the start) in an IANA time zone.
CREATE TABLE user_notifications (
    user_id          uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    dnd_start_minute int4        NOT NULL CHECK (dnd_start_minute BETWEEN 0 AND 1439),
    dnd_end_minute   int4        NOT NULL CHECK (dnd_end_minute BETWEEN 0 AND 1439),
    time_zone        text        NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (dnd_start_minute <> dnd_end_minute)
);
