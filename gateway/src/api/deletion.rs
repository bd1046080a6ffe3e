//! `DELETE /api/users/me`: a user deletes their account, with their password (and a current
//! two-factor code when that is on). The deletion itself is `privacy::erase`: signed out
//! everywhere at once, out of every group, their direct messages closed, their messages' content
//! removed, every other row of theirs deleted; answered once it is done.

use parley_persister::store::mfa;
use serde::Deserialize;

use super::error::ApiError;
use super::request::Ctx;
use super::views::Reply;
use crate::privacy::erase::Eraser;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeleteRequest {
    password: String,
    code: Option<String>,
}

/// `DELETE /api/users/me {password, code?}`: `204` once the account is gone.
pub(crate) async fn delete_me(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let request: DeleteRequest = ctx.json()?;
    super::mfa::check_password(ctx, me, request.password).await?;
    {
        let conn = ctx.conn().await?;
        if let Some(current) = mfa::get(&conn, me).await?.filter(|m| m.enabled) {
            let Some(code) = request.code.as_deref() else {
                return Err(ApiError::field(
                    "code",
                    "is required: two-factor sign-in is on",
                ));
            };
            super::mfa::check_code(ctx, &conn, me, &current, code, me.to_string()).await?;
        }
    }
    // On a task of its own: a client that goes away does not stop the deletion half-way.
    let state = std::rc::Rc::clone(&ctx.state);
    let audit = ctx.audit("user.deleted");
    let erasing = tokio::task::spawn_local(async move {
        let app = &state.app;
        let eraser = Eraser {
            pool: &state.pool,
            persister: &app.persister,
            bus: Some(&app.bus),
            delete_messages: app.privacy.delete_messages,
            audit,
        };
        eraser.erase(me).await.map_err(|error| error.to_string())
    });
    let outcome = erasing
        .await
        .unwrap_or_else(|error| Err(format!("the deletion task ended: {error}")));
    match outcome {
        Ok(_) => Ok(Reply::no_content()),
        Err(error) => {
            tracing::warn!(user = %me, %error, "account deletion interrupted");
            Err(ApiError(
                parley_shared::ErrorBody::new(
                    parley_shared::ErrorCode::DbError,
                    "The deletion was interrupted; sign-in is off already, ask the operator to finish it",
                )
                .with_retry_after(5),
            ))
        }
    }
}
