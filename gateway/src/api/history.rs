//! `GET /api/conversations/{id}/messages`: history pages by `seq`. Newest first with `before`
//! (cursor = the oldest `seq` of the previous page), oldest first with `after` (gap-fill from
//! the last `seq` a client holds), or newest first `around` a `seq` (jump to a message: it and
//! up to half the limit of newer ones, the rest older; the page continues both ways). Each page
//! is one index scan per direction.

use parley_persister::store::messages;
use parley_shared::ConversationId;
use parley_shared::policy::Action;

use super::error::ApiError;
use super::request::Ctx;
use super::views::{self, MessageView, PageMeta, Reply};
use crate::authz::authorize;

/// Which page.
enum Direction {
    Before(Option<i64>),
    After(i64),
    Around(i64),
}

fn direction(ctx: &Ctx) -> Result<Direction, ApiError> {
    let seq_param = |name: &'static str| match ctx.query.get(name) {
        None => Ok(None),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|seq| *seq > 0)
            .map(Some)
            .ok_or_else(|| ApiError::field(name, "is not a cursor this server issued")),
    };
    let before = seq_param("before")?;
    let around = seq_param("around")?;
    let after = match ctx.query.get("after") {
        None => None,
        Some(_) => Some(ctx.int_query("after", 0, 0..=i64::MAX)?),
    };
    match (before, after, around) {
        (_, Some(_), Some(_)) | (Some(_), _, Some(_)) => Err(ApiError::field(
            "around",
            "cannot be combined with before or after",
        )),
        (Some(_), Some(_), None) => Err(ApiError::field("after", "cannot be combined with before")),
        (_, _, Some(seq)) => Ok(Direction::Around(seq)),
        (_, Some(seq), None) => Ok(Direction::After(seq)),
        (before, None, None) => Ok(Direction::Before(before)),
    }
}

/// The handler.
pub(crate) async fn page(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let id: ConversationId = ctx.id_param("conversationId", "Conversation")?;
    let limit = ctx.int_query("limit", 50, 1..=100)?;
    let direction = direction(ctx)?;
    let conn = ctx.conn().await?;
    authorize(&conn, me, id, Action::Read).await?;
    let (page, meta) = match direction {
        Direction::After(after) => {
            let mut page = messages::page_after(&conn, id, after, limit + 1).await?;
            let has_more = page.len() as i64 > limit;
            page.truncate(limit as usize);
            // Going forward, the cursor is the newest row returned, even at the end (a client
            // polls on from it).
            let cursor = page.last().map(|m| m.seq.to_string());
            (page, PageMeta::new(cursor, has_more))
        }
        Direction::Before(before) => {
            let mut page = messages::page_before(&conn, id, before, limit + 1).await?;
            let has_more = page.len() as i64 > limit;
            page.truncate(limit as usize);
            let cursor = page.last().filter(|_| has_more).map(|m| m.seq.to_string());
            (page, PageMeta::new(cursor, has_more))
        }
        Direction::Around(seq) => {
            // Up to half the page newer than `seq` (oldest first), the rest `seq` and older
            // (newest first; more of them near the end), each one row more than it keeps, to
            // know whether the page ends there.
            let newer_limit = limit / 2;
            let mut newer = messages::page_after(&conn, id, seq, newer_limit + 1).await?;
            let has_newer = newer.len() as i64 > newer_limit;
            newer.truncate(newer_limit as usize);
            let older_limit = limit - newer.len() as i64;
            let mut older =
                messages::page_before(&conn, id, Some(seq.saturating_add(1)), older_limit + 1)
                    .await?;
            let has_more = older.len() as i64 > older_limit;
            older.truncate(older_limit as usize);
            let cursor = older.last().filter(|_| has_more).map(|m| m.seq.to_string());
            let newer_cursor = newer.last().or(older.first()).map(|m| m.seq.to_string());
            newer.reverse();
            newer.extend(older);
            let meta = PageMeta {
                newer_cursor,
                has_newer: Some(has_newer),
                ..PageMeta::new(cursor, has_more)
            };
            (newer, meta)
        }
    };
    let expired = parley_persister::store::retention::expired_through(&conn, id).await?;
    let meta = PageMeta {
        expired_through_seq: Some(expired),
        ..meta
    };
    let items = MessageView::page(&conn, &page).await?;
    Ok(views::page(&items, meta))
}
