-- Parley schema, version 3: revocation that bites, and sessions a user can review.
--
-- Access tokens are short-lived JWTs; a revoked login session must stop them at once. Each
-- gateway keeps the sessions revoked within the last access-token lifetime in memory and rebuilds
-- that set from this index when it starts.
CREATE INDEX auth_sessions_revoked ON auth_sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- "Log out everywhere" and password changes revoke every live session of a user at once; the
-- existing partial index on (user_id) WHERE revoked_at IS NULL serves both and the sessions list.
