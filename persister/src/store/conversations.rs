//! Conversations and their members: DM get-or-create (one per pair, enforced by a unique index),
//! groups, membership lookups (the basis of every authorisation), the caller's list by activity,
//! and member changes under the conversation's row lock.

use parley_shared::policy::{ConversationKind, Role};
use parley_shared::{ConversationId, UserId};
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::messages::{self, Message};
use super::{Conn, kind, role};
use crate::DbError;

/// A conversation row.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: ConversationKind,
    pub name: Option<String>,
    /// A group's description (at most 500 characters).
    pub description: Option<String>,
    /// How long this conversation keeps its messages (`None`: the server's retention).
    pub retention_seconds: Option<i64>,
    pub owner_id: Option<UserId>,
    pub last_seq: i64,
    pub last_activity_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

pub(crate) const COLUMNS: &str = "c.id, c.kind, c.name, c.owner_id, c.last_seq, c.last_activity_at, c.created_at, c.description, \
     c.retention_seconds";

/// How many columns `COLUMNS` has.
pub(crate) const N: usize = 9;

pub(crate) fn from_row(row: &Row) -> Result<Conversation, DbError> {
    Ok(Conversation {
        id: ConversationId(row.get(0)),
        kind: kind(row.get(1))?,
        name: row.get(2),
        owner_id: row.get::<_, Option<uuid::Uuid>>(3).map(UserId),
        last_seq: row.get(4),
        last_activity_at: row.get(5),
        created_at: row.get(6),
        description: row.get(7),
        retention_seconds: row.get(8),
    })
}

/// The caller's place in a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub conversation: Conversation,
    pub role: Role,
    pub last_read_seq: i64,
}

impl Membership {
    /// Messages after the read watermark; computed, so it cannot drift.
    pub fn unread(&self) -> i64 {
        (self.conversation.last_seq - self.last_read_seq).max(0)
    }
}

/// A member with the profile fields lists show.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub joined_at: OffsetDateTime,
    pub last_read_seq: i64,
}

/// Unread mentions are counted up to this many per conversation (badges and lists show the
/// bound past it): a count stays one index range read however many there are.
pub const MAX_MENTION_COUNT: i64 = 1000;

/// One entry of the caller's conversation list.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub membership: Membership,
    /// Unread messages that mention the caller (at most [`MAX_MENTION_COUNT`]).
    pub mention_count: i64,
    pub last_message: Option<Message>,
    pub member_count: i64,
    /// The first few members (owner and admins first).
    pub members: Vec<Member>,
    /// The caller's notification preferences there.
    pub prefs: super::notifications::ConversationPrefs,
}

/// Members shown per conversation in a list.
pub const PREVIEW_MEMBERS: i64 = 5;

/// The DM between `a` and `b`, created (with both as members) if it did not exist.
/// Returns the conversation and whether this call created it.
pub async fn get_or_create_dm(
    conn: &mut Conn,
    a: UserId,
    b: UserId,
) -> Result<(Conversation, bool), DbError> {
    let (low, high) = if a.0 < b.0 { (a, b) } else { (b, a) };
    let tx = conn.transaction().await?;
    let insert = tx
        .prepare_cached(&format!(
            "INSERT INTO conversations AS c (id, kind, dm_user_low, dm_user_high)
             VALUES ($1, 'dm', $2, $3)
             ON CONFLICT (dm_user_low, dm_user_high) WHERE kind = 'dm' DO NOTHING
             RETURNING {COLUMNS}"
        ))
        .await?;
    let id = ConversationId::generate();
    if let Some(row) = tx.query_opt(&insert, &[&id.0, &low.0, &high.0]).await? {
        let conversation = from_row(&row)?;
        let members = tx
            .prepare_cached(
                "INSERT INTO conversation_members (conversation_id, user_id, role)
                 VALUES ($1, $2, 'member'), ($1, $3, 'member')",
            )
            .await?;
        tx.execute(&members, &[&id.0, &low.0, &high.0]).await?;
        tx.commit().await?;
        return Ok((conversation, true));
    }
    let existing = tx
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM conversations c
             WHERE c.kind = 'dm' AND c.dm_user_low = $1 AND c.dm_user_high = $2"
        ))
        .await?;
    let row = tx.query_one(&existing, &[&low.0, &high.0]).await?;
    tx.commit().await?;
    Ok((from_row(&row)?, false))
}

