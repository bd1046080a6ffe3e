//! The cluster thread: one OS thread with its own current-thread runtime that owns both Redis
//! connections. It publishes this instance's events in order, receives everyone's, runs the
//! sequencer's clock (releasing held messages, repairing gaps from PostgreSQL), keeps
//! `redis_up` true only while both connections are up and subscribed, and catches up from
//! PostgreSQL after anything may have been lost (a reconnect, an overflowed receive buffer) and
//! every second while Redis is down. It also keeps this instance's liveness key
//! (`alive:<instance>`) fresh, which is what makes its per-user connection counts count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fred::prelude::{ClientLike, EventInterface, PubsubInterface};
use parley_persister::{PgConfig, Pool};
use tokio::sync::{mpsc, oneshot};

use super::sequencer::Repair;
use super::{ClusterError, Link, LinkParts};
use crate::fanout::{Bus, Delivery};

/// Marks this instance alive for ARGV[1] ms. KEYS: its liveness key.
const ALIVE: &str = "redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) return 1";

/// Most messages one repair reads; a longer gap takes several.
const REPAIR_LIMIT: i64 = 1_000;
/// Publishes in flight at once (fred pipelines them on one connection).
const PUBLISH_WINDOW: usize = 1_024;

/// The running cluster thread; [`stop`](Self::stop) it after the persister has stopped.
#[derive(Debug)]
pub(crate) struct ClusterHandle {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClusterHandle {
    /// Publishes what is still queued (for up to a second), disconnects, and joins the thread.
    pub(crate) fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the cluster thread panicked");
        }
    }
}

impl Drop for ClusterHandle {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Starts the cluster thread for `link`, delivering into `bus`, repairing from `db`.
pub(crate) fn start(
    link: Arc<Link>,
    parts: LinkParts,
    bus: Arc<Bus>,
    db: PgConfig,
    connect_timeout: Duration,
) -> Result<ClusterHandle, ClusterError> {
    let (stop, stopped) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("parley-cluster".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!(%error, "could not start the cluster runtime");
                    return;
                }
            };
            let pool = parley_persister::db::pool(db, 2, connect_timeout);
            runtime.block_on(run(link, parts, bus, pool, stopped));
        })
        .map_err(ClusterError::Thread)?;
    Ok(ClusterHandle {
        stop: Some(stop),
        thread: Some(thread),
    })
}

async fn run(
    link: Arc<Link>,
    parts: LinkParts,
    bus: Arc<Bus>,
    pool: Pool,
    mut stopped: oneshot::Receiver<()>,
) {
    let _client = link.client.connect();
    let _subscriber = link.subscriber.connect();
    let _resubscribe = link.subscriber.manage_subscriptions();
    let (catch_up, catch_up_rx) = mpsc::channel::<()>(1);
    let receiver = tokio::spawn(receive(
        Arc::clone(&link),
        Arc::clone(&bus),
        catch_up.clone(),
    ));
    let (flush, flushed) = oneshot::channel();
    let publisher = tokio::spawn(publish(Arc::clone(&link), parts.publish, flushed));
    let clock = tokio::spawn(clock(
        Arc::clone(&link),
        Arc::clone(&bus),
        pool,
        catch_up.clone(),
        catch_up_rx,
    ));
    let health = tokio::spawn(health(Arc::clone(&link), catch_up));
    let _ = (&mut stopped).await;
    // The persister has stopped: what it published is queued. Give it a second to leave.
    let _ = flush.send(());
    let _ = tokio::time::timeout(Duration::from_secs(1), publisher).await;
    receiver.abort();
    clock.abort();
    health.abort();
    let _ = tokio::time::timeout(Duration::from_millis(500), link.subscriber.quit()).await;
    let _ = tokio::time::timeout(Duration::from_millis(500), link.client.quit()).await;
    link.set_up(false);
}

