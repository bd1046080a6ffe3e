-- Parley schema, version 5: the idempotency key's index leads with the sender.
--
-- Found by auto_explain at 20,000 msgs/s (scripts/profile.sh): the batch statement's look-up of
-- earlier copies of each (conversation, sender, client_message_id) ran, in some lane connections,
-- as an index scan of messages_seq_key on conversation_id alone with a filter on the other two
-- columns: every batch read every message of its conversations (318,256 buffers for 512 sends),
-- commits took 200 ms and the queues overflowed. Both indexes led with conversation_id, so a
-- generic plan made while the table had no statistics could pick either. With the sender first,
-- and the statement comparing conversation_id in a form no index serves, the key's own index is
-- the only one that can answer the look-up. Uniqueness is unchanged.
ALTER TABLE messages DROP CONSTRAINT messages_client_id_key;
ALTER TABLE messages ADD CONSTRAINT messages_client_id_key
    UNIQUE (sender_id, client_message_id, conversation_id);
