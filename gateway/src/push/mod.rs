//! Push to the devices of users with no connected device, behind the writer and off the send
//! path. The bus tells the feed (after COMMIT) each conversation's committed seqs; the outbox
//! task gathers them for `notifications.push_interval`, then in one transaction per round reads
//! the members' devices to tell (`store::push::enqueue`: preferences applied in SQL), keeps those
//! whose user has no connection (presence `offline`, or `unknown` while Redis is down), puts one
//! delivery per device and message in `push_outbox` and moves the conversations' watermarks. A
//! crash before that commit loses nothing (the watermark did not move: the next start looks
//! again); after it, the deliveries are stored. The delivery task claims due deliveries with a
//! lease, POSTs them (`webhook`), deletes them when the service answered 2xx, retries with
//! backoff, dead-letters after `push_attempts`, and forgets a device the service calls gone (404,
//! 410). A delivery interrupted by a crash is sent again with the same `Idempotency-Key`. Two
//! channels: `webhook` (a signed JSON POST to the operator's push gateway) and `webpush` (the
//! payload encrypted per RFC 8291 to the browser's keys, POSTed to its push service's endpoint
//! with a VAPID token, RFC 8030/8292).

pub mod ece;
pub mod vapid;
mod webhook;

pub(crate) use webhook::target as endpoint;

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parley_persister::Pool;
use parley_persister::store::push::{self, Candidate, Committed};
use parley_shared::ConversationId;
use parley_shared::config::{NotificationsConfig, PushContent};
use parley_shared::hash::IdMap;
use tokio::sync::mpsc;

use crate::app::App;
use crate::presence::Status;
use crate::shutdown::Shutdown;
use crate::ws::toasts::body;

/// Conversations with new commits waiting for the outbox task.
const FEED: usize = 4096;
/// Messages looked at per conversation per round.
const PER_CONVERSATION: i64 = 500;
/// Conversations per round.
const CONVERSATIONS_PER_ROUND: usize = 500;
/// Conversations remembered as waiting; past it the task reads them from the tables.
const MAX_PENDING: usize = 50_000;
/// Deliveries claimed at once, at most (never more than the free `push_concurrency` permits, so
/// each claimed delivery starts at once and its lease only has to cover one request).
const CLAIM: usize = 64;
/// A claimed delivery's lease past twice `push_timeout` (the request, then recording its answer):
/// after a crash another worker, or this one restarted, takes it again this soon.
const LEASE_MARGIN: Duration = Duration::from_secs(10);
/// A push's text when it must not carry the message's.
const NEW_MESSAGE: &str = "New message";
/// Wait after a database error.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The bus's side: cheap to clone, never waits.
#[derive(Debug, Clone)]
pub(crate) struct PushFeed {
    sender: mpsc::Sender<Committed>,
    overflowed: Arc<AtomicBool>,
}

/// The outbox task's side.
#[derive(Debug)]
pub(crate) struct PushInbox {
    receiver: mpsc::Receiver<Committed>,
    overflowed: Arc<AtomicBool>,
}

/// A feed and its inbox.
pub(crate) fn feed() -> (PushFeed, PushInbox) {
    let (sender, receiver) = mpsc::channel(FEED);
    // Start with a look at the tables: the previous run may have stopped before enqueuing all.
    let overflowed = Arc::new(AtomicBool::new(true));
    (
        PushFeed {
            sender,
            overflowed: Arc::clone(&overflowed),
        },
        PushInbox {
            receiver,
            overflowed,
        },
    )
}

