//! `/api/admin/*`: the server admins' tools (the role is granted with `parley admin grant`):
//! an account's state, deactivate and reactivate, delete any message, the report queue, and the
//! audit log. Every action is audited in its own transaction; a non-admin gets FORBIDDEN and
//! nothing else.

use hyper::StatusCode;
use parley_persister::store::admin::{self, Account, Report};
use parley_persister::store::{audit, messages};
use parley_persister::writer::{ChangeKind, ChangeOutcome, ChangeRequest};
use parley_shared::time::serde_ts;
use parley_shared::{ConversationId, ErrorBody, ErrorCode, MessageId, ReportId, UserId};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::request::Ctx;
use super::sessions::revoke_all;
use super::views::{self, MessageView, PageMeta, Reply};
use crate::chat::change as changes;

/// The caller, if a server admin.
async fn admin(ctx: &Ctx) -> Result<UserId, ApiError> {
    let me = ctx.caller()?.user;
    let conn = ctx.conn().await?;
    if !admin::is_admin(&conn, me).await? {
        return Err(ApiError::forbidden("Server admins only"));
    }
    Ok(me)
}

/// An account, for the admins.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminUserView {
    id: UserId,
    username: String,
    display_name: String,
    is_admin: bool,
    deactivated: bool,
    #[serde(with = "serde_ts::option")]
    deactivated_at: Option<time::OffsetDateTime>,
    #[serde(with = "serde_ts")]
    created_at: time::OffsetDateTime,
}

impl From<Account> for AdminUserView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id,
            username: a.username,
            display_name: a.display_name,
            is_admin: a.is_admin,
            deactivated: a.deactivated_at.is_some(),
            deactivated_at: a.deactivated_at,
            created_at: a.created_at,
        }
    }
}

/// A report, for its reporter and the admins.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReportView {
    id: ReportId,
    message_id: MessageId,
    conversation_id: ConversationId,
    reported_user_id: UserId,
    reporter_id: UserId,
    reason: String,
    status: &'static str,
    resolution: Option<String>,
    resolved_by: Option<UserId>,
    #[serde(with = "serde_ts::option")]
    resolved_at: Option<time::OffsetDateTime>,
    #[serde(with = "serde_ts")]
    created_at: time::OffsetDateTime,
}

impl From<Report> for ReportView {
    fn from(r: Report) -> Self {
        Self {
            id: r.id,
            message_id: r.message,
            conversation_id: r.conversation,
            reported_user_id: r.reported_user,
            reporter_id: r.reporter,
            reason: r.reason,
            status: if r.resolved_at.is_some() {
                "resolved"
            } else {
                "open"
            },
            resolution: r.resolution,
            resolved_by: r.resolved_by,
            resolved_at: r.resolved_at,
            created_at: r.created_at,
        }
    }
}

/// The target of `/api/admin/users/{userId}...`.
async fn target(ctx: &Ctx) -> Result<Account, ApiError> {
    let id: UserId = ctx.id_param("userId", "User")?;
    let conn = ctx.conn().await?;
    admin::account(&conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))
}

/// `GET /api/admin/users/{userId}`.
pub(crate) async fn get_user(ctx: &Ctx) -> Result<Reply, ApiError> {
    admin(ctx).await?;
    let account = target(ctx).await?;
    Ok(views::data(StatusCode::OK, &AdminUserView::from(account)))
}

/// `POST /api/admin/users/{userId}/deactivate`: sessions revoked (sockets close at once, on
/// every instance), sign-in refused. Doing it again changes nothing.
pub(crate) async fn deactivate(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = admin(ctx).await?;
    let account = target(ctx).await?;
    if account.id == me {
        return Err(ApiError::forbidden("Admins cannot deactivate themselves"));
    }
    set_deactivated(ctx, account.id, true).await?;
    get_user(ctx).await
}

