//! The queues the lanes share. Conversations are hashed onto `persister.lanes` partitions (one
//! bounded queue each); any idle lane claims every waiting partition it can, up to
//! `persister.batch_split` queued jobs, and commits them in one transaction. At moderate rates one
//! lane takes everything, so a batch holds what all partitions gathered during the previous commit
//! (one transaction instead of one per partition: measured, a third less PostgreSQL CPU per
//! message at 20,000 msgs/s); past `batch_split` the other partitions go to other lanes, whose
//! transactions overlap (so the peak stays that of independent lanes).
//!
//! Order: a partition is claimed by at most one lane at a time, and the claim is released only
//! after that lane has committed and published everything it took, so within a conversation
//! commits and events stay in `seq` order whichever lane commits them. A partition's read marks
//! wait in the partition (not in a lane) and are written only by a lane holding its claim, so a
//! read-mark flush never runs beside a batch of the same conversations (both update member rows).

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::Job;
use super::reads::{self, Coalesced};

pub(super) struct Partitions {
    queues: Vec<RefCell<mpsc::Receiver<Job>>>,
    claimed: Vec<Cell<bool>>,
    /// Read marks taken from each partition's queue, and when they are due to be written.
    reads: Vec<RefCell<reads::Pending>>,
    flush_at: Vec<Cell<Option<Instant>>>,
    /// Signalled for every queued job (and once when the last handle is dropped).
    pub(super) work: Arc<Notify>,
    /// Where the next claim starts looking (so no partition waits behind the others).
    next: Cell<usize>,
    split: usize,
}

impl Partitions {
    pub(super) fn new(queues: Vec<mpsc::Receiver<Job>>, work: Arc<Notify>, split: usize) -> Self {
        Self {
            claimed: queues.iter().map(|_| Cell::new(false)).collect(),
            reads: queues.iter().map(|_| RefCell::default()).collect(),
            flush_at: queues.iter().map(|_| Cell::new(None)).collect(),
            queues: queues.into_iter().map(RefCell::new).collect(),
            work,
            next: Cell::new(0),
            split: split.max(1),
        }
    }

    /// If some unclaimed partition has work (queued jobs, or read marks due), claims unclaimed
    /// partitions, empty ones too, until they hold `split` queued jobs: at moderate rates one
    /// lane then holds every partition, and what arrives during its commit waits for its next
    /// batch instead of starting a small one beside it. The caller must
    /// [`release`](Self::release) them.
    pub(super) fn claim(&self, now: Instant) -> Vec<usize> {
        if !self.waiting(now) {
            return Vec::new();
        }
        let n = self.queues.len();
        let start = self.next.get();
        self.next.set((start + 1) % n.max(1));
        let mut taken = Vec::new();
        let mut queued = 0;
        for k in 0..n {
            let p = (start + k) % n;
            if self.claimed[p].get() {
                continue;
            }
            self.claimed[p].set(true);
            taken.push(p);
            queued += self.queues[p].borrow().len();
            if queued >= self.split {
                break;
            }
        }
        taken
    }

    /// The next job of a claimed partition, if one is queued.
    pub(super) fn take(&self, partition: usize) -> Option<Job> {
        self.queues[partition].borrow_mut().try_recv().ok()
    }

    /// Keeps a read mark of a claimed partition until `interval` from now (or its earlier due
    /// time).
    pub(super) fn add_read(&self, partition: usize, mark: super::ReadMark, due: Instant) {
        self.reads[partition].borrow_mut().add(mark);
        let at = &self.flush_at[partition];
        at.set(Some(at.get().map_or(due, |at| at.min(due))));
    }

    /// Takes the read marks due in the claimed `partitions` (all of them once the queues are
    /// closed), in one lock order.
    pub(super) fn due_reads(&self, partitions: &[usize], now: Instant) -> Vec<Coalesced> {
        let mut marks = Vec::new();
        for &p in partitions {
            if self.due(p, now) {
                marks.extend(self.reads[p].borrow_mut().take());
                self.flush_at[p].set(None);
            }
        }
        // Row locks in one order across flushes.
        marks.sort_unstable_by_key(|(key, _)| (key.0.0, key.1.0));
        marks
    }

    fn due(&self, p: usize, now: Instant) -> bool {
        !self.reads[p].borrow().is_empty()
            && (self.flush_at[p].get().is_some_and(|at| at <= now)
                || self.queues[p].borrow().is_closed())
    }

    pub(super) fn release(&self, partitions: &[usize]) {
        for &p in partitions {
            self.claimed[p].set(false);
        }
    }

    /// Some unclaimed partition has jobs queued or read marks due (a lane should look).
    pub(super) fn waiting(&self, now: Instant) -> bool {
        (0..self.queues.len()).any(|p| {
            !self.claimed[p].get() && (!self.queues[p].borrow().is_empty() || self.due(p, now))
        })
    }

