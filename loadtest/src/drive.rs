//! One connection under load: sends on its schedule (open loop) and records, against each send's
//! intended time, the ack (`send->ack`), every delivery it receives (`send->delivery`, from the
//! time carried in the content) and its own lag behind the schedule (`generator_lag`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::arrivals::Schedule;
use crate::client::{self, Event, Protocol, Socket};
use crate::record::{Recorder, micros};

/// What every connection of a run shares.
pub(crate) struct Run {
    pub(crate) protocol: Protocol,
    /// Contents carry intended send times as microseconds since this instant.
    pub(crate) epoch: Instant,
    /// When set (fanout), the slowest delivery of each message index, in microseconds.
    pub(crate) last_delivery: Option<Vec<AtomicU64>>,
    /// Live totals for the progress line.
    pub(crate) live: Live,
}

impl Run {
    /// A run starting now; `last_delivery` sized for fanout's message indexes, if tracked.
    pub(crate) fn start(protocol: Protocol, last_delivery: Option<usize>) -> Arc<Self> {
        Arc::new(Self {
            protocol,
            epoch: Instant::now(),
            last_delivery: last_delivery.map(|n| (0..n).map(|_| AtomicU64::new(0)).collect()),
            live: Live::default(),
        })
    }
}

/// Running totals over all connections, for the progress line.
#[derive(Debug, Default)]
pub(crate) struct Live {
    pub(crate) sent: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
}

impl Live {
    /// Prints `sent/acked/delivered/failed` on stderr once a second until `until`.
    pub(crate) fn show_until(run: Arc<Run>, until: Instant) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let started = Instant::now();
            while Instant::now() < until {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let l = &run.live;
                eprint!(
                    "\r  {:>4.0}s  sent {:>9}  acked {:>9}  delivered {:>10}  failed {:>7}",
                    started.elapsed().as_secs_f64(),
                    l.sent.load(Ordering::Relaxed),
                    l.acked.load(Ordering::Relaxed),
                    l.delivered.load(Ordering::Relaxed),
                    l.failed.load(Ordering::Relaxed)
                );
            }
            eprintln!();
        })
    }
}

/// A connection's sending plan.
pub(crate) struct Plan {
    /// Sends go to these in turn.
    pub(crate) conversations: Vec<String>,
    pub(crate) schedule: Schedule,
    pub(crate) deadline: Instant,
    /// Members each of this connection's messages must reach (its conversation's others), so a
    /// run can check every delivery; 0 when the scenario does not check them.
    pub(crate) recipients: u64,
    /// This connection's own name where the protocol echoes sends as messages (XMPP's room
    /// nickname: a groupchat message from it is our ack); empty otherwise.
    pub(crate) me: String,
}

/// How long a sender waits for its last acks after its deadline (then they count as TIMEOUT).
const DRAIN: Duration = Duration::from_secs(5);

