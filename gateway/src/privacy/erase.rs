//! Deleting an account: signed out and anonymous at once (`store::erase::begin`), then out of
//! every group through its lane (as a member who leaves: the system message and the events go
//! to the others, the group handed to its longest-standing admin or member, or deleted with its
//! last member), each direct message closed (the other member keeps its history), its messages'
//! content removed (or the messages, `privacy.delete_messages`) in batches, and finally every
//! other row of it deleted; the `users` row stays as an anonymous "Deleted user". Each step can
//! run again: an interrupted deletion is finished by running it again (`parley admin
//! delete-user usr_...`).

use parley_persister::store::audit::Entry;
use parley_persister::store::erase::{self, Left};
use parley_persister::writer::{GroupOp, GroupOutcome, GroupRequest, PersisterHandle};
use parley_persister::{DbError, Pool};
use parley_shared::UserId;
use parley_shared::policy::Role;

use crate::fanout::Bus;

/// Messages scrubbed per transaction.
const BATCH: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub(crate) enum EraseError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("leaving a group or closing a DM failed: {0}")]
    Group(String),
}

/// What a deletion did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Erased {
    pub(crate) groups: usize,
    pub(crate) dms: usize,
    pub(crate) messages: u64,
}

/// What a deletion runs with.
pub(crate) struct Eraser<'a> {
    pub(crate) pool: &'a Pool,
    pub(crate) persister: &'a PersisterHandle,
    /// The gateway's bus, to close the account's sockets at once (`None`: the command line; the
    /// gateways hear of the revocations through PostgreSQL).
    pub(crate) bus: Option<&'a Bus>,
    pub(crate) delete_messages: bool,
    /// Who asked, from where (its action is set here).
    pub(crate) audit: Entry,
}

impl Eraser<'_> {
    /// Deletes `user`; `None` when there is no such account.
    pub(crate) async fn erase(&self, user: UserId) -> Result<Option<Erased>, EraseError> {
        let mut conn = self.pool.get().await.map_err(DbError::from)?;
        let Some(revoked) = erase::begin(&mut conn, user).await? else {
            return Ok(None);
        };
        if let Some(bus) = self.bus {
            for session in revoked {
                bus.revoke(user, session);
            }
        }
        let mut done = Erased::default();
        let mut dms = Vec::new();
        for left in erase::memberships(&conn, user).await? {
            match left {
                Left::Dm {
                    conversation,
                    partner,
                } => dms.push((conversation, partner)),
                Left::Group {
                    conversation,
                    role,
                    heir,
                } => {
                    let op = match (role, heir) {
                        (Role::Owner, None) => GroupOp::Delete,
                        (Role::Owner, Some(heir)) => GroupOp::Remove {
                            user,
                            new_owner: Some(heir),
                        },
                        _ => GroupOp::Remove {
                            user,
                            new_owner: None,
                        },
                    };
                    self.leave(GroupRequest {
                        conversation,
                        actor: user,
                        op,
                        audit: Entry {
                            actor: Some(user),
                            ..self.audit.clone()
                        },
                    })
                    .await?;
                    done.groups += 1;
                }
            }
        }
        // Each direct message closed through its lane: the other member keeps the history and
        // reads why nobody can send there any more.
        for (conversation, _) in &dms {
            self.leave(GroupRequest {
                conversation: *conversation,
                actor: user,
                op: GroupOp::CloseDm,
                audit: Entry {
                    actor: Some(user),
                    ..self.audit.clone()
                },
            })
            .await?;
        }
        loop {
            let scrubbed =
                erase::scrub_messages(&mut conn, user, self.delete_messages, BATCH).await?;
            if scrubbed == 0 {
                break;
            }
            done.messages += scrubbed;
        }
        let ids: Vec<_> = dms.iter().map(|(c, _)| *c).collect();
        let details = format!(
            r#"{{"messagesDeleted":{},"messages":{},"groups":{},"directMessages":{}}}"#,
            self.delete_messages,
            done.messages,
            done.groups,
            ids.len()
        );
        let entry = Entry {
            action: "user.deleted",
            ..self.audit.clone()
        }
        .user(user)
        .details(details);
        erase::finish(&mut conn, user, &entry).await?;
        done.dms = ids.len();
        tracing::info!(%user, groups = done.groups, dms = done.dms, messages = done.messages, "account deleted");
        Ok(Some(done))
    }

    /// One group or DM change through its lane (already done, or gone: nothing to do).
    async fn leave(&self, request: GroupRequest) -> Result<(), EraseError> {
        let outcome = self
            .persister
            .submit_group(request)
            .map_err(|e| EraseError::Group(e.to_string()))?
            .await
            .unwrap_or_else(|_| GroupOutcome::Failed("persister stopped".to_owned()));
        match outcome {
            GroupOutcome::Applied(_) | GroupOutcome::Refused(_) => Ok(()),
            GroupOutcome::Failed(error) => Err(EraseError::Group(error)),
        }
    }
}
