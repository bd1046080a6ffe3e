//! The persister: a separate thread with its own runtime that group-commits sends. Conversations
//! are hashed onto `lanes`; each lane owns one connection and commits its batches strictly one
//! after another (whatever queued while the previous commit ran forms the next batch, up to
//! `max_batch`), so within a conversation commit order is `seq` order, while the lanes overlap
//! their fsyncs. Every outcome is reported only after COMMIT returned.

mod batch;
mod change;
mod group;
mod indexer;
mod lane;
mod members;
mod partitions;
mod reads;

use std::hash::{BuildHasher, RandomState};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use batch::{NewAttachments, NewMessage, Verdict};
pub use change::{ChangeEvent, ChangeKind, ChangeOutcome, ChangeRequest, Changed, Refusal};
pub use group::{GroupChanged, GroupEvent, GroupOp, GroupOutcome, GroupRefusal, GroupRequest};
pub use reads::{MAX_COUNTS_PER_MARK, ReadAdvance, ReadCount, ReadMark};

/// The persister's CPU-side hot path, for the criterion benchmarks in `benches/` (not an API).
#[doc(hidden)]
pub mod hot {
    use super::batch::{Columns, NewMessage};

    /// Builds a batch's parameter arrays; returns its number of distinct conversations.
    pub fn build_columns(batch: &[&NewMessage]) -> usize {
        Columns::new(batch).conversations.len()
    }

    /// The batch statement (its plan is checked by a test).
    pub fn write_statement() -> String {
        super::batch::write_statement()
    }
}

use crate::PgConfig;

/// Bounds of the persister, from `[persister]`.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Independent writers (connections); a conversation always uses the same one.
    pub lanes: usize,
    /// Sends waiting per lane before new ones are refused as overload.
    pub queue_per_lane: usize,
    /// Most sends in one transaction.
    pub max_batch: usize,
    /// Waits between attempts of a batch that failed for a retryable reason (then DB_ERROR).
    pub retry_backoff: Vec<Duration>,
    /// How long a batch that may have committed keeps being retried past `retry_backoff`.
    pub in_doubt_patience: Duration,
    pub connect_timeout: Duration,
    /// How long the search indexer gathers committed messages before indexing them.
    pub search_index_interval: Duration,
    /// Most messages the search indexer indexes in one statement.
    pub search_index_batch: usize,
    /// How long a lane gathers read marks before writing them in one transaction.
    pub read_flush_interval: Duration,
    /// Member ids the lanes keep cached (see `members.rs`).
    pub member_cache: usize,
    /// Jobs one lane takes from the waiting partitions before leaving the rest to another lane
    /// (see `partitions.rs`).
    pub batch_split: usize,
    /// Where the lanes record batch sizes, commit latencies and failures.
    pub metrics: std::sync::Arc<PersisterMetrics>,
}

/// What the persister measures (rendered by the gateway at `/metrics`).
#[derive(Debug)]
pub struct PersisterMetrics {
    /// Sends per committed transaction.
    pub batch_size: parley_shared::metrics::Histogram,
    /// Time from BEGIN to COMMIT returned, seconds.
    pub commit_seconds: parley_shared::metrics::Histogram,
    /// Time from a send being queued to its batch's COMMIT returned (or its failure), seconds.
    pub send_to_commit_seconds: parley_shared::metrics::Histogram,
    /// Attempts that failed (each retry counts).
    pub failed_attempts: parley_shared::metrics::Counter,
    /// Messages added to the search index.
    pub search_indexed: parley_shared::metrics::Counter,
    /// Search indexing statements that failed (retried).
    pub search_index_failures: parley_shared::metrics::Counter,
}

impl Default for PersisterMetrics {
    fn default() -> Self {
        use parley_shared::metrics::{Counter, Histogram, SECONDS, SIZES};
        Self {
            batch_size: Histogram::new(SIZES),
            commit_seconds: Histogram::new(SECONDS),
            send_to_commit_seconds: Histogram::new(SECONDS),
            failed_attempts: Counter::default(),
            search_indexed: Counter::default(),
            search_index_failures: Counter::default(),
        }
    }
}

