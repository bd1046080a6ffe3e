//! One lane: a connection and a loop that claims waiting partitions (`partitions.rs`), takes
//! whatever they hold (up to `max_batch`), commits it with retries, and only then answers each
//! send, in order, and releases the partitions.

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use tracing::Instrument;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use parley_shared::{ConversationId, UserId};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::batch::{self, NewMessage, Verdict};
use super::change::{self, ChangeOutcome, ChangeRequest};
use super::group::{self, GroupEvent, GroupOutcome, GroupRequest};
use super::indexer::IndexFeed;
use super::members::MemberCache;
use super::partitions::Partitions;
use super::reads;
use super::{ChangeReply, CommitSink, Job, Outcome, Reply, SinkEvent, WriterSettings};
use crate::PgConfig;

pub(super) struct Lane {
    index: usize,
    db: PgConfig,
    settings: WriterSettings,
    sink: Arc<dyn CommitSink>,
    search: IndexFeed,
    client: Option<(Client, batch::Prepared)>,
    parts: Rc<Partitions>,
    members: Rc<RefCell<MemberCache>>,
}

/// What every lane shares: the settings, where events go, and the partitions and member cache.
pub(super) struct Shared {
    pub(super) db: PgConfig,
    pub(super) settings: WriterSettings,
    pub(super) sink: Arc<dyn CommitSink>,
    pub(super) search: IndexFeed,
    pub(super) parts: Rc<Partitions>,
    pub(super) members: Rc<RefCell<MemberCache>>,
}

impl Lane {
    pub(super) fn new(index: usize, shared: &Shared) -> Self {
        Self {
            index,
            db: shared.db.clone(),
            settings: shared.settings.clone(),
            sink: Arc::clone(&shared.sink),
            search: shared.search.clone(),
            client: None,
            parts: Rc::clone(&shared.parts),
            members: Rc::clone(&shared.members),
        }
    }

    /// Runs until every queue is closed and empty. Each turn claims the waiting partitions and
    /// takes what they hold (up to `max_batch`): the sends commit as one batch, then each change
    /// in its own transaction, then the partitions' read marks that are due (gathered for up to
    /// `read_flush_interval`) in one more, and only then are the partitions released.
    pub(super) async fn run(mut self) {
        let mut sends: Vec<(NewMessage, Reply)> = Vec::with_capacity(self.settings.max_batch);
        let mut changes: Vec<(ChangeRequest, ChangeReply)> = Vec::new();
        let mut groups: Vec<(GroupRequest, oneshot::Sender<GroupOutcome>)> = Vec::new();
        let mut queued: Vec<std::time::Instant> = Vec::with_capacity(self.settings.max_batch);
        loop {
            let claimed = self.parts.claim(Instant::now());
            if claimed.is_empty() {
                if self.parts.finished() {
                    // Pass the last handle's wake-up on to the next idle lane.
                    self.parts.work.notify_one();
                    break;
                }
                match self.parts.next_flush() {
                    None => self.parts.work.notified().await,
                    Some(at) => tokio::select! {
                        biased;
                        () = self.parts.work.notified() => {}
                        () = tokio::time::sleep_until(at) => {}
                    },
                }
                continue;
            }
            let mut taken = 0;
            for &partition in &claimed {
                while taken < self.settings.max_batch {
                    let Some(job) = self.parts.take(partition) else {
                        break;
                    };
                    taken += 1;
                    match job {
                        Job::Send {
                            message,
                            reply,
                            queued_at,
                        } => {
                            sends.push((message, reply));
                            queued.push(queued_at);
                        }
                        Job::Change { request, reply } => changes.push((request, reply)),
                        Job::Group { request, reply } => groups.push((request, reply)),
                        Job::Read(mark) => self.parts.add_read(
                            partition,
                            mark,
                            Instant::now() + self.settings.read_flush_interval,
                        ),
                    }
                }
            }
            if self.parts.waiting(Instant::now()) {
                // More than this lane took: another lane commits it meanwhile.
                self.parts.work.notify_one();
            }
            self.commit_taken(&mut sends, &mut queued, &mut changes)
                .await;
            for (request, reply) in groups.drain(..) {
                let span = tracing::debug_span!("group", lane = self.index);
                let outcome = self.group_with_retries(&request).instrument(span).await;
                self.answer_group(outcome, reply);
            }
            let marks = self.parts.due_reads(&claimed, Instant::now());
            if !marks.is_empty() {
                let span = tracing::debug_span!("reads", lane = self.index, marks = marks.len());
                self.flush_reads(&marks).instrument(span).await;
            }
            self.parts.release(&claimed);
        }
    }