    /// When the earliest read marks of an unclaimed partition fall due (a claimed one's are the
    /// claiming lane's to write).
    pub(super) fn next_flush(&self) -> Option<Instant> {
        (0..self.queues.len())
            .filter(|&p| !self.claimed[p].get() && !self.reads[p].borrow().is_empty())
            .filter_map(|p| self.flush_at[p].get())
            .min()
    }

    /// Every handle is gone, every queue is empty and every read mark written.
    pub(super) fn finished(&self) -> bool {
        self.queues.iter().zip(&self.reads).all(|(queue, reads)| {
            let queue = queue.borrow();
            queue.is_closed() && queue.is_empty() && reads.borrow().is_empty()
        })
    }
}

/// Held (through an `Arc`) by every `PersisterHandle`: when the last one goes, the lanes are
/// woken to see the queues closed. A lane that finds them finished passes the wake-up on.
#[derive(Debug)]
pub(super) struct LastHandle(pub(super) Arc<Notify>);

impl Drop for LastHandle {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::ReadMark;
    use parley_shared::{ConversationId, UserId};

    fn job() -> Job {
        Job::Read(ReadMark {
            conversation: ConversationId(uuid::Uuid::nil()),
            user: UserId(uuid::Uuid::nil()),
            seq: 1,
            origin: None,
        })
    }

    fn partitions(queued: &[usize], split: usize) -> (Partitions, Vec<mpsc::Sender<Job>>) {
        let (mut senders, mut receivers) = (Vec::new(), Vec::new());
        for &n in queued {
            let (tx, rx) = mpsc::channel(64);
            for _ in 0..n {
                tx.try_send(job()).expect("room");
            }
            senders.push(tx);
            receivers.push(rx);
        }
        (
            Partitions::new(receivers, Arc::new(Notify::new()), split),
            senders,
        )
    }

    fn mark(seq: i64) -> crate::writer::ReadMark {
        ReadMark {
            conversation: ConversationId(uuid::Uuid::nil()),
            user: UserId(uuid::Uuid::nil()),
            seq,
            origin: None,
        }
    }

    #[test]
    fn below_the_split_one_claim_takes_every_partition() {
        let (parts, _senders) = partitions(&[3, 0, 5, 2], 100);
        let now = Instant::now();
        assert_eq!(parts.claim(now), vec![0, 1, 2, 3], "empty ones too");
        assert!(!parts.waiting(now));
        assert!(
            parts.claim(now).is_empty(),
            "a claimed partition is never claimed twice"
        );
        parts.release(&[0, 1, 2, 3]);
        assert!(parts.waiting(now));
    }

    #[test]
    fn nothing_is_claimed_without_work() {
        let (parts, _senders) = partitions(&[0, 0], 100);
        assert!(parts.claim(Instant::now()).is_empty());
    }

    #[test]
    fn past_the_split_the_rest_is_left_for_another_lane() {
        let (parts, _senders) = partitions(&[40, 40, 40, 40], 64);
        let now = Instant::now();
        let first = parts.claim(now);
        assert_eq!(first.len(), 2);
        assert!(parts.waiting(now));
        let second = parts.claim(now);
        assert_eq!(second.len(), 2);
        assert!(first.iter().all(|p| !second.contains(p)));
        assert!(parts.claim(now).is_empty());
    }

    #[test]
    fn read_marks_wait_in_their_partition_until_due() {
        let (parts, _senders) = partitions(&[0, 0], 100);
        let now = Instant::now();
        let due = now + std::time::Duration::from_millis(100);
        let claimed = vec![0, 1];
        parts.add_read(0, mark(3), due);
        parts.add_read(0, mark(5), due + std::time::Duration::from_secs(1));
        assert!(parts.due_reads(&claimed, now).is_empty(), "not due yet");
        parts.release(&claimed);
        assert_eq!(parts.next_flush(), Some(due), "the earliest due time holds");
        assert!(!parts.waiting(now));
        assert!(parts.waiting(due), "due marks are work");
        let claimed = parts.claim(due);
        let marks = parts.due_reads(&claimed, due);
        assert_eq!(marks.len(), 1, "coalesced per member");
        assert_eq!(marks[0].1.0, 5);
        assert_eq!(parts.next_flush(), None);
    }

    #[test]
    fn finished_only_once_closed_drained_and_written() {
        let (parts, senders) = partitions(&[1, 0], 10);
        let now = Instant::now();
        assert!(!parts.finished());
        drop(senders);
        assert!(!parts.finished(), "a queued job is still to be done");
        let claimed = parts.claim(now);
        assert!(parts.take(0).is_some());
        assert!(parts.take(0).is_none());
        parts.add_read(0, mark(1), now + std::time::Duration::from_secs(60));
        assert!(!parts.finished(), "a read mark is still to be written");
        assert_eq!(
            parts.due_reads(&claimed, now).len(),
            1,
            "closed: due at once"
        );
        parts.release(&claimed);
        assert!(parts.finished());
    }
}
