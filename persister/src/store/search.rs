//! Full-text message search over `message_search` (filled behind the writer), limited to the
//! conversations the caller is a member of, ranked, with highlighted snippets and a keyset cursor
//! on `(rank, message id)`.

use parley_shared::{ConversationId, MessageId, UserId};
use time::OffsetDateTime;

use super::Conn;
use super::messages::{self, Message};
use crate::DbError;

/// Marks around a matched word in a snippet, turned into ranges before the snippet leaves the
/// server. Content may contain these characters (they are ordinary, if odd, text): they are
/// stripped from the content before the headline is made, so a message cannot forge highlights.
pub const HIT_START: char = '\u{2}';
pub const HIT_END: char = '\u{3}';
// The statement strips them as `chr(2)` and `chr(3)`.
const _: () = assert!(HIT_START as u32 == 2 && HIT_END as u32 == 3);

/// What to look for.
#[derive(Debug, Clone)]
pub struct SearchQuery<'a> {
    pub caller: UserId,
    /// Words, `"phrases"`, `-excluded` and `or` (PostgreSQL's web search syntax).
    pub text: &'a str,
    /// Only messages of this conversation (still only if the caller is a member).
    pub conversation: Option<ConversationId>,
    /// Only messages from this username.
    pub from: Option<&'a str>,
    pub before: Option<OffsetDateTime>,
    pub after: Option<OffsetDateTime>,
    /// Only messages holding an image (`has:image`) or another file (`has:file`).
    pub has: Option<Has>,
    /// Continue after this `(rank, id)`.
    pub cursor: Option<(f32, MessageId)>,
    pub limit: i64,
}

/// What a message must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Has {
    Image,
    File,
}

impl Has {
    fn kind(self) -> &'static str {
        match self {
            Has::Image => "image",
            Has::File => "file",
        }
    }
}

/// What the search index holds of a message (`m`): its content and its attachments' names, each
/// also with `.`, `_` and `-` as spaces (so `report` finds `Q3-report.pdf`). A message without
/// attachments (almost every one) costs the indexer no subquery.
pub(crate) const INDEXED_TEXT: &str = "CASE WHEN m.attachments IS NULL THEN m.content
         ELSE m.content || coalesce((
             SELECT string_agg(' ' || (a->>'name') || ' ' || translate(a->>'name', '._-', '   '), '')
             FROM jsonb_array_elements(m.attachments) a), '') END";

/// Messages holding `q.has` (which must be set), newest first, with no words to match: every
/// rank is 0 and the snippet is the content's start. Served by the partial index of messages
/// with attachments (migration 0018), so it never reads the conversations' other messages.
pub async fn holding(conn: &Conn, q: &SearchQuery<'_>) -> Result<Vec<Hit>, DbError> {
    let columns = message_columns();
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {columns}, 0::real, left(m.content, 200)
             FROM conversation_members cm
             JOIN messages m ON m.conversation_id = cm.conversation_id
             WHERE cm.user_id = $1
               AND m.attachments IS NOT NULL
               AND m.attachments @> jsonb_build_array(jsonb_build_object('kind', $2::text))
               AND m.deleted_at IS NULL
               AND ($3::uuid IS NULL OR m.conversation_id = $3)
               AND ($4::text IS NULL OR m.sender_id = (SELECT id FROM users WHERE username = $4))
               AND ($5::timestamptz IS NULL OR m.created_at < $5)
               AND ($6::timestamptz IS NULL OR m.created_at >= $6)
               AND ($7::uuid IS NULL OR m.id < $7)
             ORDER BY m.id DESC
             LIMIT $8"
        ))
        .await?;
    let kind = q.has.map_or("file", Has::kind);
    let rows = conn
        .query(
            &statement,
            &[
                &q.caller.0,
                &kind,
                &q.conversation.map(|c| c.0),
                &q.from,
                &q.before,
                &q.after,
                &q.cursor.map(|(_, id)| id.0),
                &q.limit,
            ],
        )
        .await?;
    Ok(hits(&rows))
}

/// The message's columns as `m.<column>`, the row's start in both searches.
fn message_columns() -> String {
    messages::COLUMNS
        .split(", ")
        .map(|column| format!("m.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows of `message_columns()`, rank, snippet.
fn hits(rows: &[tokio_postgres::Row]) -> Vec<Hit> {
    rows.iter()
        .map(|row| Hit {
            message: messages::from_row(row, 0),
            rank: row.get(messages::COLUMN_COUNT),
            snippet: row.get(messages::COLUMN_COUNT + 1),
        })
        .collect()
}

/// One result.
#[derive(Debug, Clone)]
pub struct Hit {
    pub message: Message,
    pub rank: f32,
    /// The best fragment(s) of the content, matched words between [`HIT_START`] and [`HIT_END`].
    pub snippet: String,
}

/// Up to `limit` hits, best first.
pub async fn messages(conn: &Conn, q: &SearchQuery<'_>) -> Result<Vec<Hit>, DbError> {
    let columns = message_columns();
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {columns}, ts_rank(s.search, q) AS rank,
                    ts_headline('simple', translate(m.content, chr(2) || chr(3), ''), q,
                                'StartSel=\"{HIT_START}\", StopSel=\"{HIT_END}\", MaxWords=35, MinWords=15, ShortWord=0')
             FROM websearch_to_tsquery('simple', $2) AS q,
                  message_search s
                  JOIN conversation_members cm
                       ON cm.conversation_id = s.conversation_id AND cm.user_id = $1
                  JOIN messages m ON m.id = s.message_id
             WHERE s.search @@ q
               AND m.deleted_at IS NULL
               AND ($10::text IS NULL OR m.attachments @> jsonb_build_array(jsonb_build_object('kind', $10::text)))
               AND ($3::uuid IS NULL OR s.conversation_id = $3)
               AND ($4::text IS NULL OR m.sender_id = (SELECT id FROM users WHERE username = $4))
               AND ($5::timestamptz IS NULL OR m.created_at < $5)
               AND ($6::timestamptz IS NULL OR m.created_at >= $6)
               AND ($7::real IS NULL OR (ts_rank(s.search, q), m.id) < ($7, $8::uuid))
             ORDER BY rank DESC, m.id DESC
             LIMIT $9"
        ))
        .await?;
    let (cursor_rank, cursor_id) = match q.cursor {
        Some((rank, id)) => (Some(rank), Some(id.0)),
        None => (None, None),
    };
    let rows = conn
        .query(
            &statement,
            &[
                &q.caller.0,
                &q.text,
                &q.conversation.map(|c| c.0),
                &q.from,
                &q.before,
                &q.after,
                &cursor_rank,
                &cursor_id,
                &q.limit,
                &q.has.map(Has::kind),
            ],
        )
        .await?;
    Ok(hits(&rows))
}