impl PushFeed {
    /// The seqs one batch committed, `(conversation, seq)` in commit order: one entry per
    /// conversation goes to the task.
    pub(crate) fn committed(&self, seqs: impl IntoIterator<Item = (ConversationId, i64)>) {
        let mut batch: IdMap<ConversationId, Committed> = IdMap::default();
        for (conversation, seq) in seqs {
            merge(
                &mut batch,
                Committed {
                    conversation,
                    first: seq,
                    top: seq,
                },
            );
        }
        for work in batch.into_values() {
            if self.sender.try_send(work).is_err() {
                // Behind: the task finds the work in the tables instead.
                self.overflowed.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Runs the outbox and delivery tasks on this shard until shutdown.
pub(crate) async fn run(app: Arc<App>, pool: Pool, inbox: PushInbox, shutdown: Shutdown) {
    let client = Rc::new(webhook::Client::new(&app.notifications));
    let wake = Rc::new(tokio::sync::Notify::new());
    let outbox = tokio::task::spawn_local(fill(
        Arc::clone(&app),
        pool.clone(),
        inbox,
        Rc::clone(&wake),
    ));
    let deliveries = tokio::task::spawn_local(deliver(app, pool, client, wake));
    let mut shutdown = shutdown;
    shutdown.triggered().await;
    outbox.abort();
    deliveries.abort();
}

fn merge(pending: &mut IdMap<ConversationId, Committed>, work: Committed) {
    pending
        .entry(work.conversation)
        .and_modify(|w| {
            w.first = w.first.min(work.first);
            w.top = w.top.max(work.top);
        })
        .or_insert(work);
}

/// The outbox task: feed (or tables) → deliveries, one transaction per round.
async fn fill(app: Arc<App>, pool: Pool, mut inbox: PushInbox, wake: Rc<tokio::sync::Notify>) {
    let config = app.notifications.clone();
    let mut pending: IdMap<ConversationId, Committed> = IdMap::default();
    loop {
        if inbox.overflowed.swap(false, Ordering::Relaxed) {
            match pool.get().await {
                Ok(conn) => match push::behind(&conn).await {
                    Ok(behind) => behind.into_iter().for_each(|w| merge(&mut pending, w)),
                    Err(error) => {
                        tracing::warn!(%error, "push: could not read what is behind");
                        inbox.overflowed.store(true, Ordering::Relaxed);
                    }
                },
                Err(error) => {
                    tracing::warn!(%error, "push: no database connection");
                    inbox.overflowed.store(true, Ordering::Relaxed);
                }
            }
        }
        if pending.is_empty() {
            match inbox.receiver.recv().await {
                Some(work) => merge(&mut pending, work),
                None => return,
            }
        }
        tokio::time::sleep(config.push_interval).await;
        while let Ok(work) = inbox.receiver.try_recv() {
            merge(&mut pending, work);
        }
        if pending.len() > MAX_PENDING {
            // Far behind: forget the list and read what is behind from the watermarks instead.
            pending.clear();
            inbox.overflowed.store(true, Ordering::Relaxed);
            continue;
        }
        let round: Vec<Committed> = pending
            .values()
            .take(CONVERSATIONS_PER_ROUND)
            .copied()
            .collect();
        match enqueue(&app, &config, &pool, &round).await {
            Ok(enqueued) => {
                app.metrics.push.enqueued.add(enqueued.deliveries);
                let reached: IdMap<ConversationId, i64> = enqueued.advanced.into_iter().collect();
                for work in &round {
                    match (
                        reached.get(&work.conversation),
                        pending.get_mut(&work.conversation),
                    ) {
                        // More to look at than one round takes.
                        (Some(&seq), Some(w)) if seq < w.top => w.first = seq + 1,
                        // At the top, or nothing was left (another instance looked meanwhile).
                        _ => {
                            pending.remove(&work.conversation);
                        }
                    }
                }
                if enqueued.deliveries > 0 {
                    wake.notify_one();
                }
            }
            Err(error) => {
                tracing::warn!(%error, "push: could not fill the outbox; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// One round: the candidates of `round`, those whose user has no connection, into the outbox.
async fn enqueue(
    app: &App,
    config: &NotificationsConfig,
    pool: &Pool,
    round: &[Committed],
) -> Result<push::Enqueued, parley_persister::DbError> {
    let mut conn = pool.get().await?;
    let content = config.push_content;
    push::enqueue(
        &mut conn,
        round,
        PER_CONVERSATION,
        config.push_max_age,
        |candidate| {
            let offline = matches!(
                app.presence.status(candidate.user),
                Status::Offline | Status::Unknown
            );
            offline.then(|| {
                let id = uuid::Uuid::now_v7();
                (id, payload(id, candidate, content))
            })
        },
    )
    .await
}

/// What the webhook receives for one delivery.
fn payload(id: uuid::Uuid, candidate: &Candidate, content: PushContent) -> String {
    let (title, text, sender) = match content {
        PushContent::Full => (
            candidate.title.as_str(),
            body(&candidate.content),
            candidate.sender_name.as_str(),
        ),
        PushContent::Sender => (
            candidate.title.as_str(),
            NEW_MESSAGE.to_owned(),
            candidate.sender_name.as_str(),
        ),
        PushContent::None => ("Parley", NEW_MESSAGE.to_owned(), ""),
    };
    serde_json::json!({
        "id": id.to_string(),
        "kind": candidate.kind,
        "deviceToken": candidate.token,
        "userId": candidate.user,
        "conversationId": candidate.conversation,
        "messageId": candidate.message,
        "seq": candidate.seq,
        "senderId": candidate.sender,
        "senderName": sender,
        "title": title,
        "body": text,
        "priority": if candidate.urgent { "urgent" } else { "normal" },
    })
    .to_string()
}

/// The wait before attempt `attempts + 1`: `push_retry_base` doubled per failure, at most
/// `push_retry_max`; `None` once `push_attempts` are spent.
pub(crate) fn retry_after(config: &NotificationsConfig, attempts: u32) -> Option<Duration> {
    if attempts >= config.push_attempts {
        return None;
    }
    let factor = 1u32 << attempts.saturating_sub(1).min(20);
    Some(
        config
            .push_retry_base
            .saturating_mul(factor)
            .min(config.push_retry_max),
    )
}

/// The delivery task: due deliveries, `push_concurrency` at a time.
async fn deliver(
    app: Arc<App>,
    pool: Pool,
    client: Rc<webhook::Client>,
    wake: Rc<tokio::sync::Notify>,
) {
    let config = app.notifications.clone();
    let permits = Arc::new(tokio::sync::Semaphore::new(config.push_concurrency));
    let lease = config.push_timeout * 2 + LEASE_MARGIN;
    loop {
        // Wait for a free permit before claiming: a claimed delivery never waits for one.
        match Arc::clone(&permits).acquire_owned().await {
            Ok(permit) => drop(permit),
            Err(_) => return,
        }
        let free = permits.available_permits().clamp(1, CLAIM);
        let due = match pool.get().await {
            Ok(conn) => push::claim(&conn, free as i64, lease).await,
            Err(error) => Err(error.into()),
        };
        let due = match due {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "push: could not claim deliveries");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        if due.is_empty() {
            // Woken by new deliveries, or at the latest after a while for retries coming due.
            let _ = tokio::time::timeout(config.push_retry_base.min(RETRY_AFTER), wake.notified())
                .await;
            continue;
        }
        for delivery in due {
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                return;
            };
            let (app, pool, client, config) = (
                Arc::clone(&app),
                pool.clone(),
                Rc::clone(&client),
                config.clone(),
            );
            tokio::task::spawn_local(async move {
                let _permit = permit;
                let answer = match delivery.kind.as_str() {
                    "webpush" => web_push(&app, &client, &delivery).await,
                    _ => client.post(&delivery.id, &delivery.payload).await,
                };
                settle(&app, &pool, &config, &delivery, answer).await;
            });
        }
    }
}

/// One Web Push request: the payload encrypted to the browser's keys, to its endpoint (checked
/// against `webpush_hosts` again: the configuration may have changed since it was registered).
async fn web_push(
    app: &App,
    client: &webhook::Client,
    delivery: &push::Due,
) -> Result<u16, webhook::PostError> {
    use webhook::PostError::Url;
    let config = &app.notifications;
    let vapid = app
        .vapid
        .as_ref()
        .ok_or(Url("Web Push is not configured"))?;
    let (Some(p256dh), Some(auth)) = (&delivery.p256dh, &delivery.auth) else {
        return Err(Url("a Web Push device without keys"));
    };
    let target = webhook::target(&delivery.token)?;
    if !target.is_tls() && !config.webpush_allow_http {
        return Err(Url("not an https:// endpoint"));
    }
    if !config.webpush_host_allowed(target.host()) {
        return Err(Url(
            "the endpoint's host is not in notifications.webpush_hosts",
        ));
    }
    let body = ece::encrypt(p256dh, auth, delivery.payload.as_bytes())
        .map_err(|_| Url("the subscription's keys do not encrypt"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let authorization = vapid
        .authorization(&target.origin(), now)
        .map_err(|_| Url("VAPID signing failed"))?;
    let urgent = serde_json::from_str::<serde_json::Value>(&delivery.payload)
        .is_ok_and(|push| push["priority"] == "urgent");
    let headers = [
        ("authorization", authorization),
        ("content-encoding", "aes128gcm".to_owned()),
        ("content-type", "application/octet-stream".to_owned()),
        ("ttl", "86400".to_owned()),
        ("urgency", if urgent { "high" } else { "normal" }.to_owned()),
    ];
    client.post_to(&target, &headers, body.into()).await
}

/// Records what the service answered.
async fn settle(
    app: &App,
    pool: &Pool,
    config: &NotificationsConfig,
    delivery: &push::Due,
    answer: Result<u16, webhook::PostError>,
) {
    let metrics = &app.metrics.push;
    let Ok(conn) = pool.get().await else {
        // The lease runs out and the delivery is tried again (same idempotency key).
        return;
    };
    let attempts = u32::try_from(delivery.attempts).unwrap_or(u32::MAX);
    let result = match answer {
        Ok(status) if (200..300).contains(&status) => {
            metrics.sent.inc();
            push::delivered(&conn, delivery.id, delivery.device).await
        }
        Ok(404 | 410) => {
            metrics.gone.inc();
            push::forget_device(&conn, delivery.device).await
        }
        other => {
            metrics.failed.inc();
            let error = match other {
                Ok(status) => format!("HTTP {status}"),
                Err(error) => error.to_string(),
            };
            let retry = retry_after(config, attempts);
            if retry.is_none() {
                metrics.dead.inc();
                tracing::warn!(delivery = %delivery.id, %error, "push: dead-lettered");
            }
            push::failed(&conn, delivery.id, delivery.device, &error, retry).await
        }
    };
    if let Err(error) = result {
        tracing::warn!(%error, "push: could not record a delivery's answer");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use parley_shared::config::NotificationsConfig;

    use super::retry_after;

    #[test]
    fn retries_double_up_to_the_cap_then_stop() {
        let config = NotificationsConfig {
            push_attempts: 5,
            push_retry_base: Duration::from_secs(2),
            push_retry_max: Duration::from_secs(10),
            ..NotificationsConfig::default()
        };
        let waits: Vec<Option<u64>> = (1..=5)
            .map(|n| retry_after(&config, n).map(|d| d.as_secs()))
            .collect();
        assert_eq!(waits, vec![Some(2), Some(4), Some(8), Some(10), None]);
    }
}
