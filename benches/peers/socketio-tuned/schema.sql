-- The tuned peer's send path: one function, called as one prepared statement in autocommit.
-- Membership, the conversation's row lock (seq allocation), clientMessageId dedup under that
-- lock, the insert and the last_seq bump: one round trip, one transaction, no race.
CREATE OR REPLACE FUNCTION peer_send(p_conversation uuid, p_sender uuid, p_client_id text,
                                     p_content text, p_id uuid)
RETURNS TABLE (status text, id uuid, seq bigint, created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_seq bigint;
    v_created timestamptz;
BEGIN
    PERFORM 1 FROM conversation_members m
        WHERE m.conversation_id = p_conversation AND m.user_id = p_sender;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_member'::text, NULL::uuid, NULL::bigint, NULL::timestamptz;
        RETURN;
    END IF;
    SELECT c.last_seq + 1 INTO v_seq FROM conversations c
        WHERE c.id = p_conversation FOR NO KEY UPDATE;
    INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id, content)
        VALUES (p_id, p_conversation, v_seq, p_sender, p_client_id, p_content)
        ON CONFLICT (conversation_id, sender_id, client_message_id) DO NOTHING
        RETURNING messages.created_at INTO v_created;
    IF v_created IS NULL THEN
        RETURN QUERY SELECT 'duplicate'::text, m.id, m.seq, m.created_at FROM messages m
            WHERE m.conversation_id = p_conversation AND m.sender_id = p_sender
              AND m.client_message_id = p_client_id;
        RETURN;
    END IF;
    UPDATE conversations SET last_seq = v_seq, last_activity_at = now() WHERE conversations.id = p_conversation;
    RETURN QUERY SELECT 'ok'::text, p_id, v_seq, v_created;
END
$$;
