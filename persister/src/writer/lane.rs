//! One lane: a connection and a loop that takes whatever is queued (up to `max_batch`), commits it
//! with retries, and only then answers each send, in order.

use tokio::sync::mpsc;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use tracing::Instrument;

use std::collections::HashMap;
use std::sync::Arc;

use parley_shared::{ConversationId, UserId};

use super::batch::{self, NewMessage, Verdict};
use super::indexer::IndexFeed;
use super::{CommitSink, Job, Outcome, Reply, SinkEvent, WriterSettings};
use crate::PgConfig;

pub(super) struct Lane {
    index: usize,
    db: PgConfig,
    settings: WriterSettings,
    sink: Arc<dyn CommitSink>,
    search: IndexFeed,
    client: Option<(Client, batch::Prepared)>,
}

impl Lane {
    pub(super) fn new(
        index: usize,
        db: PgConfig,
        settings: WriterSettings,
        sink: Arc<dyn CommitSink>,
        index_feed: IndexFeed,
    ) -> Self {
        Self {
            index,
            db,
            settings,
            sink,
            search: index_feed,
            client: None,
        }
    }

    /// Runs until the channel is closed and empty.
    pub(super) async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut jobs: Vec<Job> = Vec::with_capacity(self.settings.max_batch);
        while let Some(first) = queue.recv().await {
            jobs.push(first);
            while jobs.len() < self.settings.max_batch {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            let span = tracing::debug_span!("batch", lane = self.index, batch.len = jobs.len());
            let (outcomes, members) = self.commit_with_retries(&jobs).instrument(span).await;
            self.answer(jobs.drain(..), outcomes, &members);
        }
    }

    /// Fan-out first (in commit order), then the direct answers.
    fn answer(
        &self,
        jobs: impl Iterator<Item = Job>,
        outcomes: Vec<Outcome>,
        members: &HashMap<ConversationId, Vec<UserId>>,
    ) {
        let mut shared: HashMap<ConversationId, Arc<[UserId]>> = HashMap::new();
        let mut tops: HashMap<ConversationId, i64> = HashMap::new();
        let mut events = Vec::new();
        let mut direct = Vec::new();
        for (job, outcome) in jobs.zip(outcomes) {
            let (origin, outcome) = match job.reply {
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
                    let members = shared
                        .entry(message.conversation_id)
                        .or_insert_with(|| {
                            members
                                .get(&message.conversation_id)
                                .cloned()
                                .unwrap_or_default()
                                .into()
                        })
                        .clone();
                    events.push(SinkEvent::Committed {
                        message,
                        members,
                        origin,
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
        jobs: &[Job],
    ) -> (Vec<Outcome>, HashMap<ConversationId, Vec<UserId>>) {
        let messages: Vec<&NewMessage> = jobs.iter().map(|job| &job.message).collect();
        let mut attempt = 0;
        loop {
            let error = match self.attempt(&messages).await {
                Ok(done) => return done,
                Err(error) => error,
            };
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
                return (outcomes, all_members);
            }
            let Some(wait) = self.settings.retry_backoff.get(attempt) else {
                tracing::error!(error = %error.text, attempts = attempt + 1, "batch failed; answering DB_ERROR");
                return (
                    vec![Outcome::Failed(error.text); messages.len()],
                    HashMap::new(),
                );
            };
            tracing::warn!(error = %error.text, retry_in = ?wait, "batch failed; retrying");
            tokio::time::sleep(*wait).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &mut self,
        messages: &[&NewMessage],
    ) -> Result<(Vec<Outcome>, HashMap<ConversationId, Vec<UserId>>), AttemptError> {
        if self
            .client
            .as_ref()
            .is_none_or(|(client, _)| client.is_closed())
        {
            self.client = None;
            // The batch statements only ever need index lookups, and one plan fits every batch.
            // Without the first setting a fresh database (no statistics yet) gets plans that scan
            // whole tables on every batch until autovacuum analyzes them; without the second,
            // PostgreSQL re-plans the statement for each batch's arrays (about 7 ms of planning
            // per batch, measured with EXPLAIN ANALYZE on a 200-row batch).
            let client = super::connect(
                &self.db,
                self.settings.connect_timeout,
                "SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan",
            )
            .await
            .map_err(|e| AttemptError::retry(&e))?;
            let prepared = batch::prepare(&client)
                .await
                .map_err(|e| AttemptError::retry(&e.to_string()))?;
            self.client = Some((client, prepared));
        }
        let (client, prepared) = self.client.as_mut().expect("connected just above");
        let started = std::time::Instant::now();
        match batch::commit(client, prepared, messages).await {
            Ok((verdicts, members)) => {
                let elapsed = started.elapsed();
                let metrics = &self.settings.metrics;
                metrics.commit_seconds.observe(elapsed.as_secs_f64());
                metrics.batch_size.observe(messages.len() as f64);
                tracing::debug!(?elapsed, "batch committed");
                Ok((verdicts.into_iter().map(Outcome::Stored).collect(), members))
            }
            Err(error) => {
                self.settings.metrics.failed_attempts.inc();
                let retryable = match error.code() {
                    // No SQLSTATE: the connection broke (the transaction rolled back, or
                    // committed and the answer was lost: a retry then finds the rows as duplicates).
                    None => true,
                    Some(code) => is_transient(code),
                };
                if error.code().is_none()
                    || self.client.as_ref().is_some_and(|(c, _)| c.is_closed())
                {
                    self.client = None;
                }
                Err(AttemptError {
                    retryable,
                    text: error.to_string(),
                })
            }
        }
    }
}

struct AttemptError {
    retryable: bool,
    text: String,
}

impl AttemptError {
    fn retry(text: &str) -> Self {
        Self {
            retryable: true,
            text: text.to_owned(),
        }
    }
}

/// Failures worth retrying unchanged: the server going away, deadlocks, serialisation, overload.
fn is_transient(code: &SqlState) -> bool {
    let class = &code.code()[..2];
    matches!(class, "08" | "40" | "53" | "57" | "58") || *code == SqlState::LOCK_NOT_AVAILABLE
}
