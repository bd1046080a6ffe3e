//! Shards: the only place Parley creates threads for serving. Each shard is one OS thread running a
//! current-thread tokio runtime with its own listener, database pool and connection set; a
//! connection lives and dies on the shard that accepted it, so its state needs no lock.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use parley_persister::{PgConfig, Pool};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinSet, LocalSet};
use tracing::Instrument;

use crate::fanout::Delivery;
use crate::http;
use crate::permits::Refusal;
use crate::shutdown::Shutdown;
use crate::transport::Stream;
use crate::ws::hub::Hub;
use parley_shared::UserId;

/// What a shard needs to run; built by [`crate::Gateway::start`].
#[derive(Debug)]
pub(crate) struct ShardSpec {
    pub(crate) id: usize,
    pub(crate) listener: std::net::TcpListener,
    pub(crate) db: PgConfig,
    pub(crate) settings: ShardSettings,
    pub(crate) app: std::sync::Arc<crate::app::App>,
    pub(crate) shutdown: Shutdown,
    /// Fan-out events for this shard, and the flag the bus raises if it ever had to drop one.
    pub(crate) inbox: mpsc::Receiver<Arc<Delivery>>,
    pub(crate) overflowed: Arc<[AtomicBool]>,
    /// `metrics.listen`, bound; served by this shard (shard 0 only).
    pub(crate) internal: Option<std::net::TcpListener>,
    /// The push outbox's feed, run by this shard (shard 0, when push is on).
    pub(crate) push: Option<crate::push::PushInbox>,
}

/// Bounds and timeouts of one shard, from `[server]` and `[database]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShardSettings {
    pub(crate) header_read_timeout: Duration,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_headers: usize,
    pub(crate) shutdown_grace: Duration,
    pub(crate) pool_size: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) probe_timeout: Duration,
}

/// How sessions are closed at shutdown: 1012 (reconnect, another instance takes you) when
/// instances are joined, else 1001.
fn farewell(app: &crate::app::App) -> (u16, &'static str) {
    match app.bus.link() {
        Some(_) => (
            crate::protocol::close::SERVICE_RESTART,
            "instance restarting; reconnect",
        ),
        None => (crate::protocol::close::GOING_AWAY, "server shutting down"),
    }
}

/// State shared by the connections of one shard (and only them: it is `Rc`, not `Arc`).
#[derive(Debug)]
pub(crate) struct ShardState {
    pub(crate) shard: usize,
    pub(crate) app: std::sync::Arc<crate::app::App>,
    pub(crate) pool: Pool,
    pub(crate) probe_timeout: Duration,
    pub(crate) shutdown: Shutdown,
    /// This shard's WebSocket sessions.
    pub(crate) hub: Rc<Hub>,
    /// What TLS handshakes use, when the gateway terminates TLS.
    tls: Option<Arc<rustls::ServerConfig>>,
    next_conn: Cell<u64>,
}

impl ShardState {
    /// A connection id unique on this shard.
    pub(crate) fn next_ws_conn(&self) -> u64 {
        let id = self.next_conn.get() + 1;
        self.next_conn.set(id);
        id
    }
}

/// Starts the shard's thread.
pub(crate) fn spawn(spec: ShardSpec) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("parley-shard-{}", spec.id))
        .spawn(move || run(spec))
}

fn run(spec: ShardSpec) {
    let id = spec.id;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(shard = id, %error, "could not build the shard's runtime");
            return;
        }
    };
    let local = LocalSet::new();
    local.block_on(
        &runtime,
        serve(spec).instrument(tracing::info_span!("shard", shard = id)),
    );
}

