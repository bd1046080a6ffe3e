//! Read marks on a lane: marks that arrive within `read_flush_interval` of each other are
//! coalesced (per member of a conversation, the highest `seq` wins) and written in one
//! transaction: the watermark moves forward only, capped at the conversation's `last_seq`; each
//! advance is recorded in `read_marks`; and the read counts of the group messages it newly covers
//! are read back for their senders.

use std::collections::HashMap;

use parley_shared::policy::ConversationKind;
use parley_shared::{ConversationId, MessageId, UserId};
use time::OffsetDateTime;
use tokio_postgres::Client;

use super::FrameOrigin;

/// Most origins remembered per coalesced mark (only refusals are answered to them).
const MAX_ORIGINS: usize = 8;
/// Newest newly-read messages per advance whose read count is reported to their senders.
pub const MAX_COUNTS_PER_MARK: i64 = 100;

/// "I have read up to `seq`" from `user` in `conversation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadMark {
    pub conversation: ConversationId,
    pub user: UserId,
    pub seq: i64,
    /// The socket frame, for a refusal (not a member).
    pub origin: Option<FrameOrigin>,
}

/// A watermark that moved: who read what, and who should hear of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadAdvance {
    pub conversation: ConversationId,
    pub kind: ConversationKind,
    pub reader: UserId,
    /// The new watermark and when it was set.
    pub seq: i64,
    pub read_at: OffsetDateTime,
    /// The conversation's `last_seq` at commit (the reader's unread count is the difference).
    pub last_seq: i64,
    /// In a DM, the other member (who sees the ticks turn blue).
    pub partner: Option<UserId>,
    /// In a group, the newly read messages (newest first, at most [`MAX_COUNTS_PER_MARK`]) with
    /// their senders and how many members have now read them.
    pub counts: Vec<ReadCount>,
}

/// One message's read count, for its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadCount {
    pub message: MessageId,
    pub sender: UserId,
    pub read_count: i64,
}

/// One coalesced mark: (conversation, member), the highest seq, the origins to answer.
pub(super) type Coalesced = ((ConversationId, UserId), (i64, Vec<FrameOrigin>));

/// Marks waiting for the next flush.
#[derive(Debug, Default)]
pub(super) struct Pending {
    marks: HashMap<(ConversationId, UserId), (i64, Vec<FrameOrigin>)>,
}

impl Pending {
    pub(super) fn add(&mut self, mark: ReadMark) {
        let entry = self
            .marks
            .entry((mark.conversation, mark.user))
            .or_insert((0, Vec::new()));
        entry.0 = entry.0.max(mark.seq);
        if let Some(origin) = mark.origin
            && entry.1.len() < MAX_ORIGINS
        {
            entry.1.push(origin);
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }

    /// The marks, unordered (the caller sorts what it writes together).
    pub(super) fn take(&mut self) -> Vec<Coalesced> {
        self.marks.drain().collect()
    }
}

/// What one flush found.
#[derive(Debug, Default)]
pub(super) struct Flushed {
    pub(super) advances: Vec<ReadAdvance>,
    /// Marks from non-members: (conversation, user).
    pub(super) refused: Vec<(ConversationId, UserId)>,
}

const ADVANCE: &str = "WITH input AS (
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int8[]) AS t(conversation_id, user_id, seq)
     ), moved AS (
         UPDATE conversation_members m
         SET last_read_seq = least(i.seq, c.last_seq), last_read_at = now()
         FROM input i, conversations c, conversation_members before
         WHERE m.conversation_id = i.conversation_id AND m.user_id = i.user_id
           AND c.id = i.conversation_id
           AND before.conversation_id = m.conversation_id AND before.user_id = m.user_id
           AND least(i.seq, c.last_seq) > m.last_read_seq
         RETURNING m.conversation_id, m.user_id, before.last_read_seq AS old_seq, m.last_read_seq,
                   m.last_read_at, c.kind, c.last_seq,
                   CASE WHEN c.dm_user_low = m.user_id THEN c.dm_user_high ELSE c.dm_user_low END AS partner
     ), recorded AS (
         INSERT INTO read_marks (conversation_id, user_id, seq, read_at)
         SELECT conversation_id, user_id, last_read_seq, last_read_at FROM moved
         ON CONFLICT DO NOTHING
     )
     SELECT 'moved', conversation_id, user_id, old_seq, last_read_seq, last_read_at, kind, last_seq, partner
     FROM moved
     UNION ALL
     SELECT 'refused', i.conversation_id, i.user_id, 0, 0, now(), '', 0, NULL FROM input i
     WHERE NOT EXISTS (SELECT 1 FROM conversation_members x
                       WHERE x.conversation_id = i.conversation_id AND x.user_id = i.user_id)";

