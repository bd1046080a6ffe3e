//! The model's WebSocket operations, each on the acting user's own socket: sends, edits, deletes
//! and reactions (answered after commit), subscriptions, typing, read marks, sync, focus and
//! presence watches. An event answered only when refused is followed by a `ping`: the socket's
//! events are handled in order, so a refusal arrives before the `pong`.

use std::collections::BTreeSet;

use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use super::world::{Mark, World, fail};
use super::{ConvEvent, MsgChange, Op, USERS};

/// What answered: the reply event, or the error's code.
fn answer(frame: &Value) -> String {
    match frame["event"].as_str() {
        Some("error" | "message:error") => frame["data"]["code"].as_str().unwrap_or("?").to_owned(),
        Some(event) => event.to_owned(),
        None => "?".to_owned(),
    }
}

impl World<'_, '_> {
    fn next_id(&mut self) -> String {
        self.sent += 1;
        format!("{}-w{}", self.word, self.sent)
    }

    async fn ask(
        &mut self,
        u: usize,
        event: &str,
        id: &str,
        data: Value,
    ) -> Result<Value, TestCaseError> {
        self.sockets[u]
            .ask(event, id, data)
            .await
            .map_err(|e| fail(format!("socket {u}: {event}: {e}")))
    }

    /// Sends an event answered only when refused; the refusal's code, if one came.
    async fn tell(
        &mut self,
        u: usize,
        event: &str,
        data: Value,
    ) -> Result<Option<String>, TestCaseError> {
        let id = self.next_id();
        let socket = &mut self.sockets[u];
        socket
            .send(&json!({"event": event, "id": id, "data": data}))
            .await
            .map_err(|e| fail(format!("socket {u}: {e}")))?;
        let ping = format!("{id}-ping");
        self.ask(u, "ping", &ping, json!({})).await?;
        Ok(self.sockets[u]
            .backlog()
            .iter()
            .find(|f| f["id"] == id.as_str())
            .map(answer))
    }

