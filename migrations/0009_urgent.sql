-- Urgent messages (issue 17): `priority: "urgent"` on a send breaks through the recipients' mutes
-- and do-not-disturb (at most `limits.urgent` per user). Kept on the message so every copy of it
-- (history, sync, search) shows it distinctly. False for the common message: adding the column
-- with a constant default rewrites nothing.
ALTER TABLE messages ADD COLUMN urgent boolean NOT NULL DEFAULT false;