/// `POST /api/admin/users/{userId}/reactivate`.
pub(crate) async fn reactivate(ctx: &Ctx) -> Result<Reply, ApiError> {
    admin(ctx).await?;
    let account = target(ctx).await?;
    set_deactivated(ctx, account.id, false).await?;
    get_user(ctx).await
}

async fn set_deactivated(ctx: &Ctx, user: UserId, off: bool) -> Result<(), ApiError> {
    let action = if off {
        "user.deactivated"
    } else {
        "user.reactivated"
    };
    let mut conn = ctx.conn().await?;
    let entry = ctx.audit(action).user(user);
    if let Some(revoked) = admin::set_deactivated(&mut conn, user, off, entry).await? {
        tracing::info!(%user, revoked = revoked.len(), action, "account state changed by an admin");
        revoke_all(ctx, user, &revoked);
    }
    Ok(())
}

/// `DELETE /api/admin/messages/{messageId}`: the deleted message, after commit.
pub(crate) async fn delete_message(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = admin(ctx).await?;
    let id: MessageId = ctx.id_param("messageId", "Message")?;
    let conn = ctx.conn().await?;
    let conversation = messages::conversation_of(&conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Message"))?;
    drop(conn);
    let message = remove_message(ctx, me, id, conversation).await?;
    Ok(views::data(StatusCode::OK, &message))
}

/// Deletes `message` of `conversation` as admin `me`, through its conversation's lane (members
/// get `message:deleted` like any delete).
async fn remove_message(
    ctx: &Ctx,
    me: UserId,
    message: MessageId,
    conversation: ConversationId,
) -> Result<MessageView, ApiError> {
    let request = ChangeRequest {
        message,
        conversation,
        actor: me,
        kind: ChangeKind::AdminDelete {
            audit: ctx.audit("message.deleted_by_admin"),
        },
    };
    let outcome = ctx
        .state
        .app
        .persister
        .submit_change(request)
        .map_err(|error| ApiError(changes::submit_error(error)))?
        .await
        .unwrap_or_else(|_| ChangeOutcome::Failed("persister stopped".to_owned()));
    match outcome {
        ChangeOutcome::Applied(change) => {
            tracing::info!(%message, "message deleted by an admin");
            Ok(MessageView::with_reactions(
                &change.message,
                &change.reactions,
            ))
        }
        other => Err(ApiError(changes::outcome_error(&other).unwrap_or_else(
            || ErrorBody::new(ErrorCode::InternalError, "Unexpected outcome"),
        ))),
    }
}

/// Page size of the admin lists.
fn limit(ctx: &Ctx) -> Result<i64, ApiError> {
    ctx.int_query("limit", 50, 1..=100)
}

/// `GET /api/admin/reports?status=open|all&cursor=&limit=`.
pub(crate) async fn reports(ctx: &Ctx) -> Result<Reply, ApiError> {
    admin(ctx).await?;
    let open_only = match ctx.query.get("status").map(String::as_str) {
        None | Some("open") => true,
        Some("all") => false,
        Some(_) => return Err(ApiError::field("status", "must be open or all")),
    };
    let before: Option<ReportId> = match ctx.query.get("cursor") {
        None => None,
        Some(text) => Some(
            text.parse()
                .map_err(|_| ApiError::field("cursor", "is not a cursor of this list"))?,
        ),
    };
    let limit = limit(ctx)?;
    let conn = ctx.conn().await?;
    let mut found = admin::reports(&conn, open_only, before, limit + 1).await?;
    let more = found.len() as i64 > limit;
    found.truncate(limit as usize);
    let cursor = more
        .then(|| found.last().map(|r| r.id.to_string()))
        .flatten();
    let items: Vec<ReportView> = found.into_iter().map(ReportView::from).collect();
    Ok(views::page(&items, PageMeta::new(cursor, more)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResolveRequest {
    action: String,
}

/// `POST /api/admin/reports/{reportId}/resolve {action}`: `dismiss`, `delete_message` or
/// `deactivate_user` (its sender), then the report (and the message's other open reports) is
/// resolved. A resolved report answers as it is, and nothing is done again.
pub(crate) async fn resolve(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = admin(ctx).await?;
    let request: ResolveRequest = ctx.json()?;
    let resolution = match request.action.as_str() {
        "dismiss" => "dismissed",
        "delete_message" => "message_deleted",
        "deactivate_user" => "user_deactivated",
        _ => {
            return Err(ApiError::field(
                "action",
                "must be dismiss, delete_message or deactivate_user",
            ));
        }
    };
    let id: ReportId = ctx.id_param("reportId", "Report")?;
    let conn = ctx.conn().await?;
    let report = admin::find_report(&conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Report"))?;
    drop(conn);
    if report.resolved_at.is_some() {
        return Ok(views::data(StatusCode::OK, &ReportView::from(report)));
    }
    match resolution {
        "message_deleted" => {
            remove_message(ctx, me, report.message, report.conversation).await?;
        }
        "user_deactivated" if report.reported_user != me => {
            set_deactivated(ctx, report.reported_user, true).await?;
        }
        "user_deactivated" => {
            return Err(ApiError::forbidden("Admins cannot deactivate themselves"));
        }
        _ => {}
    }
    let mut conn = ctx.conn().await?;
    let entry = ctx
        .audit("report.resolved")
        .details(serde_json::json!({"report": id, "resolution": resolution}).to_string());
    let resolved = admin::resolve(&mut conn, id, me, resolution, entry)
        .await?
        .ok_or_else(|| ApiError::not_found("Report"))?;
    Ok(views::data(StatusCode::OK, &ReportView::from(resolved)))
}

/// One audit record, for the admins.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditView {
    id: String,
    #[serde(with = "serde_ts")]
    at: time::OffsetDateTime,
    actor_id: Option<UserId>,
    action: String,
    target_user_id: Option<UserId>,
    conversation_id: Option<ConversationId>,
    message_id: Option<MessageId>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    details: Option<serde_json::Value>,
}

impl From<audit::Record> for AuditView {
    fn from(r: audit::Record) -> Self {
        Self {
            id: r.id.to_string(),
            at: r.at,
            actor_id: r.actor,
            action: r.action,
            target_user_id: r.target_user,
            conversation_id: r.target_conversation,
            message_id: r.target_message,
            client_ip: r.client_ip.map(|ip| ip.to_string()),
            user_agent: r.user_agent,
            details: r.details.and_then(|d| serde_json::from_str(&d).ok()),
        }
    }
}

/// `GET /api/admin/audit?actor=&target=&action=&cursor=&limit=`.
pub(crate) async fn audit(ctx: &Ctx) -> Result<Reply, ApiError> {
    admin(ctx).await?;
    let user = |name: &str| -> Result<Option<UserId>, ApiError> {
        match ctx.query.get(name) {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| ApiError::field(name, "must be a user id (usr_...)")),
        }
    };
    let action = ctx.query.get("action").cloned();
    if action
        .as_deref()
        .is_some_and(|a| a.is_empty() || a.len() > 64)
    {
        return Err(ApiError::field("action", "must be 1 to 64 characters"));
    }
    let before = match ctx.query.get("cursor") {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::field("cursor", "is not a cursor of this list"))?,
        ),
    };
    let limit = limit(ctx)?;
    let filter = audit::Filter {
        actor: user("actor")?,
        target: user("target")?,
        action,
        before,
        limit: limit + 1,
    };
    let conn = ctx.conn().await?;
    let mut found = audit::list(&conn, &filter).await?;
    let more = found.len() as i64 > limit;
    found.truncate(limit as usize);
    let cursor = more
        .then(|| found.last().map(|r| r.id.to_string()))
        .flatten();
    let items: Vec<AuditView> = found.into_iter().map(AuditView::from).collect();
    Ok(views::page(&items, PageMeta::new(cursor, more)))
}