/// Publishes queued envelopes in order, a window of them in flight; after `flush`, what is
/// queued and then returns.
async fn publish(link: Arc<Link>, mut queue: mpsc::Receiver<Bytes>, flush: oneshot::Receiver<()>) {
    let channel = link.keys.events();
    let mut in_flight = tokio::task::JoinSet::new();
    let mut flush = std::pin::pin!(flush);
    loop {
        let bytes = tokio::select! {
            bytes = queue.recv() => match bytes {
                Some(bytes) => bytes,
                None => break,
            },
            _ = &mut flush, if !queue.is_closed() => {
                queue.close();
                continue;
            }
        };
        while in_flight.len() >= PUBLISH_WINDOW {
            in_flight.join_next().await;
        }
        let (link, channel) = (Arc::clone(&link), channel.clone());
        in_flight.spawn(async move {
            match link.client.publish::<i64, _, _>(channel, bytes).await {
                Ok(_) => link.metrics().published.inc(),
                Err(_) => link.metrics().publish_failed.inc(),
            }
        });
        // Let the spawned publish be polled now, so publishes are handed to fred in order.
        tokio::task::yield_now().await;
    }
    while in_flight.join_next().await.is_some() {}
}

/// Receives every instance's envelopes and hands them to the bus.
async fn receive(link: Arc<Link>, bus: Arc<Bus>, catch_up: mpsc::Sender<()>) {
    let mut messages = link.subscriber.message_rx();
    loop {
        match messages.recv().await {
            Ok(message) => {
                let Some(bytes) = message.value.into_bytes() else {
                    link.metrics().receive_lost.inc();
                    continue;
                };
                match super::decode(&bytes) {
                    Ok(received) if received.from == link.instance => {}
                    Ok(received) => {
                        link.metrics().received.inc();
                        bus.arrived(received.delivery);
                    }
                    Err(error) => {
                        link.metrics().receive_lost.inc();
                        tracing::warn!(%error, "an event from Redis was not understood");
                    }
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(lost)) => {
                link.metrics().receive_lost.add(lost);
                tracing::warn!(lost, "the Redis receive buffer overflowed; catching up");
                let _ = catch_up.try_send(());
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Keeps `redis_up` true only while both connections are up and the event channel subscribed;
/// every way back up asks for a catch-up.
async fn health(link: Arc<Link>, catch_up: mpsc::Sender<()>) {
    let channel = link.keys.events();
    let mut reconnects = link.subscriber.reconnect_rx();
    let mut subscribed = false;
    let mut every = tokio::time::interval(Duration::from_millis(100));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let alive = fred::types::scripts::Script::from_lua(ALIVE);
    let alive_key = format!("{}{}", link.keys.alive_prefix(), link.instance);
    let ttl = link.config.instance_ttl;
    let mut announced: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            reconnected = reconnects.recv() => {
                if reconnected.is_ok() {
                    link.metrics().reconnects.inc();
                    subscribed = false;
                    announced = None;
                }
            }
        }
        let connected = link.client.is_connected() && link.subscriber.is_connected();
        if connected && !subscribed {
            subscribed = link.subscriber.subscribe(channel.as_str()).await.is_ok();
        }
        if !connected {
            subscribed = false;
            announced = None;
        }
        if connected && announced.is_none_or(|at| at.elapsed() >= ttl / 3) {
            let call = alive.evalsha_with_reload::<i64, _, _>(
                &link.client,
                vec![alive_key.clone()],
                vec![ttl.as_millis().to_string()],
            );
            if let Ok(Ok(_)) = tokio::time::timeout(link.config.command_timeout, call).await {
                announced = Some(Instant::now());
            }
        }
        // Joined only once the liveness key is written: until then the others drop this
        // instance's connection counts as a dead instance's.
        let up = connected && subscribed && announced.is_some();
        if up != link.is_up() {
            link.set_up(up);
            if up {
                tracing::info!("Redis is up; catching up from PostgreSQL");
                let _ = catch_up.try_send(());
            } else {
                tracing::warn!("Redis is unreachable: degraded (local fan-out continues)");
            }
        }
    }
}

/// The sequencer's clock: releases what is due, runs repairs and catch-ups.
async fn clock(
    link: Arc<Link>,
    bus: Arc<Bus>,
    pool: Pool,
    catch_up: mpsc::Sender<()>,
    mut catch_ups: mpsc::Receiver<()>,
) {
    let step =
        (link.config.reorder_hold / 4).clamp(Duration::from_millis(1), Duration::from_millis(10));
    let mut every = tokio::time::interval(step);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_catch_up = Instant::now();
    loop {
        tokio::select! {
            _ = every.tick() => {}
            Some(()) = catch_ups.recv() => {
                last_catch_up = Instant::now();
                run_catch_up(&link, &bus, &pool).await;
                continue;
            }
        }
        let repairs = {
            // Delivered under the lock: see `Link::offer`.
            let mut sequencer = link.sequencer();
            let (released, repairs) = sequencer.due(Instant::now());
            link.count(&released);
            released.items.into_iter().for_each(|d| bus.everywhere(d));
            repairs
        };
        for repair in repairs {
            let (link, bus, pool) = (Arc::clone(&link), Arc::clone(&bus), pool.clone());
            tokio::spawn(async move { run_repair(&link, &bus, &pool, repair).await });
        }
        if !link.is_up() && last_catch_up.elapsed() >= Duration::from_secs(1) {
            last_catch_up = Instant::now();
            let _ = catch_up.try_send(());
        }
    }
}

/// Revocations published while Redis was unreachable: closed here too.
async fn catch_up_revocations(bus: &Bus, pool: &Pool) {
    let revocations = bus.revocations();
    let read = match pool.get().await {
        Ok(conn) => {
            parley_persister::store::sessions::revoked_within(&conn, revocations.keep()).await
        }
        Err(error) => Err(error.into()),
    };
    match read {
        Ok(rows) => {
            for (user, session, _) in rows {
                if !revocations.is_revoked(session) {
                    bus.arrived(Arc::new(Delivery::Revoked { user, session }));
                }
            }
        }
        Err(error) => tracing::warn!(%error, "catch-up could not read revocations; will retry"),
    }
}

/// Fills one gap from PostgreSQL.
async fn run_repair(link: &Link, bus: &Bus, pool: &Pool, repair: Repair) {
    match read_range(pool, repair).await {
        Ok((items, complete)) => {
            let count = items.len() as u64;
            let mut sequencer = link.sequencer();
            let released = sequencer.filled(repair.conversation, items, complete, Instant::now());
            link.metrics().repairs.inc();
            link.metrics()
                .repaired
                .add(count.saturating_sub(released.duplicates));
            link.count(&released);
            released.items.into_iter().for_each(|d| bus.everywhere(d));
        }
        Err(error) => {
            tracing::warn!(%error, conversation = %repair.conversation, "gap repair failed; will retry");
            link.sequencer().failed(repair.conversation, Instant::now());
        }
    }
}

/// The messages of a repair as deliveries, and whether they are the whole range.
async fn read_range(
    pool: &Pool,
    repair: Repair,
) -> Result<(Vec<(i64, Arc<Delivery>)>, bool), parley_persister::DbError> {
    use parley_persister::store::repair;
    let conn = pool.get().await?;
    let messages = repair::range(
        &conn,
        repair.conversation,
        repair.from,
        repair.to,
        REPAIR_LIMIT,
    )
    .await?;
    let complete = (messages.len() as i64) < REPAIR_LIMIT;
    if messages.is_empty() {
        return Ok((Vec::new(), complete));
    }
    let recipients: Arc<[parley_shared::UserId]> =
        repair::member_ids(&conn, repair.conversation).await?.into();
    let items = messages
        .iter()
        .map(|message| {
            (
                message.seq,
                Arc::new(Delivery::repaired(message, &recipients)),
            )
        })
        .collect();
    Ok((items, complete))
}

/// Asks PostgreSQL how far every tracked conversation has committed and repairs what this
/// instance has not delivered, and which sessions were revoked that it has not heard of.
async fn run_catch_up(link: &Arc<Link>, bus: &Arc<Bus>, pool: &Pool) {
    catch_up_revocations(bus, pool).await;
    let positions = link.sequencer().positions();
    if positions.is_empty() {
        return;
    }
    let ids: Vec<_> = positions.iter().map(|(c, _)| *c).collect();
    let committed = match pool.get().await {
        Ok(conn) => parley_persister::store::repair::last_seqs(&conn, &ids).await,
        Err(error) => Err(error.into()),
    };
    let committed = match committed {
        Ok(committed) => committed,
        Err(error) => {
            tracing::warn!(%error, "catch-up could not read PostgreSQL; will retry");
            return;
        }
    };
    let repairs: Vec<Repair> = {
        let mut sequencer = link.sequencer();
        committed
            .into_iter()
            .filter_map(|(conversation, last)| sequencer.catch_up(conversation, last))
            .collect()
    };
    for repair in repairs {
        run_repair(link, bus, pool, repair).await;
    }
}
