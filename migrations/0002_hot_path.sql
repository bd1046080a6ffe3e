-- Parley schema, version 2: take per-row work that no send needs off the send path.
--
-- Measured with `make bench` on a 2-core machine at 10,000 msgs/s (send->ack): the three foreign
-- keys on `messages` cost about a quarter of each batch's statement time (one trigger query per
-- row and key), and the GIN search index's pending-list clean-ups, run by whichever insert
-- crosses the list's limit, stalled batches for hundreds of milliseconds (p99 352 ms with the
-- index, 47 ms without).
--
-- 1. The writer already checks every reference in the statement that inserts, on the stored data
--    and under the conversation's row lock: the sender is a member (so the conversation and the
--    user exist), `reply_to` is a message of the same conversation. Conversations and users are
--    never deleted and messages are only soft-deleted, so nothing can orphan a message later.
ALTER TABLE messages
    DROP CONSTRAINT messages_conversation_id_fkey,
    DROP CONSTRAINT messages_sender_id_fkey,
    DROP CONSTRAINT messages_reply_to_fkey;

-- 2. Full-text search moves to its own table, filled behind the writer by the persister's search
--    indexer in large batches: a message is searchable shortly (normally well under a second)
--    after its commit, and the send path never touches the GIN index.
DROP INDEX messages_search;
ALTER TABLE messages DROP COLUMN search;

-- No foreign keys on these two tables either: a key check would lock the referenced rows (KEY
-- SHARE) and make the indexer wait for, and deadlock with, the writer's conversation locks. Their
-- rows are written only by the indexer, from rows it has just read.
CREATE TABLE message_search (
    message_id      uuid PRIMARY KEY,
    conversation_id uuid     NOT NULL,
    search          tsvector NOT NULL
);
CREATE INDEX message_search_vector ON message_search USING gin (search);

-- How far each conversation is indexed: every message with seq <= indexed_seq has its row in
-- message_search (or was deleted). Kept apart from `conversations` so the indexer never waits on
-- the row the writer locks for every batch. Conversations with last_seq > indexed_seq (or no row
-- here) are caught up when the persister starts.
CREATE TABLE search_watermarks (
    conversation_id uuid   PRIMARY KEY,
    indexed_seq     bigint NOT NULL CHECK (indexed_seq >= 0)
);
