//! One batch of sends as one transaction: lock the batch's conversations (in id order), then a
//! single statement that checks membership and reply targets on the stored data, finds earlier
//! copies of each `(conversation, sender, client_message_id)`, allocates gap-free `seq`s per
//! conversation, resolves mentions to members, inserts, bumps `last_seq`, and marks each sender's
//! own messages read; the mention rows (only when the batch mentions anyone); the attachment
//! links (only when it holds uploads); then the members of conversations whose membership changed
//! since the lane last read them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use parley_shared::{ConversationId, MessageId, UserId};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use parley_shared::mentions::Mentioned;

use super::members::{MemberCache, Members, UNKNOWN};
use crate::store::messages::{self, Message};

/// A message to store, as validated by the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub sender_id: UserId,
    pub client_message_id: String,
    pub content: String,
    pub content_type: String,
    pub reply_to: Option<MessageId>,
    /// The names the text mentions, resolved to members when it commits.
    pub mentions: Mentioned,
    /// `priority: "urgent"`.
    pub urgent: bool,
    /// Its uploads, as checked by the gateway (none for almost every message).
    pub attachments: Option<NewAttachments>,
}

/// The uploads a message holds: linked in the batch's transaction, and shown from `json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachments {
    /// The upload ids, in the order the sender gave them (at most 10).
    pub uploads: Vec<uuid::Uuid>,
    /// The JSON array every reader of the message sees (`messages.attachments`).
    pub json: String,
}

/// What became of one send.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Committed now.
    Inserted(Message),
    /// Committed earlier (a retry of the same `clientMessageId`): the original message.
    Duplicate(Message),
    /// The conversation does not exist or the sender is not (any longer) a member.
    NotMember,
    /// `reply_to` is not a message of the same conversation.
    BadReply,
    /// The sender may not send there (the other member of the DM blocked them).
    Blocked,
}

/// `NO KEY UPDATE`: the batch changes no key, so a foreign key's `KEY SHARE` lock on the
/// conversation never waits for a batch, nor a batch for it. Membership changes bump
/// `members_version` with an UPDATE of the row, so they wait for the batch (and it for them):
/// the version read here holds until COMMIT.
const LOCK: &str = "SELECT id, members_version FROM conversations WHERE id = ANY($1)
     ORDER BY id FOR NO KEY UPDATE";

/// `IS NOT DISTINCT FROM` (equality for these non-null ids) is a comparison no index serves: the
/// look-ups of earlier copies and of reply targets can then only use the key's own index
/// (`messages_client_id_key`, sender first) and the primary key, never a scan of the
/// conversation's messages through `messages_seq_key`, whatever statistics the generic plan was
/// made with (migration 0005).
pub(crate) fn write_statement() -> String {
    let returned = messages::COLUMNS;
    format!(
        "WITH input AS (
             SELECT * FROM unnest($1::int4[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[],
                                  $6::text[], $7::text[], $8::uuid[], $9::text[], $10::bool[],
                                  $11::bool[], $12::text[])
                 AS t(ord, id, conversation_id, sender_id, client_message_id, content, content_type,
                      reply_to, mention_names, everyone, urgent, attachments)
         ), checked AS (
             SELECT i.*, e.id AS existing_id, m.role AS sender_role,
                    CASE WHEN e.id IS NOT NULL THEN 'duplicate'
                         WHEN m.user_id IS NULL THEN 'not_member'
                         WHEN NOT m.can_send THEN 'blocked'
                         WHEN i.reply_to IS NOT NULL AND r.id IS NULL THEN 'bad_reply'
                         ELSE 'ok' END AS verdict
             FROM input i
             LEFT JOIN messages e ON e.sender_id = i.sender_id
                  AND e.client_message_id = i.client_message_id
                  AND e.conversation_id IS NOT DISTINCT FROM i.conversation_id
             LEFT JOIN conversation_members m ON m.conversation_id = i.conversation_id
                  AND m.user_id = i.sender_id
             LEFT JOIN messages r ON r.id = i.reply_to
                  AND r.conversation_id IS NOT DISTINCT FROM i.conversation_id
         ), firsts AS (
             SELECT DISTINCT ON (conversation_id, sender_id, client_message_id) *
             FROM checked WHERE verdict = 'ok'
             ORDER BY conversation_id, sender_id, client_message_id, ord
         ), numbered AS (
             SELECT f.*, c.last_seq + row_number() OVER (PARTITION BY f.conversation_id ORDER BY f.ord) AS seq,
                    c.kind
             FROM firsts f JOIN conversations c ON c.id = f.conversation_id
         ), inserted AS (
             INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id, content,
                                   content_type, reply_to, mentions, mention_everyone, urgent,
                                   attachments)
             SELECT id, conversation_id, seq, sender_id, client_message_id, content, content_type, reply_to,
                    CASE WHEN mention_names IS NOT NULL THEN
                        (SELECT array_agg(found.id ORDER BY found.id)
                         FROM unnest(string_to_array(mention_names, ' ')) AS named(name)
                         CROSS JOIN LATERAL (SELECT u.id FROM users u WHERE u.username = named.name
                                             OFFSET 0) found
                         WHERE found.id <> numbered.sender_id
                           AND (SELECT true FROM conversation_members x
                                WHERE x.conversation_id = numbered.conversation_id
                                  AND x.user_id = found.id))
                    END,
                    everyone AND kind = 'group' AND sender_role IN ('owner', 'admin'),
                    urgent, attachments::jsonb
             FROM numbered
             RETURNING {returned}
         ), bumped AS (
             UPDATE conversations c SET last_seq = n.top, last_activity_at = now(), updated_at = now()
             FROM (SELECT conversation_id, max(seq) AS top FROM numbered GROUP BY conversation_id) n
             WHERE c.id = n.conversation_id
             RETURNING c.id
         ), read_own AS (
             UPDATE conversation_members m SET last_read_seq = greatest(m.last_read_seq, n.top)
             FROM (SELECT conversation_id, sender_id, max(seq) AS top FROM numbered
                   GROUP BY conversation_id, sender_id) n
             WHERE m.conversation_id = n.conversation_id AND m.user_id = n.sender_id
             RETURNING m.user_id
         )
         SELECT n.ord, 'inserted', {ins}
         FROM numbered n JOIN inserted i ON i.id = n.id
         UNION ALL
         SELECT c.ord, c.verdict, {dup}
         FROM checked c LEFT JOIN messages e ON e.id = c.existing_id
         WHERE c.verdict <> 'ok'",
        ins = prefixed("i"),
        dup = prefixed("e"),
    )
}