const COUNTS: &str = "SELECT x.ord, m.id, m.sender_id,
            (SELECT count(*) FROM conversation_members r
             WHERE r.conversation_id = m.conversation_id AND r.user_id <> m.sender_id
               AND r.last_read_seq >= m.seq)
     FROM unnest($1::int4[], $2::uuid[], $3::uuid[], $4::int8[], $5::int8[])
          AS x(ord, conversation_id, reader, old_seq, new_seq)
     CROSS JOIN LATERAL (
         SELECT id, sender_id, seq, conversation_id FROM messages
         WHERE conversation_id = x.conversation_id AND seq > x.old_seq AND seq <= x.new_seq
           AND sender_id <> x.reader AND deleted_at IS NULL
         ORDER BY seq DESC LIMIT $6
     ) m
     ORDER BY x.ord, m.seq DESC";

/// Writes `marks` in one transaction.
pub(super) async fn flush(
    client: &mut Client,
    marks: &[Coalesced],
) -> Result<Flushed, tokio_postgres::Error> {
    let conversations: Vec<uuid::Uuid> = marks.iter().map(|((c, _), _)| c.0).collect();
    let users: Vec<uuid::Uuid> = marks.iter().map(|((_, u), _)| u.0).collect();
    let seqs: Vec<i64> = marks.iter().map(|(_, (seq, _))| *seq).collect();
    let tx = client.transaction().await?;
    let rows = tx.query(ADVANCE, &[&conversations, &users, &seqs]).await?;
    let mut flushed = Flushed::default();
    let mut old_seqs = Vec::new();
    for row in &rows {
        let conversation = ConversationId(row.get(1));
        let reader = UserId(row.get(2));
        if row.get::<_, &str>(0) == "refused" {
            flushed.refused.push((conversation, reader));
            continue;
        }
        let kind = ConversationKind::parse(row.get(6)).unwrap_or(ConversationKind::Group);
        old_seqs.push(row.get::<_, i64>(3));
        flushed.advances.push(ReadAdvance {
            conversation,
            kind,
            reader,
            seq: row.get(4),
            read_at: row
                .get::<_, Option<OffsetDateTime>>(5)
                .unwrap_or_else(OffsetDateTime::now_utc),
            last_seq: row.get(7),
            partner: match kind {
                ConversationKind::Dm => row.get::<_, Option<uuid::Uuid>>(8).map(UserId),
                ConversationKind::Group => None,
            },
            counts: Vec::new(),
        });
    }
    let groups: Vec<usize> = (0..flushed.advances.len())
        .filter(|i| flushed.advances[*i].kind == ConversationKind::Group)
        .collect();
    if !groups.is_empty() {
        let ord: Vec<i32> = groups.iter().map(|i| *i as i32).collect();
        let convs: Vec<uuid::Uuid> = groups
            .iter()
            .map(|i| flushed.advances[*i].conversation.0)
            .collect();
        let readers: Vec<uuid::Uuid> = groups
            .iter()
            .map(|i| flushed.advances[*i].reader.0)
            .collect();
        let olds: Vec<i64> = groups.iter().map(|i| old_seqs[*i]).collect();
        let news: Vec<i64> = groups.iter().map(|i| flushed.advances[*i].seq).collect();
        let rows = tx
            .query(
                COUNTS,
                &[&ord, &convs, &readers, &olds, &news, &MAX_COUNTS_PER_MARK],
            )
            .await?;
        for row in rows {
            let at = usize::try_from(row.get::<_, i32>(0)).unwrap_or(usize::MAX);
            if let Some(advance) = flushed.advances.get_mut(at) {
                advance.counts.push(ReadCount {
                    message: MessageId(row.get(1)),
                    sender: UserId(row.get(2)),
                    read_count: row.get(3),
                });
            }
        }
    }
    tx.commit().await?;
    Ok(flushed)
}
