//! The audit log: one row per admin action, membership or role change, deactivation, MFA change,
//! export and deletion, written by the statement's own transaction (an action that rolls back
//! leaves no trail, and no committed action lacks one). Never message content.

use std::net::IpAddr;

use parley_shared::{ConversationId, MessageId, UserId};
use time::OffsetDateTime;

use super::Conn;
use crate::DbError;

/// What is recorded: who (`None`: the operator's command line), what, on whom, from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub actor: Option<UserId>,
    /// `area.verb`, e.g. `user.deactivated` (lower case, dots and underscores).
    pub action: &'static str,
    pub target_user: Option<UserId>,
    pub target_conversation: Option<ConversationId>,
    pub target_message: Option<MessageId>,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// A JSON object with what else the action needs to be understood (never message content).
    pub details: Option<String>,
}

impl Entry {
    /// An entry for `action` by `actor`, from nowhere in particular yet.
    pub fn new(actor: Option<UserId>, action: &'static str) -> Self {
        Self {
            actor,
            action,
            ..Self::default()
        }
    }

    /// Names the user acted on.
    pub fn user(mut self, user: UserId) -> Self {
        self.target_user = Some(user);
        self
    }

    /// Names the conversation acted on.
    pub fn conversation(mut self, conversation: ConversationId) -> Self {
        self.target_conversation = Some(conversation);
        self
    }

    /// Names the message acted on.
    pub fn message(mut self, message: MessageId) -> Self {
        self.target_message = Some(message);
        self
    }

    /// Adds details (a JSON object).
    pub fn details(mut self, json: String) -> Self {
        self.details = Some(json);
        self
    }
}

/// Longest user agent kept (longer ones are cut at a character boundary).
const MAX_USER_AGENT: usize = 512;

/// Writes `entry` with `client` (a transaction, to record what that transaction does).
pub async fn record<C: tokio_postgres::GenericClient + Sync>(
    client: &C,
    entry: &Entry,
) -> Result<(), tokio_postgres::Error> {
    let statement = "INSERT INTO audit_log (actor, action, target_user, target_conversation,
             target_message, client_ip, user_agent, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb)";
    let agent = entry
        .user_agent
        .as_deref()
        .map(|a| super::truncate(a, MAX_USER_AGENT));
    client
        .execute(
            statement,
            &[
                &entry.actor.map(|u| u.0),
                &entry.action,
                &entry.target_user.map(|u| u.0),
                &entry.target_conversation.map(|c| c.0),
                &entry.target_message.map(|m| m.0),
                &entry.client_ip,
                &agent,
                &entry.details,
            ],
        )
        .await?;
    Ok(())
}

/// One recorded action.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor: Option<UserId>,
    pub action: String,
    pub target_user: Option<UserId>,
    pub target_conversation: Option<ConversationId>,
    pub target_message: Option<MessageId>,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub details: Option<String>,
}

/// Which records a page holds: newest first, below `before` (an id), at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<UserId>,
    pub target: Option<UserId>,
    pub action: Option<String>,
    pub before: Option<i64>,
    pub limit: i64,
}

/// A page of the log, newest first.
pub async fn list(conn: &Conn, filter: &Filter) -> Result<Vec<Record>, DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT id, at, actor, action, target_user, target_conversation, target_message,
                    client_ip, user_agent, details::text
             FROM audit_log
             WHERE ($1::uuid IS NULL OR actor = $1) AND ($2::uuid IS NULL OR target_user = $2)
               AND ($3::text IS NULL OR action = $3) AND ($4::int8 IS NULL OR id < $4)
             ORDER BY id DESC LIMIT $5",
        )
        .await?;
    let rows = conn
        .query(
            &statement,
            &[
                &filter.actor.map(|u| u.0),
                &filter.target.map(|u| u.0),
                &filter.action,
                &filter.before,
                &filter.limit,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Record {
            id: r.get(0),
            at: r.get(1),
            actor: r.get::<_, Option<uuid::Uuid>>(2).map(UserId),
            action: r.get(3),
            target_user: r.get::<_, Option<uuid::Uuid>>(4).map(UserId),
            target_conversation: r.get::<_, Option<uuid::Uuid>>(5).map(ConversationId),
            target_message: r.get::<_, Option<uuid::Uuid>>(6).map(MessageId),
            client_ip: r.get(7),
            user_agent: r.get(8),
            details: r.get(9),
        })
        .collect())
}
