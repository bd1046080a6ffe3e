-- Push to users with no connected device (issue 17). Devices are registered by their users
-- (`POST /api/users/me/push-subscriptions`); committed messages feed `push_outbox` behind the
-- writer, a watermark per conversation (like the search indexer's) saying how far they were
-- looked at, so a crash between commit and push loses nothing and a restart does not enqueue a
-- message twice. An outbox row is deleted once delivered, dead-lettered (`dead_at`) after
-- `notifications.push_attempts` failures; its id is the delivery's idempotency key.
CREATE TABLE push_subscriptions (
    id              uuid        PRIMARY KEY,
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            text        NOT NULL CHECK (kind IN ('webhook')),
    -- The device's address at the push service (for `webhook`: the token the operator's push
    -- gateway knows the device by).
    token           text        NOT NULL CHECK (length(token) BETWEEN 1 AND 4096),
    label           text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_success_at timestamptz,
    failures        int4        NOT NULL DEFAULT 0,
    UNIQUE (user_id, kind, token)
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

CREATE TABLE push_watermarks (
    conversation_id uuid   PRIMARY KEY,
    pushed_seq      bigint NOT NULL
);

CREATE TABLE push_outbox (
    id              uuid        PRIMARY KEY,
    subscription_id uuid        NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    message_id      uuid        NOT NULL,
    payload         text        NOT NULL,
    attempts        int4        NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    dead_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscription_id, message_id)
);
CREATE INDEX push_outbox_due ON push_outbox (next_attempt_at) WHERE dead_at IS NULL;
