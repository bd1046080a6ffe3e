//! Group changes over REST: rename and describe, delete, the paged member list, add, remove or
//! leave, and role changes. Handlers parse and validate; `chat::group` submits to the
//! conversation's lane, where the stored roles decide.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::StatusCode;
use parley_persister::store::conversations::{self, MemberCursor};
use parley_persister::writer::{GroupChanged, GroupEvent, GroupOp, GroupRequest};
use parley_shared::policy::{Action, Role};
use parley_shared::{ConversationId, UserId};
use serde::Deserialize;
use time::OffsetDateTime;

use super::error::{ApiError, Problems};
use super::request::Ctx;
use super::views::{self, MemberView, PageMeta, Reply};
use crate::authz::authorize;
use crate::chat::group;

/// Longest group description, in characters.
const MAX_DESCRIPTION: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AddMemberRequest {
    user_id: String,
    role: Option<Role>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SetRoleRequest {
    role: Role,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateRequest {
    name: Option<String>,
    /// Absent: unchanged; null or empty: removed.
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D>(deserializer: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Submits `op` by the caller on the path's conversation.
async fn change(
    ctx: &Ctx,
    op: GroupOp,
    action: &'static str,
) -> Result<Box<GroupChanged>, ApiError> {
    let me = ctx.caller()?.user;
    let id: ConversationId = ctx.id_param("conversationId", "Conversation")?;
    let request = GroupRequest {
        conversation: id,
        actor: me,
        op,
        audit: ctx.audit(action),
    };
    let changed = group::submit(&ctx.state, request).await.map_err(ApiError)?;
    tracing::info!(conversation = %id, change = action, "group changed");
    Ok(changed)
}

/// `PATCH /api/conversations/{conversationId} {name?, description?}`.
pub(crate) async fn update(ctx: &Ctx) -> Result<Reply, ApiError> {
    let request: UpdateRequest = ctx.json()?;
    let mut problems = Problems::default();
    let name = match request.name.as_deref() {
        None => None,
        Some(raw) => parley_shared::text::name(raw, 100)
            .map_err(|error| problems.add("name", error.to_string()))
            .ok(),
    };
    let description = match request.description {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => {
            let text = raw.trim();
            if text.chars().count() > MAX_DESCRIPTION || !parley_shared::text::storable(text) {
                problems.add(
                    "description",
                    format!("must be at most {MAX_DESCRIPTION} characters of text"),
                );
            }
            Some((!text.is_empty()).then(|| text.to_owned()))
        }
    };
    problems.into_result()?;
    let changed = change(
        ctx,
        GroupOp::Update { name, description },
        "conversation.updated",
    )
    .await?;
    let conn = ctx.conn().await?;
    super::conversations::render_one(
        &conn,
        changed.actor,
        changed.conversation.id,
        StatusCode::OK,
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RetentionRequest {
    /// A duration (`"30d"`), or null: as long as the server keeps messages.
    #[serde(default, deserialize_with = "present")]
    messages: Option<Option<String>>,
}

/// `PUT /api/conversations/{conversationId}/retention {messages}`: how long this conversation
/// keeps its messages, at most as long as the server does (a group's owner; either member of a
/// DM).
pub(crate) async fn set_retention(ctx: &Ctx) -> Result<Reply, ApiError> {
    let request: RetentionRequest = ctx.json()?;
    let server = ctx.state.app.retention.messages;
    let seconds = match request.messages {
        None => {
            return Err(ApiError::field(
                "messages",
                "is required: a duration such as \"30d\", or null",
            ));
        }
        Some(None) => None,
        Some(Some(text)) => {
            let keep = parley_shared::duration::parse_duration(&text)
                .map_err(|problem| ApiError::field("messages", problem))?;
            if keep < std::time::Duration::from_secs(1) {
                return Err(ApiError::field("messages", "must be at least 1s"));
            }
            if !server.is_zero() && keep > server {
                return Err(ApiError::field(
                    "messages",
                    format!(
                        "must be at most the server's {}",
                        parley_shared::duration::format_duration(server)
                    ),
                ));
            }
            Some(i64::try_from(keep.as_secs()).unwrap_or(i64::MAX))
        }
    };
    let op = GroupOp::SetRetention { seconds };
    let changed = change(ctx, op, "conversation.retention_changed").await?;
    let conn = ctx.conn().await?;
    super::conversations::render_one(
        &conn,
        changed.actor,
        changed.conversation.id,
        StatusCode::OK,
    )
    .await
}

/// `DELETE /api/conversations/{conversationId}`: the owner deletes the group and its history.
pub(crate) async fn delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    change(ctx, GroupOp::Delete, "conversation.deleted").await?;
    Ok(Reply::no_content())
}

/// `POST /api/conversations/{conversationId}/members {userId, role?}`.
pub(crate) async fn add_member(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let request: AddMemberRequest = ctx.json()?;
    let user: UserId = request
        .user_id
        .parse()
        .map_err(|e: parley_shared::IdError| ApiError::field("userId", e.to_string()))?;
    // `owner` is refused by the policy (403): a group is handed over with a role change.
    let role = request.role.unwrap_or(Role::Member);
    {
        // Membership first: a non-member learns nothing about the conversation, not even
        // that the person they named has blocked them (404, like every other id it cannot see).
        let conversation: ConversationId = ctx.id_param("conversationId", "Conversation")?;
        let conn = ctx.conn().await?;
        authorize(&conn, me, conversation, Action::Read).await?;
        super::profile::refuse_blocked(&conn, me, &[user], "You cannot add this user").await?;
    }
    let max_members = i64::try_from(ctx.state.app.max_group_members).unwrap_or(i64::MAX);
    let op = GroupOp::Add {
        user,
        role,
        max_members,
    };
    let changed = change(ctx, op, "member.added").await?;
    match &changed.event {
        GroupEvent::MemberAdded(member) => {
            Ok(views::data(StatusCode::CREATED, &MemberView::from(member)))
        }
        _ => Err(ApiError::not_found("Member")),
    }
}

/// `DELETE /api/conversations/{conversationId}/members/{userId}?newOwnerId=`: remove someone, or
/// leave (the owner names who takes over).
pub(crate) async fn remove_member(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let user: UserId = ctx.id_param("userId", "Member")?;
    let new_owner = match ctx.query.get("newOwnerId") {
        None => None,
        Some(raw) => Some(
            raw.parse::<UserId>()
                .map_err(|_| ApiError::field("newOwnerId", "must be a user id (usr_...)"))?,
        ),
    };
    let action = if user == me {
        "member.left"
    } else {
        "member.removed"
    };
    let changed = change(ctx, GroupOp::Remove { user, new_owner }, action).await?;
    // Typing there ends with the membership.
    crate::chat::typing::stop(&ctx.state.app, changed.conversation.id, user);
    Ok(Reply::no_content())
}

/// `PATCH /api/conversations/{conversationId}/members/{userId} {role}`.
pub(crate) async fn set_role(ctx: &Ctx) -> Result<Reply, ApiError> {
    let user: UserId = ctx.id_param("userId", "Member")?;
    let request: SetRoleRequest = ctx.json()?;
    let op = GroupOp::SetRole {
        user,
        role: request.role,
    };
    let changed = change(ctx, op, "member.role_changed").await?;
    let conn = ctx.conn().await?;
    let member = conversations::member(&conn, changed.conversation.id, user)
        .await?
        .ok_or_else(|| ApiError::not_found("Member"))?;
    Ok(views::data(StatusCode::OK, &MemberView::from(&member)))
}

/// `GET /api/conversations/{conversationId}/members?limit=&cursor=`: members only.
pub(crate) async fn members(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let id: ConversationId = ctx.id_param("conversationId", "Conversation")?;
    let limit = ctx.int_query("limit", 100, 1..=200)?;
    let cursor = match ctx.query.get("cursor") {
        None => None,
        Some(text) => Some(
            decode_cursor(text)
                .ok_or_else(|| ApiError::field("cursor", "is not a cursor of this list"))?,
        ),
    };
    let conn = ctx.conn().await?;
    authorize(&conn, me, id, Action::Read).await?;
    let mut page = conversations::members_page(&conn, id, cursor, limit + 1).await?;
    let more = page.len() as i64 > limit;
    page.truncate(limit as usize);
    let next = more
        .then(|| page.last().map(|m| encode_cursor(&MemberCursor::after(m))))
        .flatten();
    let items: Vec<MemberView> = page.iter().map(MemberView::from).collect();
    Ok(views::page(&items, PageMeta::new(next, more)))
}

fn encode_cursor(cursor: &MemberCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}:{}:{}",
        cursor.rank,
        cursor.joined_at.unix_timestamp_nanos(),
        cursor.user.0.simple()
    ))
}

fn decode_cursor(text: &str) -> Option<MemberCursor> {
    let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
    let mut parts = std::str::from_utf8(&raw).ok()?.splitn(3, ':');
    let rank: i32 = parts.next()?.parse().ok()?;
    let nanos: i128 = parts.next()?.parse().ok()?;
    let user = uuid::Uuid::try_parse(parts.next()?).ok()?;
    (0..=2).contains(&rank).then_some(())?;
    Some(MemberCursor {
        rank,
        joined_at: OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?,
        user: UserId(user),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_cursors_round_trip_and_garbage_is_refused() {
        let cursor = MemberCursor {
            rank: 1,
            joined_at: OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000)
                .expect("time"),
            user: UserId::generate(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&cursor)), Some(cursor));
        for bad in [
            "",
            "!!",
            &URL_SAFE_NO_PAD.encode("1:2"),
            &URL_SAFE_NO_PAD.encode("7:1:00000000000000000000000000000000"),
            &URL_SAFE_NO_PAD.encode("1:x:00000000000000000000000000000000"),
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
