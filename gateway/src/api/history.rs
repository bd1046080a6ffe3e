//! `GET /api/conversations/{id}/messages`: history pages by `seq`. Newest first with `before`
//! (cursor = the oldest `seq` of the previous page), or oldest first with `after` (gap-fill from
//! the last `seq` a client holds). Each page is one index scan.

use parley_persister::store::messages;
use parley_shared::ConversationId;
use parley_shared::policy::Action;

use super::error::ApiError;
use super::request::Ctx;
use super::views::{self, MessageView, PageMeta, Reply};
use crate::authz::authorize;

/// The handler.
pub(crate) async fn page(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let id: ConversationId = ctx.id_param("conversationId", "Conversation")?;
    let limit = ctx.int_query("limit", 50, 1..=100)?;
    let before = match ctx.query.get("before") {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|seq| *seq > 0)
                .ok_or_else(|| ApiError::field("before", "is not a cursor this server issued"))?,
        ),
    };
    let after = match ctx.query.get("after") {
        None => None,
        Some(_) => Some(ctx.int_query("after", 0, 0..=i64::MAX)?),
    };
    if before.is_some() && after.is_some() {
        return Err(ApiError::field("after", "cannot be combined with before"));
    }
    let conn = ctx.conn().await?;
    authorize(&conn, me, id, Action::Read).await?;
    let (mut page, forward) = match after {
        Some(after) => (
            messages::page_after(&conn, id, after, limit + 1).await?,
            true,
        ),
        None => (
            messages::page_before(&conn, id, before, limit + 1).await?,
            false,
        ),
    };
    let has_more = page.len() as i64 > limit;
    page.truncate(limit as usize);
    // Both directions continue from the last row returned: the oldest going back, the newest
    // going forward.
    let cursor = page
        .last()
        .filter(|_| has_more || forward)
        .map(|m| m.seq.to_string());
    let items = MessageView::page(&conn, &page).await?;
    Ok(views::page(&items, PageMeta { cursor, has_more }))
}