/// Opens one of the persister's own connections (a lane's or the indexer's) within `timeout` and
/// applies its session settings; errors as text (every failure here is retried). `role` is
/// appended to the connection's `application_name`, so `pg_stat_activity` (and the cost
/// breakdown of `scripts/profile.sh`) tells a lane from the indexer from the request pool.
async fn connect(
    db: &PgConfig,
    timeout: Duration,
    role: &str,
    settings: &str,
) -> Result<tokio_postgres::Client, String> {
    let db = db.with_role(role);
    let client = tokio::time::timeout(timeout, crate::db::connect(&db))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    client
        .batch_execute(settings)
        .await
        .map_err(|e| e.to_string())?;
    Ok(client)
}

/// How a send ended.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "moved once per send; boxing the stored message would allocate once more per send"
)]
pub enum Outcome {
    /// Stored (now or by an earlier send with the same client id).
    Stored(Verdict),
    /// Not stored: the database failed through every retry. Safe to retry with the same client id.
    Failed(String),
}

/// Why a send was not even queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("the persister queue is full")]
    Overloaded,
    #[error("the persister has stopped")]
    Stopped,
}

/// Where a send came from, so its outcome and its fan-out can find their way back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOrigin {
    /// The sending connection.
    pub to: ConnAddress,
    /// The client's correlation id of the `message:send` frame.
    pub request: Option<String>,
    /// The send's idempotency key, echoed in its answer.
    pub client_message_id: String,
}

/// Where a connection lives: its gateway process, shard and id there. Opaque to the persister,
/// which only carries it back with the answer; a process with several instances routes by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnAddress {
    pub instance: parley_shared::InstanceId,
    pub shard: usize,
    pub conn: u64,
}

/// The socket frame a change or read mark came from, so its answer finds its way back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameOrigin {
    /// The connection the frame came from.
    pub to: ConnAddress,
    /// The frame's correlation id.
    pub request: Option<String>,
}

/// What the persister tells the fan-out, in commit order (per conversation: `seq` order).
#[derive(Debug, Clone)]
pub enum SinkEvent {
    /// A new message: deliver it to `members` (the membership at commit). The sending
    /// connection, if any, gets its acknowledgement from this event.
    Committed {
        message: crate::store::messages::Message,
        members: std::sync::Arc<[parley_shared::UserId]>,
        origin: Option<SocketOrigin>,
        /// When its COMMIT returned (for the fan-out's latency histogram).
        committed_at: std::time::Instant,
    },
    /// Any other outcome of a socket send (a retried `clientMessageId`, a refusal, a failure).
    Answered {
        origin: SocketOrigin,
        outcome: Outcome,
    },
    /// A committed edit, delete or reaction: tell the members; `origin` (if any) is answered by
    /// the same event.
    Changed {
        change: Box<Changed>,
        origin: Option<FrameOrigin>,
    },
    /// A socket change that was refused or failed.
    ChangeAnswered {
        origin: FrameOrigin,
        outcome: ChangeOutcome,
    },
    /// A read watermark moved (committed).
    Read(Box<ReadAdvance>),
    /// A socket read mark from someone who is not a member.
    ReadRefused { origin: FrameOrigin },
    /// A committed group change (membership, roles, name, deletion): tell the members and the
    /// former members. Its system message, if any, is a `Committed` event just before it.
    Group(Box<GroupChanged>),
}

/// Receives commit events. Called on the persister thread right after each COMMIT, before any
/// other answer for the batch; must not block.
pub trait CommitSink: Send + Sync + 'static {
    fn publish(&self, events: Vec<SinkEvent>);
}

pub(crate) enum Reply {
    /// A REST request waiting on a channel.
    Direct(oneshot::Sender<Outcome>),
    /// A socket send: answered through the sink, in order with the fan-out.
    Socket(SocketOrigin),
}

/// How a change is answered.
pub(crate) enum ChangeReply {
    Direct(oneshot::Sender<ChangeOutcome>),
    Socket(FrameOrigin),
}

