//! The caller's profile and blocks: `PATCH /api/users/me {displayName}` (the username stays), and
//! `GET/POST /api/users/me/blocks`, `DELETE /api/users/me/blocks/{userId}`. A block keeps the
//! blocked user from opening a DM with the caller, adding them to a group and sending in their DM
//! (each refused with `FORBIDDEN`, the same as any other refusal); the blocked user is not told.

use hyper::StatusCode;
use parley_persister::store::blocks::{self, BlockOutcome};
use parley_persister::store::users;
use parley_shared::UserId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::error::ApiError;
use super::request::Ctx;
use super::views::{self, MeView, PageMeta, Reply};
use parley_shared::time::serde_ts;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProfileRequest {
    display_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BlockRequest {
    user_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BlockView {
    user_id: UserId,
    username: String,
    display_name: String,
    #[serde(with = "serde_ts")]
    created_at: OffsetDateTime,
}

impl From<blocks::Block> for BlockView {
    fn from(b: blocks::Block) -> Self {
        Self {
            user_id: b.user,
            username: b.username,
            display_name: b.display_name,
            created_at: b.created_at,
        }
    }
}

/// `PATCH /api/users/me`.
pub(crate) async fn update_me(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let request: ProfileRequest = ctx.json()?;
    let name = parley_shared::text::name(&request.display_name, 64)
        .map_err(|error| ApiError::field("displayName", error.to_string()))?;
    let conn = ctx.conn().await?;
    let user = users::set_display_name(&conn, me, &name)
        .await?
        .ok_or_else(|| ApiError::unauthorized("Account no longer exists"))?;
    tracing::info!(user = %me, "display name changed");
    Ok(views::data(StatusCode::OK, &MeView::from(&user)))
}

/// `GET /api/users/me/blocks`.
pub(crate) async fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let conn = ctx.conn().await?;
    let found = blocks::list(&conn, me).await?;
    let items: Vec<BlockView> = found.into_iter().map(BlockView::from).collect();
    Ok(views::page(&items, PageMeta::new(None, false)))
}

/// `POST /api/users/me/blocks {userId}`: 201 blocked, 200 already.
pub(crate) async fn block(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let request: BlockRequest = ctx.json()?;
    let target: UserId = request
        .user_id
        .parse()
        .map_err(|e: parley_shared::IdError| ApiError::field("userId", e.to_string()))?;
    if target == me {
        return Err(ApiError::field("userId", "cannot block yourself"));
    }
    let mut conn = ctx.conn().await?;
    if users::existing(&conn, &[target]).await?.is_empty() {
        return Err(ApiError::not_found("User"));
    }
    let status = match blocks::block(&mut conn, me, target).await? {
        BlockOutcome::Blocked => StatusCode::CREATED,
        BlockOutcome::AlreadyBlocked => StatusCode::OK,
        BlockOutcome::Full => {
            return Err(ApiError::conflict(format!(
                "At most {} blocked users",
                blocks::MAX_BLOCKS
            )));
        }
    };
    tracing::info!(user = %me, "user blocked");
    let block = blocks::get(&conn, me, target)
        .await?
        .ok_or_else(|| ApiError::not_found("Block"))?;
    let view = BlockView::from(block);
    Ok(views::data(status, &view))
}

/// `DELETE /api/users/me/blocks/{userId}`.
pub(crate) async fn unblock(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let target: UserId = ctx.id_param("userId", "Block")?;
    let mut conn = ctx.conn().await?;
    if !blocks::unblock(&mut conn, me, target).await? {
        return Err(ApiError::not_found("Block"));
    }
    tracing::info!(user = %me, "user unblocked");
    Ok(Reply::no_content())
}

/// Refuses `me` adding or messaging any of `others` who blocked them (`FORBIDDEN`, naming no one).
pub(crate) async fn refuse_blocked(
    conn: &parley_persister::store::Conn,
    me: UserId,
    others: &[UserId],
    message: &str,
) -> Result<(), ApiError> {
    if blocks::blocking(conn, me, others).await?.is_empty() {
        Ok(())
    } else {
        Err(ApiError::forbidden(message))
    }
}