    /// Commits the taken sends as one batch and answers them, then each change.
    async fn commit_taken(
        &mut self,
        sends: &mut Vec<(NewMessage, Reply)>,
        queued: &mut Vec<std::time::Instant>,
        changes: &mut Vec<(ChangeRequest, ChangeReply)>,
    ) {
        if !sends.is_empty() {
            let span = tracing::debug_span!("batch", lane = self.index, batch.len = sends.len());
            let (outcomes, members) = self.commit_with_retries(sends).instrument(span).await;
            let committed = std::time::Instant::now();
            for at in queued.drain(..) {
                let waited = committed.saturating_duration_since(at);
                self.settings
                    .metrics
                    .send_to_commit_seconds
                    .observe(waited.as_secs_f64());
            }
            self.answer(sends.drain(..).map(|(_, reply)| reply), outcomes, &members);
        }
        for (request, reply) in changes.drain(..) {
            let span = tracing::debug_span!("change", lane = self.index);
            let outcome = self.change_with_retries(&request).instrument(span).await;
            self.answer_change(outcome, reply);
        }
    }

    /// Fan-out first (in commit order), then the direct answers.
    fn answer(
        &self,
        replies: impl Iterator<Item = Reply>,
        outcomes: Vec<Outcome>,
        members: &HashMap<ConversationId, Arc<[UserId]>>,
    ) {
        let committed_at = std::time::Instant::now();
        let mut tops: HashMap<ConversationId, i64> = HashMap::new();
        let mut events = Vec::new();
        let mut direct = Vec::new();
        for (reply, outcome) in replies.zip(outcomes) {
            let (origin, outcome) = match reply {
                Reply::Socket(origin) => (Some(origin), outcome),
                Reply::Direct(reply) => {
                    // Only a new message also goes to the fan-out; nothing else needs a copy.
                    let fanned = match &outcome {
                        Outcome::Stored(Verdict::Inserted(_)) => Some(outcome.clone()),
                        _ => None,
                    };
                    direct.push((reply, outcome));
                    match fanned {
                        Some(outcome) => (None, outcome),
                        None => continue,
                    }
                }
            };
            match outcome {
                Outcome::Stored(Verdict::Inserted(message)) => {
                    let top = tops.entry(message.conversation_id).or_insert(message.seq);
                    *top = (*top).max(message.seq);
                    let members = members
                        .get(&message.conversation_id)
                        .cloned()
                        .unwrap_or_else(|| Arc::from(Vec::new()));
                    events.push(SinkEvent::Committed {
                        message,
                        members,
                        origin,
                        committed_at,
                    });
                }
                outcome => {
                    if let Some(origin) = origin {
                        events.push(SinkEvent::Answered { origin, outcome });
                    }
                }
            }
        }
        if !events.is_empty() {
            self.sink.publish(events);
        }
        for (conversation, seq) in tops {
            self.search.committed(conversation.0, seq);
        }
        for (reply, outcome) in direct {
            // The requester may have gone; the message is stored regardless.
            let _ = reply.send(outcome);
        }
    }

