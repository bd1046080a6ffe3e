-- Message retention (issue 18): a conversation's own limit (bounded by the server's
-- `retention.messages`, NULL: the server's), and how far each conversation has expired. No
-- foreign key on the marks, like `search_watermarks`: the sweep writes them beside the writer.
ALTER TABLE conversations
    ADD COLUMN retention_seconds int8 CHECK (retention_seconds > 0);

CREATE TABLE retention_marks (
    conversation_id     uuid   PRIMARY KEY,
    expired_through_seq bigint NOT NULL CHECK (expired_through_seq > 0)
);
