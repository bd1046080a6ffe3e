//! Group changes (add, remove or leave, role change, rename and describe, delete): each one
//! transaction on the conversation's lane, ordered with its sends. The conversation row is locked
//! like a batch locks it, the actor's stored role decides (`shared::policy`), the change writes a
//! system message with the next `seq` (so history and sync show "Ann added Ben" in order) and its
//! audit record, and reads back the membership at commit for the fan-out.

use std::sync::Arc;

use parley_shared::policy::{self, Action, ConversationKind, Denied, Role};
use parley_shared::{ConversationId, MessageId, UserId};
use tokio_postgres::{Client, Transaction};

use crate::store::audit::{self, Entry};
use crate::store::conversations::{self as convs, Conversation, Member};
use crate::store::messages::{self, Message};

mod step;
use step::Step;

/// A change to a group, as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRequest {
    pub conversation: ConversationId,
    pub actor: UserId,
    pub op: GroupOp,
    /// Who asked, from where (its action is set here, from `op`).
    pub audit: Entry,
}

/// What to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOp {
    /// Add `user` with `role`, unless the group has `max_members`.
    Add {
        user: UserId,
        role: Role,
        max_members: i64,
    },
    /// Remove `user` (the actor: leave). An owner leaves only by naming `new_owner`.
    Remove {
        user: UserId,
        new_owner: Option<UserId>,
    },
    /// Give `user` `role` (`Owner`: the actor hands the group over and becomes an admin).
    SetRole { user: UserId, role: Role },
    /// New name and/or description (`Some(None)` clears it); validated by the caller.
    Update {
        name: Option<String>,
        description: Option<Option<String>>,
    },
    /// Delete the group with its members and history.
    Delete,
    /// A direct message whose other account was deleted: nobody sends in it any more (its
    /// history stays).
    CloseDm,
    /// Keep messages for `seconds` (validated by the caller against the server's bound), or
    /// (`None`) as long as the server does.
    SetRetention { seconds: Option<i64> },
}

/// Which event a committed group change produces.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupEvent {
    MemberAdded(Member),
    MemberRemoved(UserId),
    /// Name, description or roles changed.
    Updated,
    Deleted,
}

/// A committed group change.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupChanged {
    pub event: GroupEvent,
    pub actor: UserId,
    /// The conversation after the change (as it was, when deleted).
    pub conversation: Conversation,
    /// Members whose role changed, as they now are.
    pub roles: Vec<Member>,
    /// The system message written with it (none for a delete or a change that changed nothing).
    pub system: Option<Message>,
    /// The members at commit.
    pub members: Arc<[UserId]>,
    /// Told besides the members: whoever left or was removed; for a delete, every former member.
    pub former: Vec<UserId>,
}

/// Why a group change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRefusal {
    /// No such conversation among the actor's (the same answer as one that never existed).
    NotFound,
    /// The user to add does not exist or is deactivated.
    UserNotFound,
    /// The user to remove or change is not a member.
    MemberNotFound,
    Forbidden(&'static str),
    /// Not possible in this state (already a member, full, the owner leaving unnamed...).
    Conflict(String),
    /// `newOwnerId` is not another member.
    BadNewOwner,
}

/// How a group change ended.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupOutcome {
    Applied(Box<GroupChanged>),
    Refused(GroupRefusal),
    /// The database failed through every retry; nothing changed.
    Failed(String),
}

pub(super) type Refused<T> = Result<T, GroupRefusal>;

const LOCK: &str = "FROM conversations c
     LEFT JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $2
     WHERE c.id = $1 FOR NO KEY UPDATE OF c";

pub(super) fn check(kind: ConversationKind, role: Role, action: Action) -> Refused<()> {
    policy::allowed(kind, role, action).map_err(|denied| {
        GroupRefusal::Forbidden(match denied {
            Denied::DirectMessage => "A direct message always has exactly its two members",
            Denied::Role => "Your role in this group does not allow that",
        })
    })
}

