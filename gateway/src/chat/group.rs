//! Group changes, one path: submitted to the conversation's lane (the persister decides on the
//! stored roles, writes the system message and the audit record in one transaction), one mapping
//! of every refusal to the catalog, and the events a committed change sends to the members'
//! connections (built once, on the persister's thread, by the bus).

use bytes::Bytes;
use parley_persister::store::conversations::Conversation;
use parley_persister::writer::{
    GroupChanged, GroupEvent, GroupOutcome, GroupRefusal, GroupRequest,
};
use parley_shared::{ErrorBody, ErrorCode, UserId};
use serde_json::json;

use crate::api::views::MemberView;
use crate::protocol::events::server;
use crate::shard::ShardState;

/// Submits `request` and waits for its commit: the change, or its catalog error.
pub(crate) async fn submit(
    state: &ShardState,
    request: GroupRequest,
) -> Result<Box<GroupChanged>, ErrorBody> {
    let outcome = state
        .app
        .persister
        .submit_group(request)
        .map_err(super::change::submit_error)?
        .await
        .unwrap_or_else(|_| GroupOutcome::Failed("persister stopped".to_owned()));
    match outcome {
        GroupOutcome::Applied(changed) => Ok(changed),
        GroupOutcome::Refused(refusal) => Err(refusal_error(refusal)),
        GroupOutcome::Failed(error) => {
            tracing::warn!(%error, "group change not committed");
            Err(ErrorBody::new(ErrorCode::DbError, "Not saved; retry").with_retry_after(1))
        }
    }
}

/// The catalog error of a refusal.
fn refusal_error(refusal: GroupRefusal) -> ErrorBody {
    match refusal {
        GroupRefusal::NotFound => ErrorBody::new(ErrorCode::NotFound, "Conversation not found"),
        GroupRefusal::UserNotFound => ErrorBody::new(ErrorCode::NotFound, "User not found"),
        GroupRefusal::MemberNotFound => ErrorBody::new(ErrorCode::NotFound, "Member not found"),
        GroupRefusal::Forbidden(why) => ErrorBody::new(ErrorCode::Forbidden, why),
        GroupRefusal::Conflict(why) => ErrorBody::new(ErrorCode::Conflict, why),
        GroupRefusal::BadNewOwner => ErrorBody::new(ErrorCode::ValidationError, "Invalid request")
            .with_detail("newOwnerId", "must be another member of the group"),
    }
}

/// Tells every member of a new group (its owner's other devices too) that it exists.
pub(crate) fn created(state: &ShardState, conversation: &Conversation, members: Vec<UserId>) {
    let data = json!({
        "conversationId": conversation.id,
        "name": conversation.name,
        "ownerId": conversation.owner_id,
        "by": conversation.owner_id,
    });
    let data = Bytes::from(serde_json::to_vec(&data).expect("JSON values serialise infallibly"));
    state
        .app
        .bus
        .tell(members.into(), server::CONVERSATION_CREATED, data);
}

/// The events of a committed change, for its members and former members: `(name, data)`.
pub(crate) fn events(changed: &GroupChanged) -> Vec<(&'static str, Bytes)> {
    let id = changed.conversation.id;
    let by = changed.actor;
    let encode = |value: serde_json::Value| {
        Bytes::from(serde_json::to_vec(&value).expect("JSON values serialise infallibly"))
    };
    let mut out = Vec::with_capacity(2);
    match &changed.event {
        GroupEvent::MemberAdded(member) => out.push((
            server::MEMBER_ADDED,
            encode(json!({"conversationId": id, "member": MemberView::from(member), "by": by})),
        )),
        GroupEvent::MemberRemoved(user) => out.push((
            server::MEMBER_REMOVED,
            encode(json!({"conversationId": id, "userId": user, "by": by})),
        )),
        GroupEvent::Deleted => out.push((
            server::CONVERSATION_DELETED,
            encode(json!({"conversationId": id, "by": by})),
        )),
        GroupEvent::Updated => {}
    }
    let renamed_or_roles =
        matches!(changed.event, GroupEvent::Updated) || !changed.roles.is_empty();
    if renamed_or_roles && changed.event != GroupEvent::Deleted {
        let c = &changed.conversation;
        let members: Vec<MemberView> = changed.roles.iter().map(MemberView::from).collect();
        out.push((
            server::CONVERSATION_UPDATED,
            encode(json!({
                "conversationId": id,
                "name": c.name,
                "description": c.description,
                "ownerId": c.owner_id,
                "members": members,
                "by": by,
            })),
        ));
    }
    out
}
