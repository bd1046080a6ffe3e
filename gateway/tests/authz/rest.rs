//! The model's REST operations: each request, the answer the model expects (membership, roles by
//! `shared::policy`, blocks, ownership of the object), and the model's change when it succeeds.

use hyper::Method;
use parley_shared::policy::{Action, ConversationKind, Role, allowed};
use parley_testkit::files;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use super::world::{Attachment, World, fail};
use super::{ConvChange, ConvRead, Foreign, MsgAsk, MsgChange, Op};

/// A reporter's open reports at most (`store::admin::MAX_OPEN_REPORTS_PER_USER`).
const MAX_OPEN_REPORTS: usize = 100;

/// 201/200/204 when the policy allows `action` to the member's role, 403 when not, 404 for a
/// non-member.
fn by_policy(world: &World<'_, '_>, c: usize, actor: usize, action: Action, ok: u16) -> u16 {
    match world.role(c, actor) {
        None => 404,
        Some(role) => match allowed(world.convs[c].kind, role, action) {
            Ok(()) => ok,
            Err(_) => 403,
        },
    }
}

impl World<'_, '_> {
    pub(crate) async fn apply_rest(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Send { c, u, .. } => {
                self.sent += 1;
                let path = format!("/api/conversations/{}/messages", self.convs[c].id);
                let body = json!({
                    "clientMessageId": format!("{}-m{}", self.word, self.sent),
                    "content": format!("{} n{}", self.word, self.sent),
                });
                let (status, body) = self.call(Method::POST, &path, u, Some(body)).await?;
                let want = self.send_status(c, u);
                self.expect(op, status, want, &body)?;
                if status == 201 {
                    let id = body["data"]["id"].as_str().unwrap_or_default().to_owned();
                    self.sent_to(id, c, u, false);
                }
            }
            Op::Read { c, u, what } => {
                let base = format!("/api/conversations/{}", self.convs[c].id);
                let path = match what {
                    ConvRead::History => format!("{base}/messages?limit=100"),
                    ConvRead::Members => format!("{base}/members"),
                    ConvRead::Notifications => format!("{base}/notifications"),
                    ConvRead::Get => base,
                };
                let (status, body) = self.call(Method::GET, &path, u, None).await?;
                self.expect(op, status, self.member_status(c, u, 200), &body)?;
                if matches!(what, ConvRead::History) && status == 200 {
                    for m in body["data"].as_array().into_iter().flatten() {
                        if m["conversationId"] != self.convs[c].id.as_str() {
                            return Err(fail(format!("LEAK: {op:?} returned {m}")));
                        }
                    }
                }
            }
            Op::Add { c, actor, target } => {
                if self.role(c, target).is_some() {
                    return Ok(());
                }
                let path = format!("/api/conversations/{}/members", self.convs[c].id);
                let body = json!({"userId": self.user(target).id});
                let (status, body) = self.call(Method::POST, &path, actor, Some(body)).await?;
                let action = Action::AddMember { role: Role::Member };
                let mut want = by_policy(self, c, actor, action, 201);
                if want == 201 && self.blocks.contains(&(target, actor)) {
                    want = 403;
                }
                self.expect(op, status, want, &body)?;
                if status == 201 {
                    self.join(c, target, Role::Member);
                }
            }
            Op::Remove { c, actor, target } => {
                let (Some(target_role), true) = (self.role(c, target), actor != target) else {
                    return Ok(());
                };
                let path = self.member_path(c, target);
                let (status, body) = self.call(Method::DELETE, &path, actor, None).await?;
                let action = Action::RemoveMember {
                    target: target_role,
                };
                self.expect(op, status, by_policy(self, c, actor, action, 204), &body)?;
                if status == 204 {
                    self.part(c, target);
                }
            }
            Op::Leave { c, u } => {
                if self.role(c, u) == Some(Role::Owner) {
                    return Ok(());
                }
                let path = self.member_path(c, u);
                let (status, body) = self.call(Method::DELETE, &path, u, None).await?;
                self.expect(op, status, self.member_status(c, u, 204), &body)?;
                if status == 204 {
                    self.part(c, u);
                }
            }
            Op::SetRole {
                c,
                actor,
                target,
                admin,
            } => {
                let (Some(target_role), true) = (self.role(c, target), actor != target) else {
                    return Ok(());
                };
                let to = if admin { Role::Admin } else { Role::Member };
                let path = self.member_path(c, target);
                let body = json!({"role": to.as_str()});
                let (status, body) = self.call(Method::PATCH, &path, actor, Some(body)).await?;
                let action = Action::SetRole {
                    target: target_role,
                    to,
                };
                self.expect(op, status, by_policy(self, c, actor, action, 200), &body)?;
                if status == 200 {
                    self.convs[c].members.insert(target, to);
                }
            }
            Op::Change { c, actor, what } => self.change(op, c, actor, what).await?,
            Op::Message { m, u, what, .. } => {
                let Some(msg) = self.msg(m) else {
                    return Ok(());
                };
                let path = format!("/api/messages/{}", msg.id);
                let (status, body) = match what {
                    MsgChange::Edit => {
                        let edit = json!({"content": format!("{} edited", self.word)});
                        self.call(Method::PATCH, &path, u, Some(edit)).await?
                    }
                    _ => self.call(Method::DELETE, &path, u, None).await?,
                };
                let want = match self.message_verdict(&msg, u, what) {
                    Ok(()) => 200,
                    Err("NOT_FOUND") => 404,
                    Err(_) => 403,
                };
                self.expect(op, status, want, &body)?;
                if matches!(what, MsgChange::Delete) && status == 200 {
                    self.deleted(&msg.id);
                }
            }
            Op::Ask { m, u, what } => self.ask_message(op, m, u, what).await?,
            Op::Search { u } => {
                let path = format!("/api/search/messages?q={}&limit=50", self.word);
                let (status, body) = self.call(Method::GET, &path, u, None).await?;
                self.expect(op, status, 200, &body)?;
                for hit in body["data"].as_array().into_iter().flatten() {
                    let conv = hit["message"]["conversationId"]
                        .as_str()
                        .unwrap_or_default();
                    let c = self.convs.iter().position(|x| x.id == conv);
                    if c.is_none_or(|c| self.role(c, u).is_none()) {
                        return Err(fail(format!("LEAK: {op:?} found {hit}")));
                    }
                }
            }
            Op::Attach { c, u } => self.attach(op, c, u).await?,
            Op::Fetch { a, u } => {
                let Some(att) = self.attachments.get(a % self.attachments.len().max(1)) else {
                    return Ok(());
                };
                let path = format!("/api/attachments/{}", att.id);
                let held = self.msgs.iter().any(|m| m.id == att.message && !m.deleted);
                let want = if held {
                    self.member_status(att.conv, u, 200)
                } else {
                    404
                };
                let (status, _) = self.call(Method::GET, &path, u, None).await?;
                self.expect(op, status, want, &Value::Null)?;
            }
            Op::Block { u, target, on } => {
                if u == target {
                    return Ok(());
                }
                let had = self.blocks.contains(&(u, target));
                let (status, body) = if on {
                    let body = json!({"userId": self.user(target).id});
                    self.call(Method::POST, "/api/users/me/blocks", u, Some(body))
                        .await?
                } else {
                    let path = format!("/api/users/me/blocks/{}", self.user(target).id);
                    self.call(Method::DELETE, &path, u, None).await?
                };
                let want = match (on, had) {
                    (true, false) => 201,
                    (true, true) => 200,
                    (false, true) => 204,
                    (false, false) => 404,
                };
                self.expect(op, status, want, &body)?;
                if on {
                    self.blocks.insert((u, target));
                } else {
                    self.blocks.remove(&(u, target));
                }
            }
            Op::Foreign { u, owner, what } => {
                let (method, path, want) = match what {
                    Foreign::Session if owner != u => (
                        Method::DELETE,
                        format!("/api/auth/sessions/{}", self.cast.sessions[owner]),
                        404,
                    ),
                    Foreign::Export if u != 0 => (
                        Method::GET,
                        format!("/api/users/me/exports/{}/download", self.cast.export),
                        404,
                    ),
                    Foreign::AdminUser => (
                        Method::GET,
                        format!("/api/admin/users/{}", self.user(owner).id),
                        403,
                    ),
                    _ => return Ok(()),
                };
                let (status, body) = self.call(method, &path, u, None).await?;
                self.expect(op, status, want, &body)?;
            }
            Op::Event { .. } | Op::Presence { .. } => {
                return Err(fail(format!("{op:?} is a WebSocket op")));
            }
        }
        Ok(())
    }

    fn member_path(&self, c: usize, u: usize) -> String {
        format!(
            "/api/conversations/{}/members/{}",
            self.convs[c].id,
            self.user(u).id
        )
    }

    /// 201 for a member, 403 for one the DM's other member blocked, 404 for anyone else.
    pub(crate) fn send_status(&self, c: usize, u: usize) -> u16 {
        match self.role(c, u) {
            None => 404,
            Some(_) if self.blocked_in(c, u) => 403,
            Some(_) => 201,
        }
    }

    /// Whether `u` may edit, delete or react to `msg`; else the error code.
    pub(crate) fn message_verdict(
        &self,
        msg: &super::world::Msg,
        u: usize,
        what: MsgChange,
    ) -> Result<(), &'static str> {
        // A delete is idempotent (a retry answers the deleted message); a deleted message is
        // gone for edits and reactions.
        let gone = msg.deleted && !matches!(what, MsgChange::Delete);
        let Some(role) = self.role(msg.conv, u).filter(|_| !gone) else {
            return Err("NOT_FOUND");
        };
        let group = self.convs[msg.conv].kind == ConversationKind::Group;
        match what {
            MsgChange::React => Ok(()),
            _ if msg.sender == u => Ok(()),
            MsgChange::Delete if group && matches!(role, Role::Owner | Role::Admin) => Ok(()),
            _ => Err("FORBIDDEN"),
        }
    }

    pub(crate) fn deleted(&mut self, id: &str) {
        if let Some(stored) = self.msgs.iter_mut().find(|x| x.id == id) {
            stored.deleted = true;
        }
    }

    async fn change(
        &mut self,
        op: &Op,
        c: usize,
        actor: usize,
        what: ConvChange,
    ) -> Result<(), TestCaseError> {
        let path = format!("/api/conversations/{}", self.convs[c].id);
        let (method, path, body, want) = match what {
            ConvChange::Rename => (
                Method::PATCH,
                path,
                Some(json!({"name": format!("{} renamed", self.word)})),
                by_policy(self, c, actor, Action::Update, 200),
            ),
            ConvChange::Retention => (
                Method::PUT,
                format!("{path}/retention"),
                Some(json!({"messages": null})),
                by_policy(self, c, actor, Action::SetRetention, 200),
            ),
            ConvChange::Notifications => (
                Method::PUT,
                format!("{path}/notifications"),
                Some(json!({"level": "all"})),
                self.member_status(c, actor, 200),
            ),
            ConvChange::Delete => (
                Method::DELETE,
                path,
                None,
                by_policy(self, c, actor, Action::Delete, 204),
            ),
        };
        let (status, body) = self.call(method, &path, actor, body).await?;
        self.expect(op, status, want, &body)?;
        if matches!(what, ConvChange::Delete) && status == 204 {
            self.gone[c] = true;
            let members: Vec<usize> = self.convs[c].members.keys().copied().collect();
            for u in members {
                self.part(c, u);
            }
        }
        Ok(())
    }

    async fn ask_message(
        &mut self,
        op: &Op,
        m: usize,
        u: usize,
        what: MsgAsk,
    ) -> Result<(), TestCaseError> {
        let Some(msg) = self.msg(m) else {
            return Ok(());
        };
        let path = format!("/api/messages/{}", msg.id);
        let visible = self.role(msg.conv, u).is_some() && !msg.deleted;
        let (method, path, body, want) = match what {
            MsgAsk::Receipts if !msg.deleted => (
                Method::GET,
                format!("{path}/receipts"),
                None,
                if visible { 200 } else { 404 },
            ),
            MsgAsk::Receipts => return Ok(()),
            MsgAsk::Report => {
                let mine = self.ledger.reports.entry(u).or_default();
                let want = match (visible, mine.contains(&msg.id)) {
                    (false, _) => 404,
                    (true, true) => 201,
                    (true, false) if mine.len() >= MAX_OPEN_REPORTS => 429,
                    (true, false) => 201,
                };
                let body = json!({"reason": "the model's report"});
                (Method::POST, format!("{path}/report"), Some(body), want)
            }
            MsgAsk::AdminDelete => (
                Method::DELETE,
                format!("/api/admin/messages/{}", msg.id),
                None,
                403,
            ),
        };
        let (status, body) = self.call(method, &path, u, body).await?;
        self.expect(op, status, want, &body)?;
        if matches!(what, MsgAsk::Report) && status == 201 {
            self.ledger.reports.entry(u).or_default().insert(msg.id);
        }
        Ok(())
    }

    /// Uploads a PDF as `u` and sends it in `c`.
    async fn attach(&mut self, op: &Op, c: usize, u: usize) -> Result<(), TestCaseError> {
        let uploaded = self
            .cast
            .api
            .upload(self.user(u), "model.pdf", files::pdf())
            .await
            .map_err(|e| fail(format!("upload: {e}")))?;
        if uploaded.status.as_u16() != 201 {
            return Err(fail(format!(
                "WRONG REFUSAL: {op:?}: upload answered {} {}",
                uploaded.status, uploaded.body
            )));
        }
        let att = uploaded.body["data"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.sent += 1;
        let path = format!("/api/conversations/{}/messages", self.convs[c].id);
        let body = json!({
            "clientMessageId": format!("{}-a{}", self.word, self.sent),
            "attachments": [att],
        });
        let (status, body) = self.call(Method::POST, &path, u, Some(body)).await?;
        self.expect(op, status, self.send_status(c, u), &body)?;
        if status == 201 {
            let message = body["data"]["id"].as_str().unwrap_or_default().to_owned();
            self.msgs.push(super::world::Msg {
                id: message.clone(),
                conv: c,
                sender: u,
                deleted: false,
            });
            self.attachments.push(Attachment {
                id: att,
                conv: c,
                message,
            });
        }
        Ok(())
    }
}
