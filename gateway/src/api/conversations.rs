//! `/api/conversations*`: open a DM or create a group, list mine by activity, read one (group
//! changes are `api::groups`). Every access goes through `authz::authorize` on the stored
//! conversation.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::StatusCode;
use parley_persister::store::conversations::{self, ListCursor};
use parley_persister::store::users;
use parley_shared::policy::Action;
use parley_shared::{ConversationId, UserId};
use serde::Deserialize;
use time::OffsetDateTime;

use super::error::{ApiError, Problems};
use super::request::Ctx;
use super::views::{self, ConversationView, PageMeta, Reply};
use crate::authz::authorize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateRequest {
    #[serde(rename = "type")]
    kind: String,
    user_id: Option<String>,
    name: Option<String>,
    member_ids: Option<Vec<String>>,
}

/// `POST /api/conversations`.
pub(crate) async fn create(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let request: CreateRequest = ctx.json()?;
    match request.kind.as_str() {
        "dm" => create_dm(ctx, me, request).await,
        "group" => create_group(ctx, me, request).await,
        _ => Err(ApiError::field("type", "must be \"dm\" or \"group\"")),
    }
}

async fn create_dm(ctx: &Ctx, me: UserId, request: CreateRequest) -> Result<Reply, ApiError> {
    let mut problems = Problems::default();
    if request.name.is_some() {
        problems.add("name", "is not allowed for a DM");
    }
    if request.member_ids.is_some() {
        problems.add("memberIds", "is not allowed for a DM (use userId)");
    }
    let other = match request.user_id.as_deref().map(str::parse::<UserId>) {
        None => {
            problems.add("userId", "is required for a DM");
            None
        }
        Some(Err(error)) => {
            problems.add("userId", error.to_string());
            None
        }
        Some(Ok(id)) if id == me => {
            problems.add("userId", "cannot open a DM with yourself");
            None
        }
        Some(Ok(id)) => Some(id),
    };
    problems.into_result()?;
    let other = other.expect("validated above");
    let mut conn = ctx.conn().await?;
    if users::existing(&conn, &[other]).await?.is_empty() {
        return Err(ApiError::not_found("User"));
    }
    super::profile::refuse_blocked(&conn, me, &[other], "You cannot message this user").await?;
    let (conversation, created) = conversations::get_or_create_dm(&mut conn, me, other).await?;
    if created {
        // The other may have blocked nobody, or the caller blocked them before the DM existed.
        parley_persister::store::blocks::sync_dm(&conn, me, other).await?;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    render_one(&conn, me, conversation.id, status).await
}

async fn create_group(ctx: &Ctx, me: UserId, request: CreateRequest) -> Result<Reply, ApiError> {
    let max_members = ctx.state.app.max_group_members;
    let mut problems = Problems::default();
    if request.user_id.is_some() {
        problems.add("userId", "is not allowed for a group (use memberIds)");
    }
    let name = parley_shared::text::name(request.name.as_deref().unwrap_or_default(), 100)
        .unwrap_or_else(|error| {
            problems.add("name", error.to_string());
            String::new()
        });
    let raw_ids = request.member_ids.unwrap_or_default();
    let mut members = BTreeSet::new();
    if raw_ids.len() >= max_members {
        problems.add(
            "memberIds",
            format!("a group has at most {max_members} members, you included"),
        );
    } else {
        for raw in &raw_ids {
            match raw.parse::<UserId>() {
                Ok(id) if id != me => {
                    members.insert(id);
                }
                Ok(_) => {}
                Err(error) => problems.add("memberIds", format!("{raw:.40}: {error}")),
            }
        }
    }
    problems.into_result()?;
    let members: Vec<UserId> = members.into_iter().collect();
    let mut conn = ctx.conn().await?;
    let known: BTreeSet<UserId> = users::existing(&conn, &members)
        .await?
        .into_iter()
        .collect();
    let mut problems = Problems::default();
    for missing in members.iter().filter(|id| !known.contains(id)) {
        problems.add("memberIds", format!("no user {missing}"));
    }
    problems.into_result()?;
    super::profile::refuse_blocked(&conn, me, &members, "You cannot add one of these users")
        .await?;
    let conversation = conversations::create_group(&mut conn, me, &name, &members).await?;
    tracing::info!(conversation = %conversation.id, members = members.len() + 1, "group created");
    let mut everyone = members;
    everyone.push(me);
    crate::chat::group::created(&ctx.state, &conversation, everyone);
    render_one(&conn, me, conversation.id, StatusCode::CREATED).await
}

/// `GET /api/conversations?limit=20&cursor=...`.
pub(crate) async fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let limit = ctx.int_query("limit", 20, 1..=100)?;
    let cursor = match ctx.query.get("cursor") {
        None => None,
        Some(text) => Some(
            decode_cursor(text)
                .ok_or_else(|| ApiError::field("cursor", "is not a cursor this server issued"))?,
        ),
    };
    let conn = ctx.conn().await?;
    let mut summaries = conversations::list_for_user(&conn, me, cursor, limit + 1).await?;
    let has_more = summaries.len() as i64 > limit;
    summaries.truncate(limit as usize);
    let next = summaries.last().filter(|_| has_more).map(|s| {
        encode_cursor(
            s.membership.conversation.last_activity_at,
            s.membership.conversation.id,
        )
    });
    let items: Vec<ConversationView> = summaries.iter().map(ConversationView::from).collect();
    Ok(views::page(&items, PageMeta::new(next, has_more)))
}

/// `GET /api/conversations/{conversationId}`.
pub(crate) async fn get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let id: ConversationId = ctx.id_param("conversationId", "Conversation")?;
    let conn = ctx.conn().await?;
    render_one(&conn, me, id, StatusCode::OK).await
}

/// The conversation as `me` sees it, with every member; 404 unless `me` is a member.
pub(crate) async fn render_one(
    conn: &parley_persister::store::Conn,
    me: UserId,
    id: ConversationId,
    status: StatusCode,
) -> Result<Reply, ApiError> {
    let membership = authorize(conn, me, id, Action::Read).await?;
    let members = conversations::members(conn, id).await?;
    let last = parley_persister::store::messages::page_before(conn, id, None, 1).await?;
    let mentions = conversations::mention_count(conn, id, me, membership.last_read_seq).await?;
    let prefs = parley_persister::store::notifications::conversation_prefs(conn, id, me).await?;
    let view = ConversationView::new(views::ConversationParts {
        membership: &membership,
        members: &members,
        member_count: members.len() as i64,
        last_message: last.first(),
        mention_count: mentions,
        prefs,
    });
    Ok(views::data(status, &view))
}

fn encode_cursor(at: OffsetDateTime, id: ConversationId) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", at.unix_timestamp_nanos(), id.0.simple()))
}

fn decode_cursor(text: &str) -> Option<ListCursor> {
    let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
    let raw = std::str::from_utf8(&raw).ok()?;
    let (nanos, id) = raw.split_once(':')?;
    Some(ListCursor {
        last_activity_at: OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?,
        id: ConversationId(uuid::Uuid::try_parse(id).ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let at =
            OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).expect("time");
        let id = ConversationId::generate();
        let cursor = encode_cursor(at, id);
        assert_eq!(
            decode_cursor(&cursor),
            Some(ListCursor {
                last_activity_at: at,
                id
            })
        );
        for bad in ["", "!!", "YWJj", &URL_SAFE_NO_PAD.encode("1:nothex")] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