/// Creates a group owned by `owner` with `members` (owner excluded, no duplicates) as members.
pub async fn create_group(
    conn: &mut Conn,
    owner: UserId,
    name: &str,
    members: &[UserId],
) -> Result<Conversation, DbError> {
    let tx = conn.transaction().await?;
    let insert = tx
        .prepare_cached(&format!(
            "INSERT INTO conversations AS c (id, kind, name, owner_id) VALUES ($1, 'group', $2, $3)
             RETURNING {COLUMNS}"
        ))
        .await?;
    let id = ConversationId::generate();
    let row = tx.query_one(&insert, &[&id.0, &name, &owner.0]).await?;
    let add = tx
        .prepare_cached(
            "INSERT INTO conversation_members (conversation_id, user_id, role)
             SELECT $1, u, CASE WHEN u = $2 THEN 'owner' ELSE 'member' END
             FROM unnest($3::uuid[]) AS u",
        )
        .await?;
    let mut everyone: Vec<uuid::Uuid> = vec![owner.0];
    everyone.extend(members.iter().map(|m| m.0));
    tx.execute(&add, &[&id.0, &owner.0, &everyone]).await?;
    tx.commit().await?;
    from_row(&row)
}

/// `user`'s membership of `conversation`; `None` when either does not exist or they are not a
/// member (the caller must not tell these apart).
pub async fn membership(
    conn: &Conn,
    conversation: ConversationId,
    user: UserId,
) -> Result<Option<Membership>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, m.role, m.last_read_seq
             FROM conversations c JOIN conversation_members m ON m.conversation_id = c.id
             WHERE c.id = $1 AND m.user_id = $2"
        ))
        .await?;
    let Some(row) = conn
        .query_opt(&statement, &[&conversation.0, &user.0])
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Membership {
        conversation: from_row(&row)?,
        role: role(row.get(N))?,
        last_read_seq: row.get(N + 1),
    }))
}

/// Every member of `conversation`, owner and admins first, then by join time.
pub async fn members(conn: &Conn, conversation: ConversationId) -> Result<Vec<Member>, DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT u.id, u.username, u.display_name, m.role, m.joined_at, m.last_read_seq
             FROM conversation_members m JOIN users u ON u.id = m.user_id
             WHERE m.conversation_id = $1
             ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, m.joined_at, u.id",
        )
        .await?;
    let rows = conn.query(&statement, &[&conversation.0]).await?;
    rows.iter().map(|r| member_from_row(r, 0)).collect()
}

pub(crate) fn member_from_row(row: &Row, at: usize) -> Result<Member, DbError> {
    Ok(Member {
        user_id: UserId(row.get(at)),
        username: row.get(at + 1),
        display_name: row.get(at + 2),
        role: role(row.get(at + 3))?,
        joined_at: row.get(at + 4),
        last_read_seq: row.get(at + 5),
    })
}

/// A position in the activity-ordered list: strictly after `(last_activity_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub last_activity_at: OffsetDateTime,
    pub id: ConversationId,
}