fn prefixed(alias: &str) -> String {
    messages::COLUMNS
        .split(", ")
        .map(|column| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The members of each conversation whose `members_version` is not the one the lane holds (a row
/// with a NULL user for a conversation without members), under the batch's locks.
const MEMBERS: &str = "SELECT c.id, c.members_version, m.user_id
     FROM unnest($1::uuid[], $2::int8[]) AS k(id, known)
     JOIN conversations c ON c.id = k.id AND c.members_version <> k.known
     LEFT JOIN conversation_members m ON m.conversation_id = c.id";

/// One row per member each new message mentions (by name, or every member but the sender for
/// `@everyone`): what unread mention counts are computed from. Sent only for a batch with
/// mentions, after the write, so it reads what the write resolved.
const MENTIONED: &str = "INSERT INTO message_mentions (conversation_id, user_id, seq)
     SELECT m.conversation_id, t.user_id, m.seq
     FROM messages m
     CROSS JOIN LATERAL (
         SELECT unnest(m.mentions) AS user_id
         UNION
         SELECT x.user_id FROM conversation_members x
         WHERE m.mention_everyone AND x.conversation_id = m.conversation_id AND x.user_id <> m.sender_id
     ) t
     WHERE m.id = ANY($1)
     ON CONFLICT DO NOTHING";

/// The uploads of the batch's new messages, linked to them (a copy inserted earlier is no row of
/// `messages` under this id, so a retry links nothing twice) and marked attached. Sent only for a
/// batch with attachments, after the write.
const LINKED: &str = "WITH linked AS (
         INSERT INTO message_attachments (message_id, upload_id, conversation_id, position)
         SELECT m.id, x.upload_id, m.conversation_id, x.position
         FROM unnest($1::uuid[], $2::uuid[], $3::int2[]) AS x(message_id, upload_id, position)
         JOIN messages m ON m.id = x.message_id
         JOIN uploads u ON u.id = x.upload_id
         RETURNING upload_id
     )
     UPDATE uploads SET attached_at = now()
     WHERE id IN (SELECT upload_id FROM linked) AND attached_at IS NULL";

/// The batch statements, prepared once per connection.
pub(crate) struct Prepared {
    begin: Statement,
    lock: Statement,
    write: Statement,
    mentioned: Statement,
    linked: Statement,
    members: Statement,
    commit: Statement,
}

/// Verdicts, in input order, and the members (at commit) of each conversation that got a new
/// message: exactly who the new messages go to.
pub(crate) type Committed = (Vec<Verdict>, HashMap<ConversationId, Arc<[UserId]>>);

/// Prepares the statements on a new connection.
pub(crate) async fn prepare(client: &Client) -> Result<Prepared, tokio_postgres::Error> {
    Ok(Prepared {
        begin: client.prepare("BEGIN").await?,
        lock: client.prepare(LOCK).await?,
        write: client.prepare(&write_statement()).await?,
        mentioned: client.prepare(MENTIONED).await?,
        linked: client.prepare(LINKED).await?,
        members: client.prepare(MEMBERS).await?,
        commit: client.prepare("COMMIT").await?,
    })
}

/// A batch as the statement's parameter arrays (one per column), plus its distinct
/// conversations in lock order.
pub(crate) struct Columns<'a> {
    pub(crate) conversations: Vec<uuid::Uuid>,
    ord: Vec<i32>,
    ids: Vec<uuid::Uuid>,
    convs: Vec<uuid::Uuid>,
    senders: Vec<uuid::Uuid>,
    client_ids: Vec<&'a str>,
    contents: Vec<&'a str>,
    types: Vec<&'a str>,
    replies: Vec<Option<uuid::Uuid>>,
    /// Space-separated names, or none.
    mention_names: Vec<Option<String>>,
    everyone: Vec<bool>,
    urgent: Vec<bool>,
    /// The messages that mention anyone.
    mentioning: Vec<uuid::Uuid>,
    attachments: Vec<Option<&'a str>>,
    /// One entry per upload of the batch: its message, itself, its position.
    link_messages: Vec<uuid::Uuid>,
    link_uploads: Vec<uuid::Uuid>,
    link_positions: Vec<i16>,
}

impl<'a> Columns<'a> {
    pub(crate) fn new(batch: &[&'a NewMessage]) -> Self {
        let mut conversations: Vec<uuid::Uuid> =
            batch.iter().map(|m| m.conversation_id.0).collect();
        conversations.sort_unstable();
        conversations.dedup();
        Self {
            conversations,
            ord: (0..batch.len())
                .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
                .collect(),
            ids: batch.iter().map(|m| m.id.0).collect(),
            convs: batch.iter().map(|m| m.conversation_id.0).collect(),
            senders: batch.iter().map(|m| m.sender_id.0).collect(),
            client_ids: batch.iter().map(|m| m.client_message_id.as_str()).collect(),
            contents: batch.iter().map(|m| m.content.as_str()).collect(),
            types: batch.iter().map(|m| m.content_type.as_str()).collect(),
            replies: batch.iter().map(|m| m.reply_to.map(|r| r.0)).collect(),
            mention_names: batch
                .iter()
                .map(|m| (!m.mentions.names.is_empty()).then(|| m.mentions.names.join(" ")))
                .collect(),
            everyone: batch.iter().map(|m| m.mentions.everyone).collect(),
            urgent: batch.iter().map(|m| m.urgent).collect(),
            mentioning: batch
                .iter()
                .filter(|m| !m.mentions.is_empty())
                .map(|m| m.id.0)
                .collect(),
            attachments: batch
                .iter()
                .map(|m| m.attachments.as_ref().map(|a| a.json.as_str()))
                .collect(),
            link_messages: links(batch).map(|(message, _, _)| message).collect(),
            link_uploads: links(batch).map(|(_, upload, _)| upload).collect(),
            link_positions: links(batch).map(|(_, _, position)| position).collect(),
        }
    }
}

/// (message, upload, position) for every upload the batch's messages hold.
fn links<'b>(batch: &'b [&NewMessage]) -> impl Iterator<Item = (uuid::Uuid, uuid::Uuid, i16)> + 'b {
    batch.iter().flat_map(|m| {
        m.attachments.iter().flat_map(move |a| {
            a.uploads.iter().enumerate().map(move |(position, upload)| {
                (m.id.0, *upload, i16::try_from(position).unwrap_or(i16::MAX))
            })
        })
    })
}