    pub(crate) async fn apply_ws(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Send { c, u, .. } => {
                let id = self.next_id();
                let data = json!({
                    "conversationId": self.convs[c].id,
                    "clientMessageId": id,
                    "content": format!("{} n{}", self.word, self.sent),
                });
                let frame = self.ask(u, "message:send", &id, data).await?;
                let want = match self.send_status(c, u) {
                    201 => "message:sent",
                    403 => "FORBIDDEN",
                    _ => "NOT_FOUND",
                };
                self.expect(op, answer(&frame).as_str(), want, &frame)?;
                if frame["event"] == "message:sent" {
                    let message = &frame["data"]["message"];
                    let got = message["conversationId"].as_str().unwrap_or_default();
                    if got != self.convs[c].id {
                        return Err(fail(format!("{op:?}: stored in {got}: {frame}")));
                    }
                    let m = message["id"].as_str().unwrap_or_default().to_owned();
                    self.sent_to(m, c, u, true);
                }
            }
            Op::Message { m, u, what, .. } => {
                let Some(msg) = self.msg(m) else {
                    return Ok(());
                };
                let (event, data, reply) = match what {
                    MsgChange::Edit => (
                        "message:edit",
                        json!({"messageId": msg.id, "content": format!("{} edited", self.word)}),
                        "message:edited",
                    ),
                    MsgChange::Delete => (
                        "message:delete",
                        json!({"messageId": msg.id}),
                        "message:deleted",
                    ),
                    MsgChange::React => (
                        "message:react",
                        json!({"messageId": msg.id, "emoji": "👍", "action": "add"}),
                        "message:reacted",
                    ),
                };
                let id = self.next_id();
                let frame = self.ask(u, event, &id, data).await?;
                let want = self.message_verdict(&msg, u, what).err().unwrap_or(reply);
                self.expect(op, answer(&frame).as_str(), want, &frame)?;
                if matches!(what, MsgChange::Delete) && frame["event"] == reply {
                    self.deleted(&msg.id);
                }
            }
            Op::Event { c, u, what } => self.event(op, c, u, what).await?,
            Op::Presence { u, ref targets } => {
                let ids: Vec<String> = targets
                    .iter()
                    .filter(|&&t| t != u)
                    .map(|&t| self.user(t).id.clone())
                    .collect();
                if ids.is_empty() {
                    return Ok(());
                }
                let id = self.next_id();
                let frame = self
                    .ask(u, "presence:subscribe", &id, json!({"userIds": ids}))
                    .await?;
                self.expect(op, answer(&frame).as_str(), "presence:subscribed", &frame)?;
                let got: BTreeSet<String> = frame["data"]["users"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x["userId"].as_str().map(str::to_owned))
                    .collect();
                let want: BTreeSet<String> = targets
                    .iter()
                    .filter(|&&t| t != u && t < USERS && self.share(u, t))
                    .map(|&t| self.user(t).id.clone())
                    .collect();
                if got != want {
                    let kind = if got.is_subset(&want) {
                        "WRONG REFUSAL"
                    } else {
                        "LEAK"
                    };
                    return Err(fail(format!(
                        "{kind}: {op:?}: watched {got:?}, model says {want:?}"
                    )));
                }
            }
            _ => return Err(fail(format!("{op:?} is a REST op"))),
        }
        Ok(())
    }

    async fn event(
        &mut self,
        op: &Op,
        c: usize,
        u: usize,
        what: ConvEvent,
    ) -> Result<(), TestCaseError> {
        let conv = json!({"conversationId": self.convs[c].id});
        let member = self.role(c, u).is_some();
        match what {
            ConvEvent::Subscribe => {
                let id = self.next_id();
                let frame = self.ask(u, "subscribe", &id, conv).await?;
                let want = if member { "subscribed" } else { "NOT_FOUND" };
                self.expect(op, answer(&frame).as_str(), want, &frame)?;
                if frame["event"] == "subscribed" {
                    self.subscribed[u].insert(c);
                    self.lapsing[u].remove(&c);
                }
            }
            ConvEvent::Typing => {
                let got = self.tell(u, "typing:start", conv).await?;
                if self.lapsing[u].contains(&c) {
                    return Ok(());
                }
                let want =
                    (!self.subscribed[u].contains(&c)).then(|| "VALIDATION_ERROR".to_owned());
                self.expect(op, shown(got).as_str(), shown(want).as_str(), &Value::Null)?;
            }
            ConvEvent::Focus => {
                let got = self.tell(u, "focus", conv).await?;
                let want = (!member && self.focus[u] != Some(c)).then(|| "NOT_FOUND".to_owned());
                self.expect(
                    op,
                    shown(got.clone()).as_str(),
                    shown(want).as_str(),
                    &Value::Null,
                )?;
                if got.is_none() {
                    self.focus[u] = Some(c);
                }
            }
            ConvEvent::Mark => {
                let id = self.next_id();
                let data = json!({"conversationId": self.convs[c].id, "seq": 1});
                self.sockets[u]
                    .send(&json!({"event": "receipt:read", "id": id, "data": data}))
                    .await
                    .map_err(|e| fail(format!("socket {u}: {e}")))?;
                let epoch = self.epoch.get(&(c, u)).copied().unwrap_or_default();
                self.marks.push(Mark {
                    id,
                    c,
                    u,
                    member,
                    epoch,
                });
            }
            ConvEvent::Sync => {
                let id = self.next_id();
                let data =
                    json!({"conversations": [{"conversationId": self.convs[c].id, "lastSeq": 0}]});
                let mut frame = self.ask(u, "sync:request", &id, data).await?;
                let want = if member { "sync:response" } else { "NOT_FOUND" };
                self.expect(op, answer(&frame).as_str(), want, &frame)?;
                while frame["event"] == "sync:response" {
                    let data = &frame["data"];
                    let foreign = data["messages"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .chain(data["changes"].as_array().into_iter().flatten())
                        .any(|m| m["conversationId"] != self.convs[c].id.as_str());
                    if data["conversationId"] != self.convs[c].id.as_str() || foreign {
                        return Err(fail(format!("LEAK: {op:?} answered {frame}")));
                    }
                    if data["hasMore"] != true {
                        break;
                    }
                    frame = self.sockets[u]
                        .expect_where_any(|f| f["id"] == id.as_str())
                        .await
                        .map_err(|e| fail(format!("socket {u}: sync: {e}")))?;
                }
            }
        }
        Ok(())
    }
}

/// An answer that may be none, for the report.
fn shown(answer: Option<String>) -> String {
    answer.unwrap_or_else(|| "(no answer)".to_owned())
}