/// Runs `request` in one transaction. `Err` only for database failures (the caller retries).
pub(crate) async fn apply(
    client: &mut Client,
    request: &GroupRequest,
) -> Result<Refused<GroupChanged>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let id = request.conversation;
    let select = format!("SELECT {}, m.role {LOCK}", convs::COLUMNS);
    let Some(row) = tx.query_opt(&select, &[&id.0, &request.actor.0]).await? else {
        return Ok(Err(GroupRefusal::NotFound));
    };
    let (Ok(stored), Some(role)) = (
        convs::from_row(&row),
        row.get::<_, Option<&str>>(convs::N).and_then(Role::parse),
    ) else {
        return Ok(Err(GroupRefusal::NotFound));
    };
    let mut step = Step {
        tx: &tx,
        request,
        kind: stored.kind,
        role,
        entry: request.audit.clone().conversation(id),
        roles: Vec::new(),
        former: Vec::new(),
    };
    let planned = match &request.op {
        GroupOp::Add {
            user,
            role: new,
            max_members,
        } => step.add(*user, *new, *max_members).await?,
        GroupOp::Remove { user, new_owner } => step.remove(*user, *new_owner).await?,
        GroupOp::SetRole { user, role: to } => step.set_role(*user, *to).await?,
        GroupOp::Update { name, description } => step.update(name, description).await?,
        GroupOp::Delete => step.delete().await?,
        GroupOp::SetRetention { seconds } => step.set_retention(*seconds).await?,
        GroupOp::CloseDm => step.close_dm().await?,
    };
    let (event, text) = match planned {
        Ok(planned) => planned,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let Step {
        entry,
        roles,
        former,
        ..
    } = step;
    let deleted = event == GroupEvent::Deleted;
    let system = match &text {
        Some(text) => Some(system_message(&tx, id, request.actor, text).await?),
        None => None,
    };
    if system.is_some() || deleted {
        audit::record(&tx, &entry).await?;
    }
    let (conversation, members) = if deleted {
        (stored, Arc::from(Vec::new()))
    } else {
        let row = tx
            .query_one(
                &format!(
                    "SELECT {} FROM conversations c WHERE c.id = $1",
                    convs::COLUMNS
                ),
                &[&id.0],
            )
            .await?;
        let Ok(conversation) = convs::from_row(&row) else {
            return Ok(Err(GroupRefusal::NotFound));
        };
        (conversation, member_ids(&tx, id).await?)
    };
    let roles = if roles.is_empty() {
        Vec::new()
    } else {
        members_of(&tx, id, &roles).await?
    };
    tx.commit().await?;
    Ok(Ok(GroupChanged {
        event,
        actor: request.actor,
        conversation,
        roles,
        system,
        members,
        former,
    }))
}

/// The event and system-message text of a planned change (`None`: nothing changed, or a delete,
/// which leaves no timeline to write in).
pub(super) type Planned = Refused<(GroupEvent, Option<String>)>;

/// Appends a system message by `actor` with the next seq.
async fn system_message(
    tx: &Transaction<'_>,
    conversation: ConversationId,
    actor: UserId,
    text: &str,
) -> Result<Message, tokio_postgres::Error> {
    let id = MessageId::generate();
    let client_id = format!("system:{id}");
    let row = tx
        .query_one(
            &format!(
                "WITH bump AS (
                     UPDATE conversations SET last_seq = last_seq + 1, last_activity_at = now()
                     WHERE id = $1 RETURNING last_seq
                 )
                 INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id,
                     content, content_type)
                 SELECT $2, $1, last_seq, $3, $4, $5, 'system' FROM bump
                 RETURNING {}",
                messages::COLUMNS
            ),
            &[&conversation.0, &id.0, &actor.0, &client_id, &text],
        )
        .await?;
    Ok(messages::from_row(&row, 0))
}

pub(super) async fn member_ids(
    tx: &Transaction<'_>,
    conversation: ConversationId,
) -> Result<Arc<[UserId]>, tokio_postgres::Error> {
    Ok(tx
        .query(
            "SELECT user_id FROM conversation_members WHERE conversation_id = $1",
            &[&conversation.0],
        )
        .await?
        .iter()
        .map(|r| UserId(r.get(0)))
        .collect())
}

/// `users` as members of `conversation` (those who are).
pub(super) async fn members_of(
    tx: &Transaction<'_>,
    conversation: ConversationId,
    users: &[UserId],
) -> Result<Vec<Member>, tokio_postgres::Error> {
    let ids: Vec<uuid::Uuid> = users.iter().map(|u| u.0).collect();
    let rows = tx
        .query(
            "SELECT u.id, u.username, u.display_name, m.role, m.joined_at, m.last_read_seq
             FROM conversation_members m JOIN users u ON u.id = m.user_id
             WHERE m.conversation_id = $1 AND m.user_id = ANY($2)",
            &[&conversation.0, &ids],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| convs::member_from_row(r, 0).ok())
        .collect())
}
