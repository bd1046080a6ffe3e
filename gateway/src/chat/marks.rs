//! Read marks and a user's own presence status: the use cases behind `receipt:read` and
//! `presence:set`. A read mark is queued for the coalesced write on the conversation's lane; its
//! effects (badges, receipts) follow the commit, and a non-member is refused by the persister on
//! the stored membership.

use parley_persister::writer::{FrameOrigin, ReadMark};
use parley_shared::{ConversationId, ErrorBody, ErrorCode, UserId};

use crate::app::App;
use crate::presence::Status;

/// Queues `user`'s read mark at `seq` in `conversation`; the answer (if any) goes to `origin`.
pub(crate) fn read(
    app: &App,
    user: UserId,
    conversation: ConversationId,
    seq: i64,
    origin: Option<FrameOrigin>,
) -> Result<(), ErrorBody> {
    let mark = ReadMark {
        conversation,
        user,
        seq,
        origin,
    };
    app.persister
        .submit_read(mark)
        .map_err(super::change::submit_error)
}

/// Sets `user`'s status (`away` or `dnd` until changed, `online` for automatic).
pub(crate) fn set_status(app: &App, user: UserId, raw: &str) -> Result<Status, ErrorBody> {
    let status = Status::settable(raw).ok_or_else(|| {
        ErrorBody::new(ErrorCode::ValidationError, "Invalid status")
            .with_detail("status", "must be \"online\", \"away\" or \"dnd\"")
    })?;
    app.presence.set(user, status, std::time::Instant::now());
    Ok(status)
}