/// Commits `batch` in one transaction and returns one verdict per input, in input order.
///
/// The five statements (one more each when the batch mentions anyone or holds attachments) go out pipelined, in one write, and
/// PostgreSQL runs them in order: one round trip per batch instead of five. Each still takes its
/// own snapshot, so the write sees `last_seq` as it is once the lock is held, and the mention rows
/// see the messages the write inserted. If one fails, the transaction is aborted, the
/// statements after it fail (and COMMIT ends it as a rollback); the first error is returned.
/// `cache` holds the members the lane has read, by version; it gets whatever this batch read.
pub(crate) async fn commit(
    client: &Client,
    prepared: &Prepared,
    cache: &RefCell<MemberCache>,
    batch: &[&NewMessage],
) -> Result<Committed, tokio_postgres::Error> {
    let c = Columns::new(batch);
    // The cached members this batch relies on, held by the batch itself: the cache is shared by
    // the lanes, and another lane may clear it (a reconnect, the cache filling up) while this
    // batch is in flight; the batch then still has every list its statement did not fetch.
    // (Found by gateway/tests/chaos_nemesis.rs: after a lane reconnected, another lane's batch
    // found no members for its conversations and its messages reached nobody but their senders.)
    let held: HashMap<uuid::Uuid, Members> = {
        let cache = cache.borrow();
        c.conversations
            .iter()
            .filter_map(|id| cache.get(*id).map(|m| (*id, m.clone())))
            .collect()
    };
    let known: Vec<i64> = c
        .conversations
        .iter()
        .map(|id| held.get(id).map_or(UNKNOWN, |m| m.version))
        .collect();
    let lock_params: [&(dyn ToSql + Sync); 1] = [&c.conversations];
    let member_params: [&(dyn ToSql + Sync); 2] = [&c.conversations, &known];
    let mentioned_params: [&(dyn ToSql + Sync); 1] = [&c.mentioning];
    let linked_params: [&(dyn ToSql + Sync); 3] =
        [&c.link_messages, &c.link_uploads, &c.link_positions];
    let write_params: [&(dyn ToSql + Sync); 12] = [
        &c.ord,
        &c.ids,
        &c.convs,
        &c.senders,
        &c.client_ids,
        &c.contents,
        &c.types,
        &c.replies,
        &c.mention_names,
        &c.everyone,
        &c.urgent,
        &c.attachments,
    ];
    // Polled in order, each sends its statement at its first poll: still one write.
    let mentioned = async {
        if c.mentioning.is_empty() {
            Ok(0)
        } else {
            client.execute(&prepared.mentioned, &mentioned_params).await
        }
    };
    let linked = async {
        if c.link_uploads.is_empty() {
            Ok(0)
        } else {
            client.execute(&prepared.linked, &linked_params).await
        }
    };
    let (begun, locked, written, mentioned, linked, member_rows, committed) = tokio::join!(
        client.execute(&prepared.begin, &[]),
        client.query(&prepared.lock, &lock_params),
        client.query(&prepared.write, &write_params),
        mentioned,
        linked,
        client.query(&prepared.members, &member_params),
        client.execute(&prepared.commit, &[]),
    );
    begun?;
    let locked = locked?;
    let rows = written?;
    mentioned?;
    linked?;
    let member_rows = member_rows?;
    committed?;

    let mut fetched: HashMap<uuid::Uuid, (i64, Vec<UserId>)> = HashMap::new();
    for row in &member_rows {
        let entry = fetched
            .entry(row.get(0))
            .or_insert_with(|| (row.get(1), Vec::new()));
        if let Some(user) = row.get::<_, Option<uuid::Uuid>>(2) {
            entry.1.push(UserId(user));
        }
    }
    let fresh: HashMap<uuid::Uuid, Members> = fetched
        .into_iter()
        .map(|(conversation, (version, users))| (conversation, Members::new(version, users)))
        .collect();
    // Who each conversation's new messages go to: its members at the version locked above, read
    // now or held from the cache before the statement.
    let mut cache = cache.borrow_mut();
    let mut members: HashMap<ConversationId, Arc<[UserId]>> = HashMap::new();
    for row in &locked {
        let (conversation, version): (uuid::Uuid, i64) = (row.get(0), row.get(1));
        let current = fresh
            .get(&conversation)
            .or_else(|| held.get(&conversation).filter(|m| m.version == version));
        if let Some(current) = current {
            members.insert(ConversationId(conversation), current.users.clone());
        }
    }
    for (conversation, current) in fresh {
        cache.put(conversation, current);
    }

    let mut verdicts: Vec<Option<Verdict>> = vec![None; batch.len()];
    for row in &rows {
        let index = usize::try_from(row.get::<_, i32>(0)).unwrap_or(usize::MAX);
        let verdict = match row.get::<_, &str>(1) {
            "inserted" => Verdict::Inserted(messages::from_row(row, 2)),
            "duplicate" => Verdict::Duplicate(messages::from_row(row, 2)),
            "bad_reply" => Verdict::BadReply,
            "blocked" => Verdict::Blocked,
            _ => Verdict::NotMember,
        };
        if let Some(slot) = verdicts.get_mut(index) {
            *slot = Some(verdict);
        }
    }
    // A key sent twice within one batch was inserted once; the later copies get that message.
    let mut first: HashMap<(ConversationId, UserId, &str), Message> = HashMap::new();
    for (message, verdict) in batch.iter().zip(&verdicts) {
        if let Some(Verdict::Inserted(stored)) = verdict {
            first.insert(
                (
                    message.conversation_id,
                    message.sender_id,
                    &message.client_message_id,
                ),
                stored.clone(),
            );
        }
    }
    let verdicts = batch
        .iter()
        .zip(verdicts)
        .map(|(message, verdict)| {
            verdict.unwrap_or_else(|| {
                first
                    .get(&(
                        message.conversation_id,
                        message.sender_id,
                        message.client_message_id.as_str(),
                    ))
                    .map_or(Verdict::NotMember, |stored| {
                        Verdict::Duplicate(stored.clone())
                    })
            })
        })
        .collect();
    Ok((verdicts, members))
}
