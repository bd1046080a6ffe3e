//! `/api/users*`: the caller's account, public profiles and people search. Presence (status and
//! last seen) is shown only to people who share a conversation with the user, as
//! `presence:subscribe` does: a stranger sees a profile, not whether its owner is online.

use hyper::StatusCode;
use parley_persister::store::users;
use parley_shared::UserId;

use super::error::ApiError;
use super::request::Ctx;
use super::views::{self, MeView, PageMeta, Reply, UserView};

/// `GET /api/users/me`.
pub(crate) async fn me(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let conn = ctx.conn().await?;
    // A token can outlive its account only if the account was deleted.
    let user = users::get(&conn, caller.user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("Account no longer exists"))?;
    Ok(views::data(StatusCode::OK, &MeView::from(&user)))
}

/// `GET /api/users/{userId}`.
pub(crate) async fn get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let id: UserId = ctx.id_param("userId", "User")?;
    let conn = ctx.conn().await?;
    let user = users::get(&conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    let sees_presence = id == caller.user
        || !users::sharing_conversation(&conn, caller.user, &[id])
            .await?
            .is_empty();
    let view = if sees_presence {
        UserView {
            status: Some(ctx.state.app.presence.status(id).as_str()),
            ..UserView::from(&user)
        }
    } else {
        UserView {
            last_seen_at: None,
            ..UserView::from(&user)
        }
    };
    Ok(views::data(StatusCode::OK, &view))
}

/// `GET /api/users?query=al&limit=20`.
pub(crate) async fn search(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let query = ctx.query.get("query").map(|q| q.trim()).unwrap_or_default();
    if query.is_empty() || query.chars().count() > 64 {
        return Err(ApiError::field("query", "must be 1 to 64 characters"));
    }
    let limit = ctx.int_query("limit", 20, 1..=50)?;
    let conn = ctx.conn().await?;
    let mut found = users::search(&conn, query, limit + 1).await?;
    let has_more = found.len() as i64 > limit;
    found.truncate(limit as usize);
    let ids: Vec<UserId> = found.iter().map(|u| u.id).collect();
    let known = users::sharing_conversation(&conn, caller.user, &ids).await?;
    let items: Vec<UserView> = found
        .iter()
        .map(|user| {
            let view = UserView::from(user);
            if user.id == caller.user || known.contains(&user.id) {
                view
            } else {
                UserView {
                    last_seen_at: None,
                    ..view
                }
            }
        })
        .collect();
    // A search narrows by typing more, not by paging: `hasMore` says the list was cut.
    Ok(views::page(&items, PageMeta::new(None, has_more)))
}
