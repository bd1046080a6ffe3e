-- People search matches any part of a username or display name (issue 16), not only a prefix:
-- trigram indexes serve `LIKE '%part%'` (pg_trgm is a trusted extension: the database owner may
-- create it). The prefix indexes stay for the ordering of prefix matches first.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_username_trgm ON users USING gin (username gin_trgm_ops);
CREATE INDEX users_display_name_trgm ON users USING gin (lower(display_name) gin_trgm_ops);
