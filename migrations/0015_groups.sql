-- Groups (issue 18): a description beside the name. Membership changes, renames and role changes
-- are written by the persister's lane of the conversation, each with a system message
-- (`content_type = 'system'`, allowed since 0001) that takes the next seq like any message, so
-- history and sync show them in order.
ALTER TABLE conversations
    ADD COLUMN description text CHECK (char_length(description) <= 500);

-- A group's member list, paged in joining order.
CREATE INDEX conversation_members_joined ON conversation_members (conversation_id, joined_at, user_id);