/// Up to `limit` of `user`'s conversations, most recent activity first, after `cursor`.
pub async fn list_for_user(
    conn: &Conn,
    user: UserId,
    cursor: Option<ListCursor>,
    limit: i64,
) -> Result<Vec<Summary>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, me.role, me.last_read_seq,
                    (SELECT count(*) FROM conversation_members x WHERE x.conversation_id = c.id),
                    {last},
                    (SELECT count(*) FROM (SELECT 1 FROM message_mentions mm
                         WHERE mm.conversation_id = c.id AND mm.user_id = me.user_id
                           AND mm.seq > me.last_read_seq LIMIT {MAX_MENTION_COUNT}) mentioned),
                    n.level, n.muted_until
             FROM conversation_members me
             JOIN conversations c ON c.id = me.conversation_id
             LEFT JOIN member_notifications n
                  ON n.conversation_id = me.conversation_id AND n.user_id = me.user_id
             LEFT JOIN messages lm ON lm.conversation_id = c.id AND lm.seq = c.last_seq
             WHERE me.user_id = $1
               AND ($2::timestamptz IS NULL OR (c.last_activity_at, c.id) < ($2, $3))
             ORDER BY c.last_activity_at DESC, c.id DESC
             LIMIT $4",
            last = messages::COLUMNS
                .split(", ")
                .map(|column| format!("lm.{column}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .await?;
    let (at, id) = match cursor {
        Some(c) => (Some(c.last_activity_at), Some(c.id.0)),
        None => (None, None),
    };
    let rows = conn.query(&statement, &[&user.0, &at, &id, &limit]).await?;
    let mut summaries = Vec::with_capacity(rows.len());
    for row in &rows {
        let last_message = row
            .get::<_, Option<uuid::Uuid>>(N + 3)
            .is_some()
            .then(|| messages::from_row(row, N + 3));
        summaries.push(Summary {
            membership: Membership {
                conversation: from_row(row)?,
                role: role(row.get(N))?,
                last_read_seq: row.get(N + 1),
            },
            member_count: row.get(N + 2),
            mention_count: row.get(N + 3 + messages::COLUMN_COUNT),
            last_message,
            members: Vec::new(),
            prefs: super::notifications::ConversationPrefs {
                level: match row.get::<_, Option<&str>>(N + 4 + messages::COLUMN_COUNT) {
                    None => super::notifications::Level::All,
                    Some(text) => super::notifications::Level::parse(text).ok_or_else(|| {
                        DbError::Corrupt(format!("unknown notification level `{text}`"))
                    })?,
                },
                muted_until: row.get(N + 5 + messages::COLUMN_COUNT),
            },
        });
    }
    attach_previews(conn, &mut summaries).await?;
    Ok(summaries)
}

async fn attach_previews(conn: &Conn, summaries: &mut [Summary]) -> Result<(), DbError> {
    if summaries.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = summaries
        .iter()
        .map(|s| s.membership.conversation.id.0)
        .collect();
    let statement = conn
        .prepare_cached(
            "SELECT conversation_id, id, username, display_name, role, joined_at, last_read_seq FROM (
                 SELECT m.conversation_id, u.id, u.username, u.display_name, m.role, m.joined_at,
                        m.last_read_seq,
                        row_number() OVER (PARTITION BY m.conversation_id ORDER BY
                            CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END,
                            m.joined_at, u.id) AS n
                 FROM conversation_members m JOIN users u ON u.id = m.user_id
                 WHERE m.conversation_id = ANY($1)
             ) ranked WHERE n <= $2 ORDER BY conversation_id, n",
        )
        .await?;
    let rows = conn.query(&statement, &[&ids, &PREVIEW_MEMBERS]).await?;
    for row in &rows {
        let conversation = ConversationId(row.get(0));
        let member = member_from_row(row, 1)?;
        if let Some(summary) = summaries
            .iter_mut()
            .find(|s| s.membership.conversation.id == conversation)
        {
            summary.members.push(member);
        }
    }
    Ok(())
}

/// Deletes conversation `$1` with its history and every row that names it (messages and their
/// satellites have no foreign keys, migration 0002); its members, read marks and preferences go
/// by cascade. Run in order, in one transaction that holds the conversation's row lock.
pub(crate) const DELETE_CONVERSATION: [&str; 8] = [
    // First: the search indexer locks this row while it indexes the conversation (see
    // `writer::indexer`), so this waits for it, and it then finds the conversation gone.
    "DELETE FROM search_watermarks WHERE conversation_id = $1",
    "DELETE FROM push_outbox WHERE message_id IN
         (SELECT id FROM messages WHERE conversation_id = $1)",
    "DELETE FROM message_search WHERE message_id IN
         (SELECT id FROM messages WHERE conversation_id = $1)",
    "DELETE FROM message_mentions WHERE conversation_id = $1",
    "DELETE FROM push_watermarks WHERE conversation_id = $1",
    "DELETE FROM retention_marks WHERE conversation_id = $1",
    "DELETE FROM messages WHERE conversation_id = $1",
    "DELETE FROM conversations WHERE id = $1",
];

/// A position in a member list: strictly after this member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberCursor {
    /// 0 owner, 1 admin, 2 member.
    pub rank: i32,
    pub joined_at: OffsetDateTime,
    pub user: UserId,
}

impl MemberCursor {
    /// The cursor just after `member`.
    pub fn after(member: &Member) -> Self {
        Self {
            rank: match member.role {
                Role::Owner => 0,
                Role::Admin => 1,
                Role::Member => 2,
            },
            joined_at: member.joined_at,
            user: member.user_id,
        }
    }
}

