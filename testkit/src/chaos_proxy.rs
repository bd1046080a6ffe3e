//! A TCP proxy on `127.0.0.1:0` that a test puts between two parts (the gateway and PostgreSQL)
//! to inject network faults without root or `tc netem` (missing here): added latency per chunk, a
//! blackhole (bytes are held, nothing goes through either way, connections stay open: what a
//! partition looks like to both ends) and resets (every proxied connection dropped at once).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does to the bytes it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Each chunk waits this long before it is forwarded.
    Delay(Duration),
    /// Nothing is forwarded until the mode changes (held bytes then go on, in order).
    Blackhole,
    /// PostgreSQL only: bytes pass until a client sends a COMMIT (a simple query, or the Bind of
    /// a statement prepared as COMMIT); that chunk goes on, then the mode becomes `Blackhole`.
    /// The server commits and its answer is held: the client's outcome is unknown.
    BlackholeAfterCommit,
}

/// The running proxy, on a thread and runtime of its own (so a test that blocks its own runtime,
/// e.g. waiting for a child process to start, does not stall the proxied traffic); dropping it
/// stops accepting and drops every connection.
#[derive(Debug)]
pub struct ChaosProxy {
    pub addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ChaosProxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (mode, watching) = watch::channel(Mode::Pass);
        let mode = Arc::new(mode);
        let switch = Arc::clone(&mode);
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let held = Arc::clone(&connections);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = TcpListener::from_std(listener) else {
                    return;
                };
                tokio::select! {
                    () = accept(listener, upstream, (watching, switch), held) => {}
                    _ = stopped => {}
                }
            });
        });
        Ok(Self {
            addr,
            mode,
            connections,
            stop: Some(stop),
        })
    }

    /// Changes what happens to the bytes from now on.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// The mode now (`BlackholeAfterCommit` becomes `Blackhole` once a COMMIT went through).
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Drops every proxied connection at once (both ends see the connection end); new ones are
    /// accepted as before.
    pub fn reset_all(&self) {
        if let Ok(mut list) = self.connections.lock() {
            for task in list.drain(..) {
                task.abort();
            }
        }
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    (watching, switch): (watch::Receiver<Mode>, Arc<watch::Sender<Mode>>),
    held: Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    while let Ok((client, _)) = listener.accept().await {
        let watching = watching.clone();
        let switch = Arc::clone(&switch);
        let task = tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::select! {
                () = pipe(client_read, server_write, watching.clone(), Some(switch)) => {}
                () = pipe(server_read, client_write, watching, None) => {}
            }
        });
        if let Ok(mut list) = held.lock() {
            list.retain(|t| !t.is_finished());
            list.push(task);
        }
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.reset_all();
    }
}

/// Copies `from` to `to` chunk by chunk, obeying the mode before forwarding each chunk. The
/// client-to-server pipe carries `switch`, to turn `BlackholeAfterCommit` into `Blackhole`.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
    switch: Option<Arc<watch::Sender<Mode>>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut spotter = crate::pg_wire::CommitSpotter::default();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let commit = switch.is_some() && spotter.feed(&buf[..n]);
        loop {
            let now = *mode.borrow_and_update();
            match now {
                Mode::BlackholeAfterCommit => {
                    if commit && let Some(switch) = &switch {
                        // This chunk (the COMMIT) goes on; everything after it is held.
                        switch.send_if_modified(|m| {
                            let armed = *m == Mode::BlackholeAfterCommit;
                            if armed {
                                *m = Mode::Blackhole;
                            }
                            armed
                        });
                        mode.borrow_and_update();
                    }
                    break;
                }
                Mode::Pass => break,
                Mode::Delay(wait) => {
                    tokio::time::sleep(wait).await;
                    break;
                }
                Mode::Blackhole => {
                    if mode.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