    async fn commit_with_retries(
        &mut self,
        jobs: &[(NewMessage, Reply)],
    ) -> (Vec<Outcome>, HashMap<ConversationId, Arc<[UserId]>>) {
        let messages: Vec<&NewMessage> = jobs.iter().map(|(message, _)| message).collect();
        let mut attempt = 0;
        // Since when an attempt of this batch may have committed without our knowing.
        let mut in_doubt: Option<Instant> = None;
        loop {
            let error = match self.attempt(&messages).await {
                Ok((mut outcomes, members)) => {
                    adopt_own_commits(&messages, &mut outcomes);
                    return (outcomes, members);
                }
                Err(error) => error,
            };
            if error.in_doubt {
                in_doubt.get_or_insert_with(Instant::now);
            }
            if !error.retryable {
                // Something in the data: commit the sends one by one so a bad one fails alone.
                tracing::warn!(error = %error.text, "batch refused; retrying its sends one by one");
                let mut outcomes = Vec::with_capacity(messages.len());
                let mut all_members = HashMap::new();
                for message in &messages {
                    let outcome = match self.attempt(&[message]).await {
                        Ok((mut single, members)) => {
                            all_members.extend(members);
                            single
                                .pop()
                                .unwrap_or_else(|| Outcome::Failed("no verdict".to_owned()))
                        }
                        Err(error) => Outcome::Failed(error.text),
                    };
                    outcomes.push(outcome);
                }
                adopt_own_commits(&messages, &mut outcomes);
                return (outcomes, all_members);
            }
            let exhausted = attempt >= self.settings.retry_backoff.len();
            if exhausted
                && in_doubt.is_some_and(|since| since.elapsed() < self.settings.in_doubt_patience)
            {
                // Answering now would leave a committed batch unannounced: wait for PostgreSQL.
                let wait = self.settings.retry_backoff.last().copied();
                let wait = wait.unwrap_or(std::time::Duration::from_millis(100));
                tracing::warn!(error = %error.text, retry_in = ?wait, "batch outcome unknown; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            if self.backoff(attempt, &error, "batch").await.is_none() {
                // Answered DB_ERROR: not stored (or, past in_doubt_patience, unknown), safe to
                // retry with the same client id.
                return (
                    vec![Outcome::Failed(error.text); messages.len()],
                    HashMap::new(),
                );
            }
            attempt += 1;
        }
    }

    async fn attempt(
        &mut self,
        messages: &[&NewMessage],
    ) -> Result<(Vec<Outcome>, HashMap<ConversationId, Arc<[UserId]>>), AttemptError> {
        self.connected().await?;
        let Some((client, prepared)) = self.client.as_ref() else {
            return Err(AttemptError::retry("no connection"));
        };
        let started = std::time::Instant::now();
        match batch::commit(client, prepared, &self.members, messages).await {
            Ok((verdicts, members)) => {
                let elapsed = started.elapsed();
                let metrics = &self.settings.metrics;
                metrics.commit_seconds.observe(elapsed.as_secs_f64());
                metrics.batch_size.observe(messages.len() as f64);
                tracing::debug!(?elapsed, "batch committed");
                Ok((verdicts.into_iter().map(Outcome::Stored).collect(), members))
            }
            // No SQLSTATE: the connection broke (the transaction rolled back, or committed and the
            // answer was lost: a retry then finds the rows as duplicates).
            Err(error) => {
                let mut failed = self.failed(&error);
                failed.in_doubt = error.code().is_none();
                Err(failed)
            }
        }
    }
}

impl Lane {
    /// The lane's connection with its prepared batch statements, opened if it has none (or it
    /// broke).
    async fn connected(&mut self) -> Result<&mut (Client, batch::Prepared), AttemptError> {
        if let Some((client, prepared)) = self.client.take()
            && !client.is_closed()
        {
            return Ok(self.client.insert((client, prepared)));
        }
        // The batch statements only ever need index lookups, and one plan fits every batch.
        // Without the first setting a fresh database (no statistics yet) gets plans that scan
        // whole tables on every batch until autovacuum analyzes them; without the second,
        // PostgreSQL re-plans the statement for each batch's arrays (about 7 ms of planning
        // per batch, measured with EXPLAIN ANALYZE on a 200-row batch).
        let client = super::connect(
            &self.db,
            self.settings.connect_timeout,
            "lane",
            "SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan",
        )
        .await
        .map_err(|e| AttemptError::retry(&e))?;
        let prepared = batch::prepare(&client)
            .await
            .map_err(|e| AttemptError::retry(&e.to_string()))?;
        self.members.borrow_mut().clear();
        Ok(self.client.insert((client, prepared)))
    }

    /// Classifies a failed statement, dropping the connection if it broke.
    fn failed(&mut self, error: &tokio_postgres::Error) -> AttemptError {
        self.settings.metrics.failed_attempts.inc();
        let retryable = error.code().is_none_or(is_transient);
        if error.code().is_none() || self.client.as_ref().is_some_and(|(c, _)| c.is_closed()) {
            self.client = None;
        }
        AttemptError {
            retryable,
            in_doubt: false,
            text: error.to_string(),
        }
    }

    /// Waits before attempt `attempt + 1`, or `None` when the retries are used up.
    async fn backoff(&self, attempt: usize, error: &AttemptError, what: &str) -> Option<()> {
        if !error.retryable {
            tracing::error!(error = %error.text, what, "refused by the database");
            return None;
        }
        let Some(wait) = self.settings.retry_backoff.get(attempt) else {
            tracing::error!(error = %error.text, what, attempts = attempt + 1, "failed; giving up");
            return None;
        };
        tracing::warn!(error = %error.text, what, retry_in = ?wait, "failed; retrying");
        tokio::time::sleep(*wait).await;
        Some(())
    }

    async fn change_with_retries(&mut self, request: &ChangeRequest) -> ChangeOutcome {
        let mut attempt = 0;
        loop {
            let error = match self.connected().await {
                Err(error) => error,
                Ok((client, _)) => match change::apply(client, request).await {
                    Ok(Ok(changed)) => return ChangeOutcome::Applied(Box::new(changed)),
                    Ok(Err(refusal)) => return ChangeOutcome::Refused(refusal),
                    Err(error) => self.failed(&error),
                },
            };
            if self.backoff(attempt, &error, "change").await.is_none() {
                return ChangeOutcome::Failed(error.text);
            }
            attempt += 1;
        }
    }

