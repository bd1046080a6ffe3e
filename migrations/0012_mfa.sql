-- Two-factor sign-in (issue 18): a TOTP secret per user (RFC 6238), enabled once a first code
-- confirms it; the last step accepted, so no code is accepted twice; ten single-use recovery
-- codes, stored as SHA-256 hashes (50 random bits each); the short-lived challenge between the
-- password and the code, stored as the SHA-256 hash of its token.
CREATE TABLE user_mfa (
    user_id    uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     bytea       NOT NULL CHECK (length(secret) = 20),
    enabled_at timestamptz,
    last_step  bigint      NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mfa_recovery_codes (
    user_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea       NOT NULL CHECK (length(code_hash) = 32),
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE mfa_challenges (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    attempts   int         NOT NULL DEFAULT 0
);
CREATE INDEX mfa_challenges_user ON mfa_challenges (user_id);
