//! The one authorisation check every entry point uses (REST now; WebSocket events and fan-out
//! with the messaging core): load the caller's membership of the conversation from the database,
//! then ask the pure policy. Not a member and no such conversation are the same answer.

use parley_persister::DbError;
use parley_persister::store::Conn;
use parley_persister::store::conversations::{self, Membership};
use parley_shared::policy::{self, Action, Denied};
use parley_shared::{ConversationId, UserId};

/// Why the caller may not act on a conversation.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthzError {
    /// No such conversation, or the caller is not in it: indistinguishable on purpose.
    #[error("conversation not found")]
    NotFound,
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// `user`'s membership of `conversation` if they may take `action`.
pub(crate) async fn authorize(
    conn: &Conn,
    user: UserId,
    conversation: ConversationId,
    action: Action,
) -> Result<Membership, AuthzError> {
    let membership = conversations::membership(conn, conversation, user)
        .await?
        .ok_or(AuthzError::NotFound)?;
    policy::allowed(membership.conversation.kind, membership.role, action)?;
    Ok(membership)
}

impl From<AuthzError> for crate::api::error::ApiError {
    fn from(error: AuthzError) -> Self {
        match error {
            AuthzError::NotFound => Self::not_found("Conversation"),
            AuthzError::Denied(denied) => Self::forbidden(denied.to_string()),
            AuthzError::Db(db) => db.into(),
        }
    }
}
