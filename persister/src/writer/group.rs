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

type Refused<T> = Result<T, GroupRefusal>;

const LOCK: &str = "FROM conversations c
     LEFT JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $2
     WHERE c.id = $1 FOR NO KEY UPDATE OF c";

fn check(kind: ConversationKind, role: Role, action: Action) -> Refused<()> {
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
        row.get::<_, Option<&str>>(8).and_then(Role::parse),
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
type Planned = Refused<(GroupEvent, Option<String>)>;

/// One change in progress, inside its transaction.
struct Step<'a> {
    tx: &'a Transaction<'a>,
    request: &'a GroupRequest,
    kind: ConversationKind,
    /// The actor's stored role.
    role: Role,
    entry: Entry,
    /// Members whose role changes.
    roles: Vec<UserId>,
    former: Vec<UserId>,
}

impl Step<'_> {
    fn conversation(&self) -> uuid::Uuid {
        self.request.conversation.0
    }

    async fn name_of(&self, user: UserId) -> Result<String, tokio_postgres::Error> {
        Ok(self
            .tx
            .query_opt("SELECT display_name FROM users WHERE id = $1", &[&user.0])
            .await?
            .map(|r| r.get(0))
            .unwrap_or_else(|| "Someone".to_owned()))
    }

    async fn role_of(&self, user: UserId) -> Result<Option<Role>, tokio_postgres::Error> {
        Ok(self
            .tx
            .query_opt(
                "SELECT role FROM conversation_members WHERE conversation_id = $1 AND user_id = $2",
                &[&self.conversation(), &user.0],
            )
            .await?
            .and_then(|r| Role::parse(r.get(0))))
    }

    async fn set(&self, user: UserId, role: Role) -> Result<(), tokio_postgres::Error> {
        self.tx
            .execute(
                "UPDATE conversation_members SET role = $3 WHERE conversation_id = $1 AND user_id = $2",
                &[&self.conversation(), &user.0, &role.as_str()],
            )
            .await?;
        if role == Role::Owner {
            self.tx
                .execute(
                    "UPDATE conversations SET owner_id = $2, updated_at = now() WHERE id = $1",
                    &[&self.conversation(), &user.0],
                )
                .await?;
        }
        Ok(())
    }

    async fn add(
        &mut self,
        user: UserId,
        role: Role,
        max: i64,
    ) -> Result<Planned, tokio_postgres::Error> {
        if let Err(refusal) = check(self.kind, self.role, Action::AddMember { role }) {
            return Ok(Err(refusal));
        }
        let Some(row) = self
            .tx
            .query_opt(
                "SELECT display_name FROM users WHERE id = $1 AND deactivated_at IS NULL",
                &[&user.0],
            )
            .await?
        else {
            return Ok(Err(GroupRefusal::UserNotFound));
        };
        let name: String = row.get(0);
        let count: i64 = self
            .tx
            .query_one(
                "SELECT count(*) FROM conversation_members WHERE conversation_id = $1",
                &[&self.conversation()],
            )
            .await?
            .get(0);
        if count >= max {
            return Ok(Err(GroupRefusal::Conflict(format!(
                "The group already has {max} members"
            ))));
        }
        // The watermark at the current end: old messages are not "unread", the notice is.
        let added = self
            .tx
            .execute(
                "INSERT INTO conversation_members (conversation_id, user_id, role, last_read_seq)
                 SELECT id, $2, $3, last_seq FROM conversations WHERE id = $1
                 ON CONFLICT DO NOTHING",
                &[&self.conversation(), &user.0, &role.as_str()],
            )
            .await?;
        if added == 0 {
            return Ok(Err(GroupRefusal::Conflict("Already a member".to_owned())));
        }
        let actor = self.name_of(self.request.actor).await?;
        self.entry.action = "member.added";
        self.entry = self
            .entry
            .clone()
            .user(user)
            .details(format!(r#"{{"role":"{}"}}"#, role.as_str()));
        let member = members_of(self.tx, self.request.conversation, &[user]).await?;
        let Some(member) = member.into_iter().next() else {
            return Ok(Err(GroupRefusal::UserNotFound));
        };
        let text = match role {
            Role::Admin => format!("{actor} added {name} as an admin"),
            _ => format!("{actor} added {name}"),
        };
        Ok(Ok((GroupEvent::MemberAdded(member), Some(text))))
    }

    async fn remove(
        &mut self,
        user: UserId,
        new_owner: Option<UserId>,
    ) -> Result<Planned, tokio_postgres::Error> {
        let actor = self.request.actor;
        let leaving = user == actor;
        let mut text = None;
        if leaving {
            if let Err(refusal) = check(self.kind, self.role, Action::Leave) {
                return Ok(Err(refusal));
            }
            if self.role == Role::Owner {
                let Some(heir) = new_owner else {
                    let others: i64 = self
                        .tx
                        .query_one(
                            "SELECT count(*) FROM conversation_members
                             WHERE conversation_id = $1 AND user_id <> $2",
                            &[&self.conversation(), &actor.0],
                        )
                        .await?
                        .get(0);
                    return Ok(Err(GroupRefusal::Conflict(
                        if others == 0 {
                            "You are the group's only member: delete the group instead"
                        } else {
                            "The owner leaves by naming a new owner (newOwnerId)"
                        }
                        .to_owned(),
                    )));
                };
                if heir == actor || self.role_of(heir).await?.is_none() {
                    return Ok(Err(GroupRefusal::BadNewOwner));
                }
                self.set(heir, Role::Owner).await?;
                self.roles.push(heir);
                let (me, them) = (self.name_of(actor).await?, self.name_of(heir).await?);
                text = Some(format!("{me} left and made {them} the owner"));
                self.entry = self
                    .entry
                    .clone()
                    .details(format!(r#"{{"newOwner":"{heir}"}}"#));
            }
            self.entry.action = "member.left";
        } else {
            let Some(target) = self.role_of(user).await? else {
                return Ok(Err(GroupRefusal::MemberNotFound));
            };
            if let Err(refusal) = check(self.kind, self.role, Action::RemoveMember { target }) {
                return Ok(Err(refusal));
            }
            self.entry.action = "member.removed";
        }
        self.tx
            .execute(
                "DELETE FROM conversation_members WHERE conversation_id = $1 AND user_id = $2",
                &[&self.conversation(), &user.0],
            )
            .await?;
        self.entry = self.entry.clone().user(user);
        self.former.push(user);
        let text = match text {
            Some(text) => text,
            None if leaving => format!("{} left", self.name_of(user).await?),
            None => format!(
                "{} removed {}",
                self.name_of(actor).await?,
                self.name_of(user).await?
            ),
        };
        Ok(Ok((GroupEvent::MemberRemoved(user), Some(text))))
    }

    async fn set_role(&mut self, user: UserId, to: Role) -> Result<Planned, tokio_postgres::Error> {
        let actor = self.request.actor;
        if user == actor {
            if self.kind == ConversationKind::Group && self.role == Role::Owner {
                return Ok(Err(GroupRefusal::Conflict(
                    "The owner steps down by making another member the owner".to_owned(),
                )));
            }
            return Ok(Err(GroupRefusal::Forbidden(
                "Your role in this group does not allow that",
            )));
        }
        let Some(target) = self.role_of(user).await? else {
            return Ok(Err(GroupRefusal::MemberNotFound));
        };
        if let Err(refusal) = check(self.kind, self.role, Action::SetRole { target, to }) {
            return Ok(Err(refusal));
        }
        if target == to {
            return Ok(Ok((GroupEvent::Updated, None)));
        }
        if to == Role::Owner {
            self.set(actor, Role::Admin).await?;
            self.roles.push(actor);
        }
        self.set(user, to).await?;
        self.roles.push(user);
        let (me, them) = (self.name_of(actor).await?, self.name_of(user).await?);
        self.entry.action = "member.role_changed";
        self.entry = self.entry.clone().user(user).details(format!(
            r#"{{"from":"{}","to":"{}"}}"#,
            target.as_str(),
            to.as_str()
        ));
        let text = match to {
            Role::Owner => format!("{me} made {them} the owner"),
            Role::Admin => format!("{me} made {them} an admin"),
            Role::Member => format!("{me} made {them} a member"),
        };
        Ok(Ok((GroupEvent::Updated, Some(text))))
    }

    async fn update(
        &mut self,
        name: &Option<String>,
        description: &Option<Option<String>>,
    ) -> Result<Planned, tokio_postgres::Error> {
        if let Err(refusal) = check(self.kind, self.role, Action::Update) {
            return Ok(Err(refusal));
        }
        let row = self
            .tx
            .query_one(
                "SELECT name, description FROM conversations WHERE id = $1",
                &[&self.conversation()],
            )
            .await?;
        let (old_name, old_description): (Option<String>, Option<String>) =
            (row.get(0), row.get(1));
        let renamed = name.as_ref().filter(|n| old_name.as_ref() != Some(*n));
        let described = description.as_ref().filter(|d| **d != old_description);
        if renamed.is_none() && described.is_none() {
            return Ok(Ok((GroupEvent::Updated, None)));
        }
        self.tx
            .execute(
                "UPDATE conversations SET name = coalesce($2, name),
                     description = CASE WHEN $3 THEN $4 ELSE description END, updated_at = now()
                 WHERE id = $1",
                &[
                    &self.conversation(),
                    &renamed,
                    &described.is_some(),
                    &described.cloned().flatten(),
                ],
            )
            .await?;
        let me = self.name_of(self.request.actor).await?;
        let about = match described {
            None => None,
            Some(None) => Some("removed the description"),
            Some(Some(_)) => Some("changed the description"),
        };
        let text = match (renamed, about) {
            (Some(name), None) => format!("{me} renamed the group to \u{201c}{name}\u{201d}"),
            (Some(name), Some(about)) => {
                format!("{me} renamed the group to \u{201c}{name}\u{201d} and {about}")
            }
            (None, Some(about)) => format!("{me} {about}"),
            (None, None) => unreachable!("one of them changed (checked above)"),
        };
        self.entry.action = "conversation.updated";
        self.entry = self.entry.clone().details(format!(
            r#"{{"renamed":{},"described":{}}}"#,
            renamed.is_some(),
            described.is_some()
        ));
        Ok(Ok((GroupEvent::Updated, Some(text))))
    }

    /// Deletes the group's history and every row that names it (messages and their satellites
    /// have no foreign keys, migration 0002), then the conversation, whose members, read marks
    /// and preferences go by cascade.
    async fn delete(&mut self) -> Result<Planned, tokio_postgres::Error> {
        if let Err(refusal) = check(self.kind, self.role, Action::Delete) {
            return Ok(Err(refusal));
        }
        let id = self.conversation();
        self.former = member_ids(self.tx, self.request.conversation)
            .await?
            .to_vec();
        for statement in [
            "DELETE FROM push_outbox WHERE message_id IN
                 (SELECT id FROM messages WHERE conversation_id = $1)",
            "DELETE FROM message_search WHERE conversation_id = $1",
            "DELETE FROM search_watermarks WHERE conversation_id = $1",
            "DELETE FROM message_mentions WHERE conversation_id = $1",
            "DELETE FROM push_watermarks WHERE conversation_id = $1",
            "DELETE FROM messages WHERE conversation_id = $1",
            "DELETE FROM conversations WHERE id = $1",
        ] {
            self.tx.execute(statement, &[&id]).await?;
        }
        self.entry.action = "conversation.deleted";
        self.entry = self
            .entry
            .clone()
            .details(format!(r#"{{"members":{}}}"#, self.former.len()));
        Ok(Ok((GroupEvent::Deleted, None)))
    }
}

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

async fn member_ids(
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
async fn members_of(
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
