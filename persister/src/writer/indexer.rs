//! The search indexer: fills `message_search` behind the writer, off the send path. Lanes tell it
//! (after COMMIT) the highest `seq` they stored per conversation; it gathers those for
//! `search_index_interval`, then indexes every message between each conversation's watermark and
//! that `seq` in one statement and advances the watermarks. At start, and whenever its bounded
//! inbox overflowed, it finds the conversations behind their watermark from the tables.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_postgres::{Client, Statement};
use tracing::Instrument;
use uuid::Uuid;

use super::PersisterMetrics;
use crate::PgConfig;

/// Conversations with new messages, waiting for the indexer.
const INBOX: usize = 4096;
/// Conversations indexed by one statement.
const CONVERSATIONS_PER_STATEMENT: usize = 1000;
/// Wait after a failed statement (the work stays queued; the watermarks make retries exact).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Conversations behind their watermark, with the seq to index up to.
const BEHIND: &str = "SELECT c.id, c.last_seq FROM conversations c
     LEFT JOIN search_watermarks w ON w.conversation_id = c.id
     WHERE c.last_seq > coalesce(w.indexed_seq, 0)";

/// Indexes each conversation's messages after its watermark, up to the given seq (at most `$3`
/// messages per conversation), and advances the watermarks. Returns how far each one got.
///
/// Each conversation's watermark row is locked first (`ENSURE` made sure it exists), in id order.
/// Only the indexer and a conversation's deletion touch these rows (never the lanes), and the
/// deletion deletes the watermark first: it either waits for this statement and then deletes what
/// it indexed, or is seen here as gone, so no search row outlives its conversation.
fn index_statement() -> String {
    format!(
        "WITH todo AS (
         SELECT t.conversation_id, w.indexed_seq AS done,
                least(t.top, w.indexed_seq + $3) AS upto
         FROM unnest($1::uuid[], $2::int8[]) AS t(conversation_id, top)
         JOIN search_watermarks w ON w.conversation_id = t.conversation_id
         WHERE t.top > w.indexed_seq
         ORDER BY w.conversation_id
         FOR UPDATE OF w
     ), indexed AS (
         INSERT INTO message_search (message_id, conversation_id, search)
         SELECT m.id, m.conversation_id, to_tsvector('simple', {indexed})
         FROM todo JOIN messages m ON m.conversation_id = todo.conversation_id
              AND m.seq > todo.done AND m.seq <= todo.upto
         WHERE m.deleted_at IS NULL
         ON CONFLICT (message_id) DO NOTHING
         RETURNING 1
     ), marked AS (
         INSERT INTO search_watermarks (conversation_id, indexed_seq)
         SELECT conversation_id, upto FROM todo
         ON CONFLICT (conversation_id) DO UPDATE
             SET indexed_seq = greatest(search_watermarks.indexed_seq, excluded.indexed_seq)
         RETURNING 1
     )
     SELECT (SELECT count(*) FROM indexed), (SELECT count(*) FROM marked)",
        indexed = crate::store::search::INDEXED_TEXT
    )
}

/// A watermark row (at 0) for each conversation that still exists and has none yet, so the index
/// statement can lock it.
const ENSURE: &str = "INSERT INTO search_watermarks (conversation_id, indexed_seq)
     SELECT c.id, 0 FROM conversations c WHERE c.id = ANY($1::uuid[])
     ON CONFLICT (conversation_id) DO NOTHING";

/// The lanes' side: cheap to clone, never waits.
#[derive(Debug, Clone)]
pub(super) struct IndexFeed {
    inbox: mpsc::Sender<(Uuid, i64)>,
    overflowed: Arc<AtomicBool>,
}

impl IndexFeed {
    /// `conversation` has committed messages up to `seq`.
    pub(super) fn committed(&self, conversation: Uuid, seq: i64) {
        if self.inbox.try_send((conversation, seq)).is_err() {
            // The indexer is behind; it will look the work up in the tables instead.
            self.overflowed.store(true, Ordering::Relaxed);
        }
    }
}

pub(super) struct Indexer {
    db: PgConfig,
    interval: Duration,
    batch: usize,
    connect_timeout: Duration,
    metrics: Arc<PersisterMetrics>,
    inbox: mpsc::Receiver<(Uuid, i64)>,
    overflowed: Arc<AtomicBool>,
    client: Option<(Client, Statement, Statement)>,
}

impl Indexer {
    pub(super) fn new(db: PgConfig, settings: &super::WriterSettings) -> (Self, IndexFeed) {
        let (sender, inbox) = mpsc::channel(INBOX);
        // Start with a look at the tables: a previous run may have stopped before indexing all.
        let overflowed = Arc::new(AtomicBool::new(true));
        let indexer = Self {
            db,
            interval: settings.search_index_interval,
            batch: settings.search_index_batch.max(1),
            connect_timeout: settings.connect_timeout,
            metrics: Arc::clone(&settings.metrics),
            inbox,
            overflowed: Arc::clone(&overflowed),
            client: None,
        };
        (
            indexer,
            IndexFeed {
                inbox: sender,
                overflowed,
            },
        )
    }

