//! Reads and writes of the REST API: users, sessions, conversations and history pages. Every
//! statement is here, named by its function, and binds its parameters. Statements are prepared
//! once per connection (`prepare_cached`).

pub mod admin;
pub mod audit;
pub mod blocks;
pub mod conversations;
pub mod erase;
pub mod export;
pub mod messages;
pub mod mfa;
pub mod notifications;
pub mod push;
pub mod reactions;
pub mod receipts;
pub mod repair;
pub mod retention;
pub mod search;
pub mod sessions;
pub mod uploads;
pub mod users;

use parley_shared::policy::{ConversationKind, Role};

use crate::DbError;

/// A pooled connection.
pub type Conn = deadpool_postgres::Client;

/// Reads a stored role, treating an unknown one as a schema violation.
pub(crate) fn role(text: &str) -> Result<Role, DbError> {
    Role::parse(text).ok_or_else(|| DbError::Corrupt(format!("unknown role `{text}`")))
}

/// Reads a stored conversation kind.
pub(crate) fn kind(text: &str) -> Result<ConversationKind, DbError> {
    ConversationKind::parse(text).ok_or_else(|| DbError::Corrupt(format!("unknown kind `{text}`")))
}

/// `text` cut to at most `max_chars` characters (at a character boundary).
pub(crate) fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}