    async fn group_with_retries(&mut self, request: &GroupRequest) -> GroupOutcome {
        let mut attempt = 0;
        loop {
            let error = match self.connected().await {
                Err(error) => error,
                Ok((client, _)) => match group::apply(client, request).await {
                    Ok(Ok(changed)) => return GroupOutcome::Applied(Box::new(changed)),
                    Ok(Err(refusal)) => return GroupOutcome::Refused(refusal),
                    Err(error) => self.failed(&error),
                },
            };
            if self
                .backoff(attempt, &error, "group change")
                .await
                .is_none()
            {
                return GroupOutcome::Failed(error.text);
            }
            attempt += 1;
        }
    }

    /// The system message (in `seq` order with the conversation's other commits) and the group
    /// event go to the fan-out before the requester hears.
    fn answer_group(&self, outcome: GroupOutcome, reply: oneshot::Sender<GroupOutcome>) {
        if let GroupOutcome::Applied(changed) = &outcome {
            let mut events = Vec::with_capacity(2);
            if let Some(message) = &changed.system {
                self.search
                    .committed(message.conversation_id.0, message.seq);
                events.push(SinkEvent::Committed {
                    message: message.clone(),
                    members: Arc::clone(&changed.members),
                    origin: None,
                    committed_at: std::time::Instant::now(),
                });
            }
            if changed.system.is_some() || changed.event == GroupEvent::Deleted {
                events.push(SinkEvent::Group(changed.clone()));
            }
            if !events.is_empty() {
                self.sink.publish(events);
            }
        }
        let _ = reply.send(outcome);
    }

    fn answer_change(&self, outcome: ChangeOutcome, reply: ChangeReply) {
        match reply {
            ChangeReply::Direct(sender) => {
                if let ChangeOutcome::Applied(change) = &outcome {
                    self.sink.publish(vec![SinkEvent::Changed {
                        change: change.clone(),
                        origin: None,
                    }]);
                }
                let _ = sender.send(outcome);
            }
            ChangeReply::Socket(origin) => self.sink.publish(vec![match outcome {
                ChangeOutcome::Applied(change) => SinkEvent::Changed {
                    change,
                    origin: Some(origin),
                },
                outcome => SinkEvent::ChangeAnswered { origin, outcome },
            }]),
        }
    }

    /// Writes coalesced read marks. A mark that fails through every retry is dropped (logged):
    /// read marks are idempotent, and the client's next mark carries the same information.
    async fn flush_reads(&mut self, marks: &[reads::Coalesced]) {
        let mut attempt = 0;
        let flushed = loop {
            let error = match self.connected().await {
                Err(error) => error,
                Ok((client, _)) => match reads::flush(client, marks).await {
                    Ok(flushed) => break flushed,
                    Err(error) => self.failed(&error),
                },
            };
            if self.backoff(attempt, &error, "read marks").await.is_none() {
                return;
            }
            attempt += 1;
        };
        let mut events: Vec<SinkEvent> = flushed
            .advances
            .into_iter()
            .map(|advance| SinkEvent::Read(Box::new(advance)))
            .collect();
        for refused in &flushed.refused {
            let origins = marks
                .iter()
                .filter(|(key, _)| key == refused)
                .flat_map(|(_, (_, origins))| origins.iter().cloned());
            events.extend(origins.map(|origin| SinkEvent::ReadRefused { origin }));
        }
        if !events.is_empty() {
            self.sink.publish(events);
        }
    }
}

struct AttemptError {
    retryable: bool,
    /// The batch statement was (perhaps) sent and the connection broke before COMMIT answered:
    /// it may have committed.
    in_doubt: bool,
    text: String,
}

impl AttemptError {
    fn retry(text: &str) -> Self {
        Self {
            retryable: true,
            in_doubt: false,
            text: text.to_owned(),
        }
    }
}

/// A "duplicate" that carries this very job's message id was stored by an earlier attempt of the
/// same batch whose COMMIT succeeded while its answer was lost (the connection broke, PostgreSQL
/// was killed): nobody was told of it, so it is answered and fanned out as committed now. A client's
/// resend is a new job with a new id, so an old message is never fanned out twice. (Found by
/// gateway/tests/chaos_nemesis.rs: after `kill -9` of PostgreSQL, members missed such messages.)
fn adopt_own_commits(messages: &[&NewMessage], outcomes: &mut [Outcome]) {
    for (message, outcome) in messages.iter().zip(outcomes.iter_mut()) {
        if let Outcome::Stored(Verdict::Duplicate(stored)) = outcome
            && stored.id == message.id
        {
            tracing::info!(
                seq = stored.seq,
                "a commit whose answer was lost goes out now"
            );
            *outcome = Outcome::Stored(Verdict::Inserted(stored.clone()));
        }
    }
}

/// Failures worth retrying unchanged: the server going away, deadlocks, serialisation, overload.
fn is_transient(code: &SqlState) -> bool {
    let class = &code.code()[..2];
    matches!(class, "08" | "40" | "53" | "57" | "58") || *code == SqlState::LOCK_NOT_AVAILABLE
}
