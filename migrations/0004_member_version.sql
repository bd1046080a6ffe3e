-- Parley schema, version 4: a version of each conversation's membership, so the writer need not
-- read the members on every batch.
--
-- Measured on a 2-core machine (scripts/profile.sh, 20,000 msgs/s): besides the statement that
-- inserts, each batch read all members of every conversation in it (for the fan-out), which for
-- a 1,000-member group is 1,000 rows per batch. Each persister lane now keeps the members it has
-- read with this version and reads them again only when the version moved.
--
-- Coherence: the batch reads `members_version` under its row lock on the conversation
-- (`FOR NO KEY UPDATE`); every membership change bumps it with an UPDATE of that row, which waits
-- for the lock (and a batch waits for the change). So under the lock a cached list at the locked
-- version is exactly the stored membership. The triggers below make the bump part of every
-- INSERT and DELETE on conversation_members, whatever code path (or cascade) runs it.
ALTER TABLE conversations ADD COLUMN members_version bigint NOT NULL DEFAULT 0
    CHECK (members_version >= 0);

-- One function for both triggers: each names its transition table `changed`.
CREATE FUNCTION conversation_members_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations SET members_version = members_version + 1
    WHERE id IN (SELECT DISTINCT conversation_id FROM changed);
    RETURN NULL;
END $$;

CREATE TRIGGER conversation_members_added AFTER INSERT ON conversation_members
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversation_members_changed();
CREATE TRIGGER conversation_members_removed AFTER DELETE ON conversation_members
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversation_members_changed();

-- A member row's keys never change (no code updates them); should one ever be updated, its
-- conversation's lists must be read again too.
CREATE FUNCTION conversation_members_rekeyed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations SET members_version = members_version + 1
    WHERE id IN (OLD.conversation_id, NEW.conversation_id);
    RETURN NULL;
END $$;
CREATE TRIGGER conversation_members_rekeyed AFTER UPDATE OF conversation_id, user_id
    ON conversation_members FOR EACH ROW
    WHEN (OLD.conversation_id IS DISTINCT FROM NEW.conversation_id OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION conversation_members_rekeyed();
