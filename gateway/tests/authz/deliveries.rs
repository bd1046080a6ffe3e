//! The end of a case: every user's socket must have received exactly the text messages of the
//! conversations they were in when each was sent; no frame about a conversation (a message, an
//! edit, a reaction, a receipt, a badge, a toast, typing, a group change, a sync page) may reach
//! a user who was never let into it; a read mark is refused exactly when its user is not a
//! member (unless their membership changed while the mark was on its way).

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use super::world::{World, fail};

/// The conversation a server frame is about, if it names one.
fn about(frame: &Value) -> Option<&str> {
    let data = &frame["data"];
    data["conversationId"]
        .as_str()
        .or_else(|| data["message"]["conversationId"].as_str())
}

fn text_id(frame: &Value) -> Option<String> {
    let message = &frame["data"]["message"];
    (frame["event"] == "message:received"
        && message["contentType"] == "text"
        && message["content"]
            .as_str()
            .is_some_and(|t| t.starts_with("authzcase")))
    .then(|| message["id"].as_str().unwrap_or_default().to_owned())
}

impl World<'_, '_> {
    /// Checks every socket; the number of frames checked.
    pub(crate) async fn check_deliveries(&mut self) -> Result<usize, TestCaseError> {
        if self.marks.iter().any(|m| m.member) {
            // Marks are written after `persister.read_flush_interval` (100 ms): a wrong refusal
            // would come by then.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let mut checked = 0;
        for u in 0..self.sockets.len() {
            checked += self.check_socket(u).await?;
        }
        Ok(checked)
    }

    async fn check_socket(&mut self, u: usize) -> Result<usize, TestCaseError> {
        // Also keeps the socket from being closed as silent over a long run.
        let socket_error = |e: anyhow::Error| fail(format!("socket {u}: {e}"));
        self.sockets[u]
            .send(&json!({"event": "ping", "id": "keep"}))
            .await
            .map_err(socket_error)?;
        let expected: BTreeSet<String> = self
            .ledger
            .sent
            .iter()
            .filter(|(id, to)| to.contains(&u) && self.msgs.iter().any(|m| &m.id == *id))
            .map(|(id, _)| id.clone())
            .collect();
        // Refusals that must come: marks by a non-member whose membership held.
        let refusals: BTreeSet<String> = self
            .marks
            .iter()
            .filter(|m| m.u == u && !m.member && self.epoch_now(m.c, u) == m.epoch)
            .map(|m| m.id.clone())
            .collect();
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            self.sockets[u]
                .drain_for(Duration::from_millis(20))
                .await
                .map_err(socket_error)?;
            frames.extend(self.sockets[u].take_all());
            let texts: BTreeSet<String> = frames.iter().filter_map(text_id).collect();
            let ids: BTreeSet<&str> = frames.iter().filter_map(|f| f["id"].as_str()).collect();
            let complete = expected.iter().all(|id| texts.contains(id))
                && refusals.iter().all(|id| ids.contains(id.as_str()));
            if complete || tokio::time::Instant::now() > deadline {
                break;
            }
        }
        let texts: BTreeSet<String> = frames.iter().filter_map(text_id).collect();
        if let Some(missing) = expected.iter().find(|id| !texts.contains(*id)) {
            return Err(fail(format!(
                "WRONG REFUSAL: user {u} never received {missing}"
            )));
        }
        for id in &texts {
            match self.ledger.sent.get(id) {
                Some(to) if to.contains(&u) => {}
                Some(to) => {
                    return Err(fail(format!(
                        "LEAK: user {u} received {id}, sent to {to:?}"
                    )));
                }
                None => {
                    return Err(fail(format!(
                        "LEAK: user {u} received {id}, which nobody sent to them"
                    )));
                }
            }
        }
        for frame in &frames {
            if let Some(conv) = about(frame)
                && !self
                    .ledger
                    .ever
                    .get(conv)
                    .is_some_and(|who| who.contains(&u))
            {
                return Err(fail(format!(
                    "LEAK: user {u}, never a member of {conv}, received {frame}"
                )));
            }
        }
        self.check_marks(u, &frames)?;
        Ok(frames.len())
    }

    fn epoch_now(&self, c: usize, u: usize) -> usize {
        self.epoch.get(&(c, u)).copied().unwrap_or_default()
    }

    fn check_marks(&mut self, u: usize, frames: &[Value]) -> Result<(), TestCaseError> {
        let marks: Vec<_> = self.marks.iter().filter(|m| m.u == u).cloned().collect();
        for mark in marks {
            if self.epoch_now(mark.c, u) != mark.epoch {
                continue;
            }
            let refused = frames
                .iter()
                .find(|f| f["id"] == mark.id.as_str())
                .map(|f| f["data"]["code"].as_str().unwrap_or("?").to_owned());
            let want = (!mark.member).then(|| "NOT_FOUND".to_owned());
            if refused != want {
                let kind = if mark.member { "WRONG REFUSAL" } else { "LEAK" };
                return Err(fail(format!(
                    "{kind}: user {u}'s read mark in conversation {}: answered {refused:?}, model says {want:?}",
                    mark.c
                )));
            }
            *self.ledger.answers.entry("mark".to_owned()).or_default() += 1;
        }
        Ok(())
    }
}
