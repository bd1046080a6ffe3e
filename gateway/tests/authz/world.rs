//! The model's state: the conversations of one case with their members and roles, the messages
//! and attachments sent so far, blocks, the sockets' subscriptions and focus, and (across cases,
//! in `Ledger`) who was ever let into each conversation and who each message was for.

use std::collections::{BTreeMap, BTreeSet};

use hyper::Method;
use parley_shared::policy::{ConversationKind, Role};
use parley_testkit::api::{Api, TestUser};
use parley_testkit::ws::WsClient;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

use super::{CONVS, Op, USERS};

/// What the model knows of one conversation.
#[derive(Debug, Clone)]
pub(crate) struct Conv {
    pub(crate) id: String,
    pub(crate) kind: ConversationKind,
    pub(crate) members: BTreeMap<usize, Role>,
}

#[derive(Debug, Clone)]
pub(crate) struct Msg {
    pub(crate) id: String,
    pub(crate) conv: usize,
    /// `USERS` for the stranger.
    pub(crate) sender: usize,
    pub(crate) deleted: bool,
}

/// An attachment sent in a message.
#[derive(Debug, Clone)]
pub(crate) struct Attachment {
    pub(crate) id: String,
    pub(crate) conv: usize,
    pub(crate) message: String,
}

/// A `receipt:read` whose refusal (or its absence) is checked once the marks were written.
#[derive(Debug, Clone)]
pub(crate) struct Mark {
    pub(crate) id: String,
    pub(crate) c: usize,
    pub(crate) u: usize,
    pub(crate) member: bool,
    /// `Case::epoch` of (c, u) when it was sent: a membership change since makes either answer
    /// right.
    pub(crate) epoch: usize,
}

/// What the model keeps over every case of a run.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Who each text message was for (the members when it was sent, less a WebSocket sender).
    pub(crate) sent: BTreeMap<String, BTreeSet<usize>>,
    /// Who was ever a member of each conversation (by id): nobody else may hear of it.
    pub(crate) ever: BTreeMap<String, BTreeSet<usize>>,
    /// The member sets earlier cases' groups ended with (who shares a conversation, for presence).
    pub(crate) shared: Vec<BTreeSet<usize>>,
    /// Open reports per user (a reporter has at most 100) and the messages each reported.
    pub(crate) reports: BTreeMap<usize, BTreeSet<String>>,
    /// Answers seen, by status or event (what the model expected, since they matched).
    pub(crate) answers: BTreeMap<String, usize>,
}

/// The fixed parts of a run: the gateway's API, the users and the ids they only know of others.
pub(crate) struct Cast<'a> {
    pub(crate) api: Api,
    pub(crate) users: &'a [TestUser],
    pub(crate) stranger: &'a TestUser,
    /// Each user's session id (for `DELETE /api/auth/sessions/{id}` by someone else).
    pub(crate) sessions: Vec<String>,
    /// User 0's data export.
    pub(crate) export: String,
}

pub(crate) struct World<'a, 'b> {
    pub(crate) cast: &'b Cast<'a>,
    pub(crate) sockets: &'b mut [WsClient],
    pub(crate) ledger: &'b mut Ledger,
    pub(crate) convs: Vec<Conv>,
    /// Whether the case's group at that index was deleted.
    pub(crate) gone: [bool; CONVS],
    pub(crate) msgs: Vec<Msg>,
    pub(crate) attachments: Vec<Attachment>,
    /// `(blocker, blocked)`.
    pub(crate) blocks: BTreeSet<(usize, usize)>,
    /// Conversations each user's socket subscribed to (and is still a member of).
    pub(crate) subscribed: [BTreeSet<usize>; USERS],
    /// Subscriptions whose member was removed since: the server drops them on the removal's
    /// fan-out, which may still be on its way when the next typing event comes.
    pub(crate) lapsing: [BTreeSet<usize>; USERS],
    pub(crate) focus: [Option<usize>; USERS],
    /// Membership changes per (conversation, user).
    pub(crate) epoch: BTreeMap<(usize, usize), usize>,
    pub(crate) marks: Vec<Mark>,
    pub(crate) word: String,
    pub(crate) sent: usize,
}

pub(crate) fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

/// Whether an answer refuses: a 4xx status or an error code (`NOT_FOUND`), not a success status
/// or a reply event (`message:sent`).
fn refusal(answer: &str) -> bool {
    answer.starts_with('4') || answer.chars().all(|c| c.is_ascii_uppercase() || c == '_')
}

