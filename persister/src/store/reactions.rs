//! Reactions as clients see them: per message, each emoji with who reacted, oldest first. Read in
//! one statement for a page of messages (history, sync) or one message (after a change).

use std::collections::HashMap;

use parley_shared::{MessageId, UserId};
use tokio_postgres::{Client, GenericClient};

use crate::DbError;

/// One emoji on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    /// Who reacted with it, earliest first.
    pub user_ids: Vec<UserId>,
}

/// Reactions by message, for the messages of `ids` that have any.
pub async fn for_messages(
    client: &Client,
    ids: &[MessageId],
) -> Result<HashMap<MessageId, Vec<Reaction>>, DbError> {
    Ok(load(client, ids).await?)
}

/// [`for_messages`] on any client or transaction.
pub(crate) async fn load<C: GenericClient>(
    client: &C,
    ids: &[MessageId],
) -> Result<HashMap<MessageId, Vec<Reaction>>, tokio_postgres::Error> {
    let mut out: HashMap<MessageId, Vec<Reaction>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let raw: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
    let rows = client
        .query(
            "SELECT message_id, emoji, array_agg(user_id ORDER BY created_at, user_id)
             FROM message_reactions WHERE message_id = ANY($1)
             GROUP BY message_id, emoji ORDER BY message_id, min(created_at), emoji",
            &[&raw],
        )
        .await?;
    for row in rows {
        let users: Vec<uuid::Uuid> = row.get(2);
        out.entry(MessageId(row.get(0)))
            .or_default()
            .push(Reaction {
                emoji: row.get(1),
                count: users.len() as i64,
                user_ids: users.into_iter().map(UserId).collect(),
            });
    }
    Ok(out)
}