async fn serve(spec: ShardSpec) {
    let settings = spec.settings;
    let listener = match TcpListener::from_std(spec.listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "could not register the listener");
            return;
        }
    };
    let pool = parley_persister::db::pool(
        spec.db.clone(),
        settings.pool_size,
        settings.connect_timeout,
    );
    let hub = Rc::new(Hub::new(
        spec.app.instance,
        spec.id,
        std::sync::Arc::clone(&spec.app.metrics),
        spec.app.notifications.toast_group_window,
    ));
    tokio::task::spawn_local(deliver(
        spec.inbox,
        spec.overflowed,
        spec.id,
        Rc::clone(&hub),
        (pool.clone(), std::sync::Arc::clone(&spec.app)),
    ));
    if let Some(inbox) = spec.push {
        tokio::task::spawn_local(crate::push::run(
            std::sync::Arc::clone(&spec.app),
            pool.clone(),
            inbox,
            spec.shutdown.clone(),
        ));
    }
    if spec.id == 0 {
        tokio::task::spawn_local(crate::auth::watch::run(
            std::sync::Arc::clone(&spec.app.bus),
            spec.db.clone(),
            spec.shutdown.clone(),
        ));
        tokio::task::spawn_local(crate::retention::run(
            std::sync::Arc::clone(&spec.app),
            pool.clone(),
            spec.shutdown.clone(),
        ));
        tokio::task::spawn_local(crate::files::sweep::run(
            std::sync::Arc::clone(&spec.app),
            pool.clone(),
            spec.shutdown.clone(),
        ));
        tokio::task::spawn_local(crate::presence::publish(
            std::sync::Arc::clone(&spec.app),
            pool.clone(),
            spec.shutdown.clone(),
        ));
    }
    let tls_config = spec.app.tls.as_ref().map(|tls| tls.config());
    let state = Rc::new(ShardState {
        shard: spec.id,
        app: spec.app,
        hub: Rc::clone(&hub),
        tls: tls_config,
        next_conn: Cell::new(0),
        pool,
        probe_timeout: settings.probe_timeout,
        shutdown: spec.shutdown.clone(),
    });
    if let Some(internal) = spec.internal {
        tokio::task::spawn_local(crate::internal::serve(
            internal,
            Rc::clone(&state),
            settings,
            spec.shutdown.clone(),
        ));
    }
    let mut shutdown = spec.shutdown;
    let mut connections = JoinSet::new();
    let mut next_id: u64 = 0;
    loop {
        tokio::select! {
            () = shutdown.triggered() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // One permit from accept to close, handed on to a WebSocket session.
                    let permit = match state.app.permits.acquire(peer.ip()) {
                        Ok(permit) => permit,
                        Err(refusal) => {
                            refuse(&stream, refusal, &state.app.metrics);
                            continue;
                        }
                    };
                    next_id += 1;
                    let span = tracing::debug_span!("conn", conn.id = next_id, %peer);
                    let conn = Rc::new(http::ConnInfo::new(peer, permit));
                    let task = serve_connection(stream, conn, Rc::clone(&state), settings, shutdown.clone());
                    connections.spawn_local(task.instrument(span));
                }
                Err(error) => {
                    // Usually EMFILE/ENFILE: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let open = connections.len();
    tracing::debug!(
        open,
        sockets = hub.len(),
        "stopped accepting; draining connections"
    );
    // HTTP requests finish; WebSocket sessions get their in-flight sends answered, then 1001.
    let (drained, ()) = tokio::join!(
        tokio::time::timeout(settings.shutdown_grace, async {
            while connections.join_next().await.is_some() {}
        }),
        hub.drain(settings.shutdown_grace, farewell(&state.app)),
    );
    if drained.is_err() {
        tracing::warn!(
            remaining = connections.len(),
            grace = ?settings.shutdown_grace,
            "grace period over; closing remaining connections"
        );
        connections.shutdown().await;
    }
}

/// The answer to a connection past a cap: a 503 written without waiting (the socket is new, so
/// its send buffer is empty), then the close.
fn refuse(stream: &TcpStream, refusal: Refusal, metrics: &crate::metrics::Metrics) {
    const BODY: &str = r#"{"error":{"code":"OVERLOADED","message":"Too many connections; retry shortly","retryable":true,"retryAfter":1}}"#;
    let reason = match refusal {
        Refusal::Full => "max_connections",
        Refusal::PerIp => "max_connections_per_ip",
    };
    metrics.connection_refused(refusal);
    tracing::debug!(reason, "connection refused at accept");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(response.as_bytes());
}

async fn serve_connection(
    stream: TcpStream,
    conn: Rc<http::ConnInfo>,
    state: Rc<ShardState>,
    settings: ShardSettings,
    mut shutdown: Shutdown,
) {
    let stream = match &state.tls {
        None => Stream::Plain(stream),
        // The handshake is bounded like the request head (a stalled handshake holds a permit).
        Some(config) => {
            let handshake = tokio_rustls::TlsAcceptor::from(Arc::clone(config)).accept(stream);
            match tokio::time::timeout(settings.header_read_timeout, handshake).await {
                Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
                Ok(Err(error)) => {
                    tracing::debug!(%error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            }
        }
    };
    let service =
        service_fn(move |request| http::handle(request, Rc::clone(&conn), Rc::clone(&state)));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_header_size(settings.max_header_bytes)
        .max_headers(settings.max_headers)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.triggered() => {
            // Finish the request in flight, then close; the shard's grace timer bounds this.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// Most fan-out events handled between two flushes of badges.
const BURST: usize = 256;

/// Moves fan-out events from the bus into local connections, in order, a burst at a time; after
/// each burst, the changed unread counts go out as badges (one per user and conversation, however
/// many messages the burst held). If the bus ever had to drop an event for this shard, every
/// connection here is closed for a resync first. Grouped toasts go out when their window ends.
async fn deliver(
    mut inbox: mpsc::Receiver<Arc<Delivery>>,
    overflowed: Arc<[AtomicBool]>,
    shard: usize,
    hub: Rc<Hub>,
    (pool, app): (Pool, std::sync::Arc<crate::app::App>),
) {
    let mut burst = Vec::with_capacity(BURST);
    loop {
        let received = match hub.next_toast() {
            None => inbox.recv_many(&mut burst, BURST).await,
            Some(at) => tokio::select! {
                received = inbox.recv_many(&mut burst, BURST) => received,
                () = tokio::time::sleep_until(at.into()) => {
                    hub.flush_toasts();
                    continue;
                }
            },
        };
        if received == 0 {
            break;
        }
        if overflowed[shard].swap(false, Ordering::AcqRel) {
            hub.close_all(
                crate::protocol::close::RESYNC,
                "fan-out fell behind: reconnect and resume by seq",
            );
        }
        for delivery in burst.drain(..) {
            hub.deliver(&delivery);
        }
        hub.flush_badges();
        hub.flush_toasts();
        load_unread(&hub, &pool, &app);
        reload_toasts(&hub, &pool, &app);
        recheck_watches(&hub, &pool);
    }
}

/// Checks again, against the stored memberships, the presence watches someone's leaving may
/// have ended; ends those that no shared conversation allows any more.
fn recheck_watches(hub: &Rc<Hub>, pool: &Pool) {
    for recheck in hub.take_rechecks() {
        let hub = Rc::clone(hub);
        let pool = pool.clone();
        tokio::task::spawn_local(async move {
            let shared = match pool.get().await {
                Ok(conn) => {
                    parley_persister::store::users::sharing_conversation(
                        &conn,
                        recheck.owner,
                        &recheck.watched,
                    )
                    .await
                }
                Err(error) => Err(error.into()),
            };
            let gone: Vec<_> = match shared {
                Ok(shared) => recheck
                    .watched
                    .iter()
                    .filter(|w| !shared.contains(w))
                    .copied()
                    .collect(),
                // Fail closed: without an answer, the watches end (a client can ask again).
                Err(error) => {
                    tracing::warn!(%error, "could not recheck presence watches; ending them");
                    recheck.watched.clone()
                }
            };
            hub.end_watches(recheck.conn, &gone);
        });
    }
}

/// Reads again the toast context of the users the hub asks for, each in its own task.
fn reload_toasts(hub: &Rc<Hub>, pool: &Pool, app: &std::sync::Arc<crate::app::App>) {
    for user in hub.take_toast_reloads() {
        let (hub, pool, app) = (Rc::clone(hub), pool.clone(), std::sync::Arc::clone(app));
        tokio::task::spawn_local(async move { load_toasts(&hub, &pool, &app, user).await });
    }
}

/// Reads `user`'s toast context (a few tries); without it they get badges, not toasts.
async fn load_toasts(hub: &Hub, pool: &Pool, app: &crate::app::App, user: UserId) {
    use parley_persister::store::notifications::toast_context;
    for attempt in 0..5u32 {
        let context = match pool.get().await {
            Ok(conn) => toast_context(&conn, user).await.map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match context {
            Ok(context) => {
                let dnd = app.presence.status(user) == crate::presence::Status::Dnd;
                return hub.toasts_loaded(user, context, dnd);
            }
            Err(error) => {
                tracing::warn!(%error, attempt, "could not load notification preferences; retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
}

/// Loads the unread state (and the toast context) of the users the hub asks for, each in its own
/// task.
pub(crate) fn load_unread(hub: &Rc<Hub>, pool: &Pool, app: &std::sync::Arc<crate::app::App>) {
    for user in hub.take_loads() {
        let hub = Rc::clone(hub);
        let pool = pool.clone();
        let app = std::sync::Arc::clone(app);
        let (toasts_hub, toasts_pool) = (Rc::clone(&hub), pool.clone());
        tokio::task::spawn_local(async move {
            load_toasts(&toasts_hub, &toasts_pool, &app, user).await;
        });
        tokio::task::spawn_local(async move {
            for attempt in 0..5u32 {
                let rows = match pool.get().await {
                    Ok(conn) => parley_persister::store::conversations::read_states(&conn, user)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(error) => Err(error.to_string()),
                };
                match rows {
                    Ok(rows) => return hub.unread_loaded(user, &rows),
                    Err(error) => {
                        tracing::warn!(%error, attempt, "could not load unread counts; retrying");
                        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    }
                }
            }
        });
    }
}
