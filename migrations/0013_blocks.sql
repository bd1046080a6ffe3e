-- Blocking and profiles (issue 18). A user blocks another: the blocked one cannot open a DM with
-- them or add them to a group, and cannot send in their DM. The send path reads that from the
-- sender's membership row, which the batch statement fetches anyway (`can_send`, false for the
-- blocked member of a DM whose other member blocked them), so a send costs no extra look-up.
CREATE TABLE user_blocks (
    blocker_id uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
);
CREATE INDEX user_blocks_blocked ON user_blocks (blocked_id);

ALTER TABLE conversation_members ADD COLUMN can_send boolean NOT NULL DEFAULT true;