/// Up to `limit` members of `conversation` after `cursor`, in the order of [`members`] (owner,
/// admins, members; each by join time).
pub async fn members_page(
    conn: &Conn,
    conversation: ConversationId,
    cursor: Option<MemberCursor>,
    limit: i64,
) -> Result<Vec<Member>, DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT u.id, u.username, u.display_name, m.role, m.joined_at, m.last_read_seq
             FROM conversation_members m JOIN users u ON u.id = m.user_id
             WHERE m.conversation_id = $1
               AND ($2::int4 IS NULL
                    OR (CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END,
                        m.joined_at, m.user_id) > ($2::int4, $3::timestamptz, $4::uuid))
             ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, m.joined_at, m.user_id
             LIMIT $5",
        )
        .await?;
    let (rank, at, user) = match cursor {
        Some(c) => (Some(c.rank), Some(c.joined_at), Some(c.user.0)),
        None => (None, None, None),
    };
    let rows = conn
        .query(&statement, &[&conversation.0, &rank, &at, &user, &limit])
        .await?;
    rows.iter().map(|r| member_from_row(r, 0)).collect()
}

/// One member of `conversation` with their profile fields; `None` if they are not one.
pub async fn member(
    conn: &Conn,
    conversation: ConversationId,
    user: UserId,
) -> Result<Option<Member>, DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT u.id, u.username, u.display_name, m.role, m.joined_at, m.last_read_seq
             FROM conversation_members m JOIN users u ON u.id = m.user_id
             WHERE m.conversation_id = $1 AND m.user_id = $2",
        )
        .await?;
    let row = conn
        .query_opt(&statement, &[&conversation.0, &user.0])
        .await?;
    row.map(|r| member_from_row(&r, 0)).transpose()
}

/// One conversation of a user, as the gateway's unread table and presence index need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadState {
    pub conversation: ConversationId,
    pub last_seq: i64,
    pub last_read_seq: i64,
    /// In a DM, the other member.
    pub partner: Option<UserId>,
    /// The seqs of unread messages that mention the user (the newest [`MAX_MENTION_COUNT`]).
    pub mentions: Vec<i64>,
}

/// Unread messages of `conversation` that mention `user`, after their watermark `read` (at most
/// [`MAX_MENTION_COUNT`]).
pub async fn mention_count(
    conn: &Conn,
    conversation: ConversationId,
    user: UserId,
    read: i64,
) -> Result<i64, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM (SELECT 1 FROM message_mentions
                 WHERE conversation_id = $1 AND user_id = $2 AND seq > $3
                 LIMIT {MAX_MENTION_COUNT}) mentioned"
        ))
        .await?;
    let row = conn
        .query_one(&statement, &[&conversation.0, &user.0, &read])
        .await?;
    Ok(row.get(0))
}

/// Every conversation of `user` with its `last_seq` and the user's read watermark: the unread
/// counts (`last_seq - last_read_seq`) the gateway keeps current for a connected user.
pub async fn read_states(conn: &Conn, user: UserId) -> Result<Vec<ReadState>, DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT m.conversation_id, c.last_seq, m.last_read_seq,
                    CASE WHEN c.dm_user_low = $1 THEN c.dm_user_high ELSE c.dm_user_low END
             FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.user_id = $1",
        )
        .await?;
    let rows = conn.query(&statement, &[&user.0]).await?;
    let mentioned = conn
        .prepare_cached(&format!(
            "SELECT m.conversation_id, x.seq
             FROM conversation_members m
             CROSS JOIN LATERAL (
                 SELECT mm.seq FROM message_mentions mm
                 WHERE mm.conversation_id = m.conversation_id AND mm.user_id = m.user_id
                   AND mm.seq > m.last_read_seq
                 ORDER BY mm.seq DESC LIMIT {MAX_MENTION_COUNT}
             ) x
             WHERE m.user_id = $1"
        ))
        .await?;
    let mut mentions: std::collections::HashMap<uuid::Uuid, Vec<i64>> =
        std::collections::HashMap::new();
    for row in conn.query(&mentioned, &[&user.0]).await? {
        mentions.entry(row.get(0)).or_default().push(row.get(1));
    }
    Ok(rows
        .iter()
        .map(|r| ReadState {
            conversation: ConversationId(r.get(0)),
            last_seq: r.get(1),
            last_read_seq: r.get(2),
            partner: r.get::<_, Option<uuid::Uuid>>(3).map(UserId),
            mentions: mentions
                .remove(&r.get::<_, uuid::Uuid>(0))
                .unwrap_or_default(),
        })
        .collect())
}
