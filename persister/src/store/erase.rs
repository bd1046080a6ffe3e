//! Account deletion, in steps that can be run again after a crash: `begin` makes the account an
//! anonymous tombstone, signed out at once (its username free again), `memberships` lists what
//! the gateway then leaves (groups) or closes (direct messages) through the lanes,
//! `scrub_messages` removes the content of every message the user sent (or the messages:
//! `privacy.delete_messages`) in batches, and `finish` deletes every other row of theirs. The
//! `users` row stays as "Deleted user" so their messages keep a sender that reads as such.
//! `messages` has no foreign keys (migration 0002): every row that names the user is handled here.

use parley_shared::policy::Role;
use parley_shared::{ConversationId, SessionId, UserId};

use super::audit::{self, Entry};
use super::{Conn, role};
use crate::DbError;

/// The name a deleted account's remaining traces show.
pub const DELETED_NAME: &str = "Deleted user";

/// Signs the account out everywhere (the gateways hear at commit) and makes it anonymous: no
/// name, no email, no password, no admin role, its username free. `None`: no such account.
pub async fn begin(conn: &mut Conn, user: UserId) -> Result<Option<Vec<SessionId>>, DbError> {
    let tx = conn.transaction().await?;
    let changed = tx
        .execute(
            "UPDATE users SET deactivated_at = coalesce(deactivated_at, now()), display_name = $2,
                 username = 'deleted_' || left(replace(id::text, '-', ''), 24), email = NULL,
                 password_hash = '!', is_admin = false, updated_at = now()
             WHERE id = $1",
            &[&user.0, &DELETED_NAME],
        )
        .await?;
    if changed == 0 {
        return Ok(None);
    }
    let revoked = super::admin::revoke_sessions(&tx, user, "deleted").await?;
    tx.execute("DELETE FROM user_mfa WHERE user_id = $1", &[&user.0])
        .await?;
    tx.commit().await?;
    Ok(Some(revoked))
}

/// One conversation the deleted user is still in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Left {
    /// A group, with the member who takes over if they own it (`None` with nobody else: the
    /// group goes with them).
    Group {
        conversation: ConversationId,
        role: Role,
        heir: Option<UserId>,
    },
    /// A direct message and the other member.
    Dm {
        conversation: ConversationId,
        partner: Option<UserId>,
    },
}

/// Every conversation `user` is in; a group's heir is its longest-standing admin, else member.
pub async fn memberships(conn: &Conn, user: UserId) -> Result<Vec<Left>, DbError> {
    let rows = conn
        .query(
            "SELECT c.id, c.kind, m.role,
                 (SELECT o.user_id FROM conversation_members o
                  WHERE o.conversation_id = c.id AND o.user_id <> $1
                  ORDER BY CASE o.role WHEN 'admin' THEN 0 ELSE 1 END, o.joined_at, o.user_id
                  LIMIT 1)
             FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.user_id = $1",
            &[&user.0],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let conversation = ConversationId(r.get(0));
            let other = r.get::<_, Option<uuid::Uuid>>(3).map(UserId);
            Ok(match r.get::<_, &str>(1) {
                "dm" => Left::Dm {
                    conversation,
                    partner: other,
                },
                _ => Left::Group {
                    conversation,
                    role: role(r.get(2))?,
                    heir: other,
                },
            })
        })
        .collect()
}

/// Removes the content of up to `batch` of `user`'s messages not yet scrubbed (as a delete
/// does: content, mentions, reactions, attachments and indexed words go, the `seq` stays and
/// sync reports the change), or deletes them (`delete`); returns how many. Call until it answers 0. System
/// messages written since the deletion began (its "Deleted user left") stay: they name no one.
pub async fn scrub_messages(
    conn: &mut Conn,
    user: UserId,
    delete: bool,
    batch: i64,
) -> Result<u64, DbError> {
    let tx = conn.transaction().await?;
    let ids: Vec<uuid::Uuid> = tx
        .query(
            "SELECT m.id FROM messages m JOIN users u ON u.id = m.sender_id
             WHERE m.sender_id = $1 AND ($2 OR m.deleted_at IS NULL OR m.content <> '')
               AND (m.content_type <> 'system' OR m.created_at < u.deactivated_at)
             LIMIT $3 FOR UPDATE OF m",
            &[&user.0, &delete, &batch],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if ids.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    for statement in [
        "DELETE FROM message_reactions WHERE message_id = ANY($1)",
        "DELETE FROM message_attachments WHERE message_id = ANY($1)",
        // An empty vector rather than no row: the indexer, whose statement may have read these
        // messages before this commit, then finds the row and leaves it (it never re-inserts
        // their words).
        "INSERT INTO message_search (message_id, conversation_id, search)
         SELECT m.id, m.conversation_id, ''::tsvector FROM messages m WHERE m.id = ANY($1)
         ON CONFLICT (message_id) DO UPDATE SET search = ''::tsvector",
        "DELETE FROM push_outbox WHERE message_id = ANY($1)",
        "DELETE FROM message_mentions mm USING messages m
         WHERE m.id = ANY($1) AND mm.conversation_id = m.conversation_id AND mm.seq = m.seq",
    ] {
        tx.execute(statement, &[&ids]).await?;
    }
    if delete {
        for statement in [
            "DELETE FROM message_search WHERE message_id = ANY($1)",
            "DELETE FROM messages WHERE id = ANY($1)",
        ] {
            tx.execute(statement, &[&ids]).await?;
        }
    } else {
        tx.execute(
            "UPDATE messages m SET content = '', mentions = NULL, mention_everyone = false,
                 attachments = NULL, deleted_at = coalesce(m.deleted_at, now()), mod_seq = c.last_seq
             FROM conversations c WHERE c.id = m.conversation_id AND m.id = ANY($1)",
            &[&ids],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(ids.len() as u64)
}

/// Rows of a user that go with the account (the tombstone `users` row stays).
const ROWS: [&str; 12] = [
    "DELETE FROM auth_sessions WHERE user_id = $1",
    "DELETE FROM message_reactions WHERE user_id = $1",
    "DELETE FROM push_subscriptions WHERE user_id = $1",
    "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
    "DELETE FROM mfa_challenges WHERE user_id = $1",
    "DELETE FROM user_mfa WHERE user_id = $1",
    "DELETE FROM user_blocks WHERE blocker_id = $1 OR blocked_id = $1",
    "DELETE FROM user_notifications WHERE user_id = $1",
    "DELETE FROM data_exports WHERE user_id = $1",
    "DELETE FROM password_resets WHERE user_id = $1",
    "DELETE FROM message_mentions WHERE user_id = $1",
    "DELETE FROM uploads WHERE user_id = $1",
];

/// Deletes what is left of `user` (sessions, reactions, devices, two-factor state, blocks,
/// settings, exports, reset links, mention rows) and marks the tombstone deleted; records
/// `audit`. `false`: it was already.
pub async fn finish(conn: &mut Conn, user: UserId, audit: &Entry) -> Result<bool, DbError> {
    let tx = conn.transaction().await?;
    for statement in ROWS {
        tx.execute(statement, &[&user.0]).await?;
    }
    let marked = tx
        .execute(
            "UPDATE users SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL",
            &[&user.0],
        )
        .await?;
    if marked == 1 {
        audit::record(&*tx, audit).await?;
    }
    tx.commit().await?;
    Ok(marked == 1)
}
