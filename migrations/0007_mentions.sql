-- Mentions (issue 17): `@username` of a member, and `@everyone` in a group by its owners and
-- admins, resolved on the stored data when the message commits (a name that is not a member's
-- stays plain text). The message keeps whom it named; `message_mentions` holds one row per
-- mentioned member (everyone's members expanded, never the sender) so a member's unread mention
-- count is computed like the unread count, never counted: the rows above their read watermark.
-- Both columns are NULL/false for the common message, so a send without mentions writes nothing
-- more than before.
ALTER TABLE messages
    ADD COLUMN mentions uuid[],
    ADD COLUMN mention_everyone boolean NOT NULL DEFAULT false;

-- No foreign keys, like `messages` (migration 0002): rows are written only by the batch, from
-- rows it has just inserted under the conversation's lock; a deleted message takes its rows.
CREATE TABLE message_mentions (
    conversation_id uuid   NOT NULL,
    user_id         uuid   NOT NULL,
    seq             bigint NOT NULL,
    PRIMARY KEY (conversation_id, user_id, seq)
);