impl<'a, 'b> World<'a, 'b> {
    pub(crate) fn new(
        cast: &'b Cast<'a>,
        sockets: &'b mut [WsClient],
        ledger: &'b mut Ledger,
        convs: Vec<Conv>,
        word: String,
    ) -> Self {
        for conv in &convs {
            ledger
                .ever
                .entry(conv.id.clone())
                .or_default()
                .extend(conv.members.keys().copied());
        }
        World {
            cast,
            sockets,
            ledger,
            convs,
            gone: [false; CONVS],
            msgs: Vec::new(),
            attachments: Vec::new(),
            blocks: BTreeSet::new(),
            subscribed: Default::default(),
            lapsing: Default::default(),
            focus: [None; USERS],
            epoch: BTreeMap::new(),
            marks: Vec::new(),
            word,
            sent: 0,
        }
    }

    pub(crate) fn role(&self, c: usize, u: usize) -> Option<Role> {
        self.convs[c].members.get(&u).copied()
    }

    /// Whether `u` and `v` are both members of some conversation (this case's or an earlier's).
    pub(crate) fn share(&self, u: usize, v: usize) -> bool {
        self.convs
            .iter()
            .any(|c| c.members.contains_key(&u) && c.members.contains_key(&v))
            || self
                .ledger
                .shared
                .iter()
                .any(|m| m.contains(&u) && m.contains(&v))
    }

    /// Whether the other member of the DM blocked `u` (their sends there are refused).
    pub(crate) fn blocked_in(&self, c: usize, u: usize) -> bool {
        self.convs[c].kind == ConversationKind::Dm
            && self.convs[c]
                .members
                .keys()
                .any(|&v| v != u && self.blocks.contains(&(v, u)))
    }

    pub(crate) fn join(&mut self, c: usize, u: usize, role: Role) {
        self.convs[c].members.insert(u, role);
        *self.epoch.entry((c, u)).or_default() += 1;
        let id = self.convs[c].id.clone();
        self.ledger.ever.entry(id).or_default().insert(u);
    }

    pub(crate) fn part(&mut self, c: usize, u: usize) {
        self.convs[c].members.remove(&u);
        *self.epoch.entry((c, u)).or_default() += 1;
        if u < USERS && self.subscribed[u].remove(&c) {
            self.lapsing[u].insert(c);
        }
    }

    pub(crate) fn user(&self, u: usize) -> &TestUser {
        self.cast.users.get(u).unwrap_or(self.cast.stranger)
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        u: usize,
        body: Option<Value>,
    ) -> Result<(u16, Value), TestCaseError> {
        let r = self
            .cast
            .api
            .send(method, path, Some(self.user(u)), body.as_ref())
            .await
            .map_err(|e| fail(format!("{path}: {e}")))?;
        Ok((r.status.as_u16(), r.body))
    }

    /// Compares an answer (an HTTP status, or a WebSocket event or error code) with the model's.
    pub(crate) fn expect<T: PartialEq + std::fmt::Display>(
        &mut self,
        op: &Op,
        got: T,
        want: T,
        body: &Value,
    ) -> Result<(), TestCaseError> {
        if got == want {
            *self.ledger.answers.entry(got.to_string()).or_default() += 1;
            return Ok(());
        }
        let kind = if refusal(&want.to_string()) && !refusal(&got.to_string()) {
            "LEAK (allowed what the model refuses)"
        } else {
            "WRONG REFUSAL (or the wrong one)"
        };
        Err(fail(format!(
            "{kind}: {op:?}: got {got}, model says {want}: {body}"
        )))
    }

    /// `ok` for a member, 404 for anyone else.
    pub(crate) fn member_status(&self, c: usize, u: usize, ok: u16) -> u16 {
        if self.role(c, u).is_some() { ok } else { 404 }
    }

    /// The message an op names (`m` modulo those sent), if any was.
    pub(crate) fn msg(&self, m: usize) -> Option<Msg> {
        self.msgs.get(m % self.msgs.len().max(1)).cloned()
    }

    pub(crate) async fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Send { ws: true, .. }
            | Op::Message { ws: true, .. }
            | Op::Message {
                what: super::MsgChange::React,
                ..
            }
            | Op::Event { .. }
            | Op::Presence { .. } => self.apply_ws(op).await,
            _ => self.apply_rest(op).await,
        }
    }

    /// Records a committed text message and who must receive it.
    pub(crate) fn sent_to(&mut self, id: String, c: usize, sender: usize, ws: bool) {
        let mut to: BTreeSet<usize> = self.convs[c].members.keys().copied().collect();
        if ws {
            to.remove(&sender);
        }
        self.ledger.sent.insert(id.clone(), to);
        self.msgs.push(Msg {
            id,
            conv: c,
            sender,
            deleted: false,
        });
    }
}