/// One unit of lane work.
pub(crate) enum Job {
    Send {
        message: NewMessage,
        reply: Reply,
        /// When it was queued (for `send_to_commit_seconds`).
        queued_at: std::time::Instant,
    },
    Change {
        request: ChangeRequest,
        reply: ChangeReply,
    },
    Read(ReadMark),
    Group {
        request: GroupRequest,
        reply: oneshot::Sender<GroupOutcome>,
    },
}

impl Job {
    fn conversation(&self) -> parley_shared::ConversationId {
        match self {
            Job::Send { message, .. } => message.conversation_id,
            Job::Change { request, .. } => request.conversation,
            Job::Read(mark) => mark.conversation,
            Job::Group { request, .. } => request.conversation,
        }
    }
}

/// A sink that drops every event, for a persister nobody listens to (tools, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSink;

impl CommitSink for NoSink {
    fn publish(&self, _events: Vec<SinkEvent>) {}
}

/// Cheap to clone; held by every shard. The persister stops once every handle is dropped and the
/// queues are drained.
#[derive(Debug, Clone)]
pub struct PersisterHandle {
    lanes: Vec<mpsc::Sender<Job>>,
    hasher: RandomState,
    /// Wakes an idle lane for each queued job.
    work: std::sync::Arc<tokio::sync::Notify>,
    /// Wakes the lanes when the last handle is dropped (to see the queues closed).
    _last: std::sync::Arc<partitions::LastHandle>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the content.
        match self {
            Job::Send { message, .. } => f
                .debug_struct("Send")
                .field("id", &message.id)
                .finish_non_exhaustive(),
            Job::Change { request, .. } => f
                .debug_struct("Change")
                .field("message", &request.message)
                .finish_non_exhaustive(),
            Job::Read(mark) => f
                .debug_struct("Read")
                .field("conversation", &mark.conversation)
                .field("seq", &mark.seq)
                .finish_non_exhaustive(),
            Job::Group { request, .. } => f
                .debug_struct("Group")
                .field("conversation", &request.conversation)
                .finish_non_exhaustive(),
        }
    }
}

impl WriterSettings {
    /// Settings from `[persister]` and `database.connect_timeout`.
    pub fn from_config(
        config: &parley_shared::Config,
        metrics: std::sync::Arc<PersisterMetrics>,
    ) -> Self {
        let p = &config.persister;
        Self {
            lanes: p.lanes,
            queue_per_lane: p.queue_capacity.div_ceil(p.lanes.max(1)),
            max_batch: p.max_batch,
            retry_backoff: p.backoff(),
            in_doubt_patience: p.in_doubt_patience,
            connect_timeout: config.database.connect_timeout,
            search_index_interval: p.search_index_interval,
            search_index_batch: p.search_index_batch,
            read_flush_interval: p.read_flush_interval,
            member_cache: p.member_cache,
            batch_split: p.batch_split,
            metrics,
        }
    }
}

impl PersisterHandle {
    /// Queues `message`; the receiver yields its outcome after the batch commits. Never waits:
    /// a full lane answers [`SubmitError::Overloaded`] at once.
    pub fn submit(&self, message: NewMessage) -> Result<oneshot::Receiver<Outcome>, SubmitError> {
        let (reply, outcome) = oneshot::channel();
        self.enqueue(Job::Send {
            message,
            reply: Reply::Direct(reply),
            queued_at: std::time::Instant::now(),
        })?;
        Ok(outcome)
    }

    /// Queues an edit, delete or reaction on its conversation's lane (after the sends queued
    /// before it); the receiver yields the outcome after COMMIT.
    pub fn submit_change(
        &self,
        request: ChangeRequest,
    ) -> Result<oneshot::Receiver<ChangeOutcome>, SubmitError> {
        let (reply, outcome) = oneshot::channel();
        self.enqueue(Job::Change {
            request,
            reply: ChangeReply::Direct(reply),
        })?;
        Ok(outcome)
    }

    /// Queues a group change on its conversation's lane; the receiver yields the outcome after
    /// COMMIT (its events have gone to the [`CommitSink`] by then).
    pub fn submit_group(
        &self,
        request: GroupRequest,
    ) -> Result<oneshot::Receiver<GroupOutcome>, SubmitError> {
        let (reply, outcome) = oneshot::channel();
        self.enqueue(Job::Group { request, reply })?;
        Ok(outcome)
    }