/// Runs one connection until its plan is done and acked (or `listen_until`, for a listener).
pub(crate) async fn drive(
    socket: Socket,
    run: Arc<Run>,
    plan: Option<Plan>,
    listen_until: Instant,
) -> anyhow::Result<Recorder> {
    let (mut write, mut read) = socket.split();
    let intended: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let (pong, mut pongs) = mpsc::channel::<()>(4);
    // Acks are counted for the achieved rate only while the run's window is open.
    let window_end = plan.as_ref().map(|p| p.deadline);
    let recipients = plan.as_ref().map_or(0, |p| p.recipients);
    let me = plan.as_ref().map(|p| p.me.clone()).unwrap_or_default();
    // Set when the server ends the connection (a close frame, a reset): the run goes on without it.
    let closed = Arc::new(tokio::sync::Notify::new());
    let reader = {
        let (intended, recorder, run, closed) = (
            Arc::clone(&intended),
            Arc::clone(&recorder),
            Arc::clone(&run),
            Arc::clone(&closed),
        );
        tokio::spawn(async move {
            let _closed = NotifyOnDrop(closed);
            while let Some(Ok(text)) = client::next(&mut read).await {
                let now = Instant::now();
                let event = match client::classify(run.protocol, &text) {
                    Event::Groupchat(m) if !me.is_empty() && m.nick == me => Event::Acked(m.id),
                    Event::Groupchat(m) => Event::Delivered(m.body),
                    event => event,
                };
                match event {
                    Event::Acked(key) => {
                        let at = key_number(key).and_then(|n| lock(&intended).remove(&n));
                        if let Some(at) = at {
                            let mut rec = lock(&recorder);
                            rec.record("send_to_ack", now.saturating_duration_since(at));
                            rec.count("acked", 1);
                            if window_end.is_some_and(|end| now <= end) {
                                rec.count("acked_in_window", 1);
                            }
                            rec.count("deliveries_expected", recipients);
                            run.live.acked.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Event::Delivered(content) => {
                        let Some((sent, index)) = parse_content(content) else {
                            continue;
                        };
                        let latency = now.saturating_duration_since(run.epoch + sent);
                        lock(&recorder).record("send_to_delivery", latency);
                        run.live.delivered.fetch_add(1, Ordering::Relaxed);
                        if let Some(slot) = run.last_delivery.as_ref().and_then(|l| l.get(index)) {
                            slot.fetch_max(micros(latency), Ordering::Relaxed);
                        }
                    }
                    Event::Failed(key, code) => {
                        if let Some(n) = key_number(key) {
                            lock(&intended).remove(&n);
                        }
                        lock(&recorder).error(code);
                        run.live.failed.fetch_add(1, Ordering::Relaxed);
                    }
                    Event::Ping => {
                        let _ = pong.try_send(());
                    }
                    Event::Groupchat(_) | Event::Other => {}
                }
            }
        })
    };

    let mut sent = 0u64;
    let mut server_closed = false;
    let mut unsent = 0u64;
    let closing = closed.notified();
    tokio::pin!(closing);
    if let Some(mut plan) = plan {
        'schedule: loop {
            let next = plan.schedule.advance();
            if next >= plan.deadline {
                break;
            }
            if server_closed {
                unsent += 1;
                continue;
            }
            let sleep = tokio::time::sleep_until(next.into());
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    () = &mut closing => {
                        server_closed = true;
                        unsent += 1;
                        continue 'schedule;
                    }
                    Some(()) = pongs.recv() => {
                        if write.send(Message::text("3")).await.is_err() {
                            server_closed = true;
                            unsent += 1;
                            continue 'schedule;
                        }
                    }
                }
            }
            lock(&recorder).record(
                "generator_lag",
                Instant::now().saturating_duration_since(next),
            );
            lock(&intended).insert(sent, next);
            let content = format!(
                "t={};i={sent}",
                next.saturating_duration_since(run.epoch).as_micros()
            );
            let conversation = &plan.conversations[sent as usize % plan.conversations.len().max(1)];
            let frame = client::send_frame(run.protocol, conversation, sent, &content);
            if write.send(frame).await.is_err() {
                // Never reached the server: neither sent nor outstanding.
                lock(&intended).remove(&sent);
                server_closed = true;
                unsent += 1;
                continue;
            }
            sent += 1;
            run.live.sent.fetch_add(1, Ordering::Relaxed);
        }
        let drain_until = Instant::now() + DRAIN;
        while !server_closed && !lock(&intended).is_empty() && Instant::now() < drain_until {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
                () = &mut closing => server_closed = true,
            }
        }
    }
    // Listeners (and finished senders) keep reading until the run is over.
    while !server_closed {
        tokio::select! {
            () = tokio::time::sleep_until(listen_until.into()) => break,
            () = &mut closing => server_closed = true,
            Some(()) = pongs.recv() => {
                if write.send(Message::text("3")).await.is_err() {
                    server_closed = true;
                }
            }
        }
    }
    let missing = lock(&intended).len() as u64;
    let _ = write.close().await;
    reader.abort();
    let _ = reader.await;
    let mut rec = std::mem::take(&mut *lock(&recorder));
    rec.count("sent", sent);
    if server_closed {
        // What the server had not answered when it closed is lost to this client, and what the
        // schedule still held was never sent: both are failures of the run, not of the generator.
        rec.count("closed_by_server", 1);
        rec.count("unsent_after_close", unsent);
        for _ in 0..missing + unsent {
            rec.error("CLOSED");
        }
    } else {
        for _ in 0..missing {
            rec.error("TIMEOUT");
        }
    }
    Ok(rec)
}

/// Wakes the sender when the reader stops, whatever stopped it.
struct NotifyOnDrop(Arc<tokio::sync::Notify>);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The send number of a key: `k<n>` (a client id) or `<n>` (a Socket.IO ack id).
fn key_number(key: &str) -> Option<u64> {
    key.strip_prefix('k').unwrap_or(key).parse().ok()
}

/// `t=<micros>;i=<index>` → (offset from the epoch, index).
fn parse_content(content: &str) -> Option<(Duration, usize)> {
    let (t, i) = content.strip_prefix("t=")?.split_once(";i=")?;
    Some((Duration::from_micros(t.parse().ok()?), i.parse().ok()?))
}