    /// Runs until every feed is gone, then indexes what is left once and returns.
    pub(super) async fn run(mut self) {
        let mut pending: HashMap<Uuid, i64> = HashMap::new();
        let mut open = true;
        while open || !pending.is_empty() {
            if pending.is_empty() && !self.overflowed.load(Ordering::Relaxed) {
                match self.inbox.recv().await {
                    Some((conversation, seq)) => note(&mut pending, conversation, seq),
                    None => open = false,
                }
            }
            // Let a batch's worth gather: fewer, larger statements. When work is known to be
            // waiting (the last statement hit its cap, or the inbox overflowed), the next round
            // starts at once: waiting an interval per capped statement would cap indexing at
            // `search_index_batch` per interval (about 17,000 msgs/s with the defaults), and
            // search would fall further behind for as long as sends came faster.
            if open && !self.overflowed.load(Ordering::Relaxed) {
                tokio::time::sleep(self.interval).await;
            }
            loop {
                match self.inbox.try_recv() {
                    Ok((conversation, seq)) => note(&mut pending, conversation, seq),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            let span = tracing::debug_span!("search_index", conversations = pending.len());
            let done = self.round(&mut pending).instrument(span).await;
            if !done {
                if !open {
                    // Stopping: the next start finds the rest from the watermarks.
                    tracing::warn!(
                        conversations = pending.len(),
                        "search indexing left for the next start"
                    );
                    return;
                }
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }

    /// One pass over `pending` (and the tables, after an overflow). False if the database failed.
    async fn round(&mut self, pending: &mut HashMap<Uuid, i64>) -> bool {
        if let Err(error) = self.connect().await {
            tracing::warn!(%error, "search indexer cannot reach the database");
            return false;
        }
        let Some((client, index, ensure)) = self.client.as_ref() else {
            return false;
        };
        let done = self.index(client, (index, ensure), pending).await;
        if !done && client.is_closed() {
            self.client = None;
        }
        done
    }

    async fn index(
        &self,
        client: &Client,
        (index, ensure): (&Statement, &Statement),
        pending: &mut HashMap<Uuid, i64>,
    ) -> bool {
        if self.overflowed.swap(false, Ordering::Relaxed) {
            match client.query(BEHIND, &[]).await {
                Ok(rows) => {
                    for row in rows {
                        note(pending, row.get(0), row.get(1));
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "search indexer could not list its work");
                    self.overflowed.store(true, Ordering::Relaxed);
                    return false;
                }
            }
        }
        let work: Vec<(Uuid, i64)> = pending.iter().map(|(c, s)| (*c, *s)).collect();
        for chunk in work.chunks(CONVERSATIONS_PER_STATEMENT) {
            let conversations: Vec<Uuid> = chunk.iter().map(|(c, _)| *c).collect();
            let tops: Vec<i64> = chunk.iter().map(|(_, s)| *s).collect();
            let per_conversation = i64::try_from((self.batch / chunk.len()).max(1)).unwrap_or(1);
            let indexed = match client.execute(ensure, &[&conversations]).await {
                Ok(_) => {
                    client
                        .query_one(index, &[&conversations, &tops, &per_conversation])
                        .await
                }
                Err(error) => Err(error),
            };
            match indexed {
                Ok(row) => {
                    let indexed: i64 = row.get(0);
                    self.metrics
                        .search_indexed
                        .add(u64::try_from(indexed).unwrap_or(0));
                    for (conversation, top) in chunk {
                        // Done unless a newer seq arrived meanwhile.
                        if pending.get(conversation) == Some(top) {
                            pending.remove(conversation);
                        }
                    }
                    if indexed >= i64::try_from(self.batch).unwrap_or(i64::MAX) {
                        // The per-statement cap may have left some behind: the tables say which.
                        self.overflowed.store(true, Ordering::Relaxed);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "search indexing failed; retrying");
                    self.metrics.search_index_failures.inc();
                    return false;
                }
            }
        }
        true
    }

    async fn connect(&mut self) -> Result<(), String> {
        if self
            .client
            .as_ref()
            .is_some_and(|(client, ..)| !client.is_closed())
        {
            return Ok(());
        }
        self.client = None;
        let client = super::connect(
            &self.db,
            self.connect_timeout,
            "indexer",
            "SET enable_seqscan = off",
        )
        .await?;
        let index = client
            .prepare(&index_statement())
            .await
            .map_err(|e| e.to_string())?;
        let ensure = client.prepare(ENSURE).await.map_err(|e| e.to_string())?;
        self.client = Some((client, index, ensure));
        Ok(())
    }
}

fn note(pending: &mut HashMap<Uuid, i64>, conversation: Uuid, seq: i64) {
    let top = pending.entry(conversation).or_insert(seq);
    *top = (*top).max(seq);
}
