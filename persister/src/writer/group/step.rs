//! One group change in progress, inside its transaction: each operation checks the actor's
//! stored role, changes the rows, and says which event and system message it makes.

use parley_shared::UserId;
use parley_shared::policy::{Action, ConversationKind, Role};
use tokio_postgres::Transaction;

use super::{GroupEvent, GroupRefusal, GroupRequest, Planned, check, member_ids, members_of};
use crate::store::audit::Entry;
use crate::store::conversations as convs;

/// One change in progress, inside its transaction.
pub(super) struct Step<'a> {
    pub(super) tx: &'a Transaction<'a>,
    pub(super) request: &'a GroupRequest,
    pub(super) kind: ConversationKind,
    /// The actor's stored role.
    pub(super) role: Role,
    pub(super) entry: Entry,
    /// Members whose role changes.
    pub(super) roles: Vec<UserId>,
    pub(super) former: Vec<UserId>,
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

    pub(super) async fn add(
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

    pub(super) async fn remove(
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

    pub(super) async fn set_role(
        &mut self,
        user: UserId,
        to: Role,
    ) -> Result<Planned, tokio_postgres::Error> {
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

    pub(super) async fn update(
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

    pub(super) async fn close_dm(&mut self) -> Result<Planned, tokio_postgres::Error> {
        if self.kind != ConversationKind::Dm {
            return Ok(Err(GroupRefusal::Forbidden(
                "Only a direct message is closed",
            )));
        }
        let closed = self
            .tx
            .execute(
                "UPDATE conversation_members SET can_send = false
                 WHERE conversation_id = $1 AND can_send",
                &[&self.conversation()],
            )
            .await?;
        if closed == 0 {
            return Ok(Ok((GroupEvent::Updated, None)));
        }
        let me = self.name_of(self.request.actor).await?;
        self.entry.action = "conversation.closed";
        Ok(Ok((
            GroupEvent::Updated,
            Some(format!(
                "{me} deleted their account; this conversation is closed"
            )),
        )))
    }

    pub(super) async fn set_retention(
        &mut self,
        seconds: Option<i64>,
    ) -> Result<Planned, tokio_postgres::Error> {
        if let Err(refusal) = check(self.kind, self.role, Action::SetRetention) {
            return Ok(Err(refusal));
        }
        let changed = self
            .tx
            .execute(
                "UPDATE conversations SET retention_seconds = $2, updated_at = now()
                 WHERE id = $1 AND retention_seconds IS DISTINCT FROM $2",
                &[&self.conversation(), &seconds],
            )
            .await?;
        if changed == 0 {
            return Ok(Ok((GroupEvent::Updated, None)));
        }
        let me = self.name_of(self.request.actor).await?;
        let text = match seconds {
            Some(seconds) => format!(
                "{me} set messages here to be deleted after {}",
                parley_shared::duration::describe(std::time::Duration::from_secs(
                    seconds.unsigned_abs()
                ))
            ),
            None => format!("{me} set messages here to be kept as long as the server keeps them"),
        };
        self.entry.action = "conversation.retention_changed";
        self.entry = self.entry.clone().details(match seconds {
            Some(seconds) => format!(r#"{{"seconds":{seconds}}}"#),
            None => r#"{"seconds":null}"#.to_owned(),
        });
        Ok(Ok((GroupEvent::Updated, Some(text))))
    }

    /// Deletes the group's history and every row that names it (messages and their satellites
    /// have no foreign keys, migration 0002), then the conversation, whose members, read marks
    /// and preferences go by cascade.
    pub(super) async fn delete(&mut self) -> Result<Planned, tokio_postgres::Error> {
        if let Err(refusal) = check(self.kind, self.role, Action::Delete) {
            return Ok(Err(refusal));
        }
        let id = self.conversation();
        self.former = member_ids(self.tx, self.request.conversation)
            .await?
            .to_vec();
        for statement in convs::DELETE_CONVERSATION {
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