    /// Queues a change from a socket; its answer arrives through the [`CommitSink`].
    pub fn submit_change_from_socket(
        &self,
        request: ChangeRequest,
        origin: FrameOrigin,
    ) -> Result<(), SubmitError> {
        self.enqueue(Job::Change {
            request,
            reply: ChangeReply::Socket(origin),
        })
    }

    /// Queues a read mark; it is coalesced with others for `read_flush_interval`, and its effect
    /// arrives through the [`CommitSink`] as [`SinkEvent::Read`].
    pub fn submit_read(&self, mark: ReadMark) -> Result<(), SubmitError> {
        self.enqueue(Job::Read(mark))
    }

    /// Queues a send from a socket; its outcome arrives through the [`CommitSink`].
    pub fn submit_from_socket(
        &self,
        message: NewMessage,
        origin: SocketOrigin,
    ) -> Result<(), SubmitError> {
        self.enqueue(Job::Send {
            message,
            reply: Reply::Socket(origin),
            queued_at: std::time::Instant::now(),
        })
    }

    fn enqueue(&self, job: Job) -> Result<(), SubmitError> {
        let lane = (self.hasher.hash_one(job.conversation()) as usize) % self.lanes.len();
        self.lanes[lane]
            .try_send(job)
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => SubmitError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => SubmitError::Stopped,
            })?;
        self.work.notify_one();
        Ok(())
    }

    /// Sends queued right now, over all lanes.
    pub fn queued(&self) -> usize {
        self.lanes
            .iter()
            .map(|lane| lane.max_capacity() - lane.capacity())
            .sum()
    }
}

/// The running persister thread.
#[derive(Debug)]
pub struct Persister {
    thread: Option<JoinHandle<()>>,
}

impl Persister {
    /// Starts the thread and its lanes. Connections open lazily and reopen after failures.
    pub fn start(
        db: PgConfig,
        settings: WriterSettings,
        sink: std::sync::Arc<dyn CommitSink>,
    ) -> std::io::Result<(Self, PersisterHandle)> {
        let lanes_n = settings.lanes.max(1);
        let mut senders = Vec::with_capacity(lanes_n);
        let mut receivers = Vec::with_capacity(lanes_n);
        for _ in 0..lanes_n {
            let (sender, receiver) = mpsc::channel(settings.queue_per_lane.max(1));
            senders.push(sender);
            receivers.push(receiver);
        }
        let work = std::sync::Arc::new(tokio::sync::Notify::new());
        let lane_work = std::sync::Arc::clone(&work);
        let thread = std::thread::Builder::new()
            .name("parley-persister".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::error!(%error, "could not build the persister runtime");
                        return;
                    }
                };
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async move {
                    let (indexer, feed) = indexer::Indexer::new(db.clone(), &settings);
                    let indexer = tokio::task::spawn_local(indexer.run());
                    let shared = lane::Shared {
                        db: db.clone(),
                        parts: std::rc::Rc::new(partitions::Partitions::new(
                            receivers,
                            lane_work,
                            settings.batch_split,
                        )),
                        members: std::rc::Rc::new(std::cell::RefCell::new(
                            members::MemberCache::new(settings.member_cache),
                        )),
                        settings,
                        sink,
                        search: feed,
                    };
                    let mut lanes = Vec::new();
                    for index in 0..lanes_n {
                        let lane = lane::Lane::new(index, &shared);
                        lanes.push(tokio::task::spawn_local(lane.run()));
                    }
                    drop(shared);
                    for lane in lanes {
                        let _ = lane.await;
                    }
                    // The lanes are gone (and their feeds with them): the indexer finishes.
                    let _ = indexer.await;
                });
                tracing::info!("persister drained and stopped");
            })?;
        Ok((
            Self {
                thread: Some(thread),
            },
            PersisterHandle {
                lanes: senders,
                hasher: RandomState::new(),
                _last: std::sync::Arc::new(partitions::LastHandle(std::sync::Arc::clone(&work))),
                work,
            },
        ))
    }

    /// Waits until every handle is gone and every queued send has its outcome.
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the persister thread panicked");
        }
    }
}
