//! `/api/auth/password` and `/api/auth/sessions*`: change the password (every other session is
//! revoked), review the login sessions (device, created, last used), sign one out, or all ("log
//! out everywhere"), or set a new one with an operator's reset link. Every revocation goes through the bus: the session's access tokens are refused
//! at once on every shard and its sockets close.

use parley_persister::store::sessions;
use parley_persister::store::users;
use parley_shared::SessionId;
use serde::Deserialize;

use super::auth::{LoginGuard, check_new_password};
use super::error::{ApiError, Problems};
use super::request::Ctx;
use super::views::{self, PageMeta, Reply, SessionView};
use crate::auth::device;
use crate::auth::password::MAX_PASSWORD_BYTES;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChangePasswordRequest {
    current_password: String,
    new_password: String,
}

/// `POST /api/auth/password`: the current password, then the new one; 204, and every session but
/// the caller's is revoked. A wrong current password counts as a failed login for this client.
pub(crate) async fn change_password(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let request: ChangePasswordRequest = ctx.json()?;
    let mut problems = Problems::default();
    if let Err(problem) = check_new_password(&request.new_password) {
        problems.add("newPassword", problem);
    }
    if request.current_password.len() > MAX_PASSWORD_BYTES {
        problems.add("currentPassword", "is incorrect");
    }
    problems.into_result()?;
    let guard = LoginGuard::new(ctx, format!("{}", caller.user));
    guard.admit().await?;
    let conn = ctx.conn().await?;
    let stored = users::password_hash(&conn, caller.user).await?;
    drop(conn);
    let hasher = &ctx.state.app.hasher;
    if !hasher.verify(request.current_password, stored).await? {
        guard.failed().await;
        return Err(ApiError::field("currentPassword", "is incorrect"));
    }
    guard.succeeded().await;
    let hash = hasher.hash(request.new_password).await?;
    let conn = ctx.conn().await?;
    let revoked = users::change_password(&conn, caller.user, &hash, caller.session).await?;
    tracing::info!(user = %caller.user, revoked = revoked.len(), "password changed");
    revoke_all(ctx, caller.user, &revoked);
    Ok(Reply::no_content())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResetRequest {
    token: String,
    new_password: String,
}

/// `POST /api/auth/reset-password {token, newPassword}`: spends an operator's reset link; 204, and
/// every session of the account is revoked. A link works once, until it expires.
pub(crate) async fn reset_password(ctx: &Ctx) -> Result<Reply, ApiError> {
    let request: ResetRequest = ctx.json()?;
    let mut problems = Problems::default();
    if let Err(problem) = check_new_password(&request.new_password) {
        problems.add("newPassword", problem);
    }
    let presented = crate::auth::refresh::hash(&request.token);
    if presented.is_none() {
        problems.add("token", "is not a reset link's token");
    }
    problems.into_result()?;
    let Some(presented) = presented else {
        return Err(ApiError::field("token", "is not a reset link's token"));
    };
    let hash = ctx.state.app.hasher.hash(request.new_password).await?;
    let mut conn = ctx.conn().await?;
    let audit = ctx.audit("user.password_reset");
    match parley_persister::store::admin::use_reset(&mut conn, &presented, &hash, audit).await? {
        Some((user, revoked)) => {
            tracing::info!(%user, revoked = revoked.len(), "password reset with a link");
            revoke_all(ctx, user, &revoked);
            Ok(Reply::no_content())
        }
        None => Err(ApiError::field(
            "token",
            "is unknown, used or expired; ask the operator for a new link",
        )),
    }
}

/// `GET /api/auth/sessions`: the caller's live sessions, most recently used first.
pub(crate) async fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let conn = ctx.conn().await?;
    let found = sessions::list(&conn, caller.user).await?;
    let items: Vec<SessionView> = found
        .iter()
        .map(|s| SessionView {
            id: s.id,
            device: device::label(s.user_agent.as_deref()),
            user_agent: s.user_agent.clone(),
            ip_address: s.client_ip.map(|ip| ip.to_string()),
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            current: s.id == caller.session,
        })
        .collect();
    Ok(views::page(
        &items,
        PageMeta::new(None, found.len() as i64 >= sessions::MAX_LISTED),
    ))
}

/// `DELETE /api/auth/sessions/{sessionId}`: signs that session out (the caller's own current one
/// too); another user's session, or one already ended, is not found.
pub(crate) async fn revoke_one(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let session: SessionId = ctx.id_param("sessionId", "Session")?;
    let conn = ctx.conn().await?;
    if !sessions::revoke_own(&conn, caller.user, session).await? {
        return Err(ApiError::not_found("Session"));
    }
    tracing::info!(user = %caller.user, %session, "session signed out");
    ctx.state.app.bus.revoke(caller.user, session);
    Ok(Reply::no_content())
}

/// `DELETE /api/auth/sessions`: log out everywhere (`?keepCurrent=true`: everywhere else).
pub(crate) async fn revoke_everywhere(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let keep = match ctx.query.get("keepCurrent").map(String::as_str) {
        None | Some("false") => None,
        Some("true") => Some(caller.session),
        Some(_) => return Err(ApiError::field("keepCurrent", "must be true or false")),
    };
    let conn = ctx.conn().await?;
    let revoked = sessions::revoke_all(&conn, caller.user, keep).await?;
    tracing::info!(user = %caller.user, revoked = revoked.len(), "logged out everywhere");
    revoke_all(ctx, caller.user, &revoked);
    Ok(Reply::no_content())
}

pub(super) fn revoke_all(ctx: &Ctx, user: parley_shared::UserId, revoked: &[SessionId]) {
    for session in revoked {
        ctx.state.app.bus.revoke(user, *session);
    }
}
