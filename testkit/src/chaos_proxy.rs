//! A TCP proxy on `127.0.0.1:0` that a test puts between two parts (the gateway and PostgreSQL)
//! to inject network faults without root or `tc netem` (missing here): added latency per chunk, a
//! blackhole (bytes are held, nothing goes through either way, connections stay open: what a
//! partition looks like to both ends), slow bandwidth (each direction of each connection paced
//! to a byte rate) and resets (every proxied connection dropped at once).

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
    /// Each direction of each connection forwards at most this many bytes a second (paced in
    /// 10 ms slices; the proxy reads no further meanwhile, so the sender's socket fills up).
    Throttle(u32),
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
                Mode::Pass | Mode::Throttle(_) => break,
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
        if forward(&mut to, &buf[..n], &mut mode).await.is_err() {
            return;
        }
    }
}

/// Writes `chunk`, paced while the mode is `Throttle` (re-read between slices, so a change of mode
/// takes effect within 10 ms even in the middle of a large chunk).
async fn forward(
    to: &mut OwnedWriteHalf,
    mut chunk: &[u8],
    mode: &mut watch::Receiver<Mode>,
) -> std::io::Result<()> {
    const SLICE: Duration = Duration::from_millis(10);
    while !chunk.is_empty() {
        let Mode::Throttle(rate) = *mode.borrow_and_update() else {
            return to.write_all(chunk).await;
        };
        let take = (rate as usize / 100).clamp(1, chunk.len());
        to.write_all(&chunk[..take]).await?;
        chunk = &chunk[take..];
        tokio::time::sleep(SLICE).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that echoes every byte back.
    async fn echo() -> anyhow::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        Ok(addr)
    }

    #[tokio::test]
    async fn throttle_paces_and_blackhole_holds_then_releases_in_order() -> anyhow::Result<()> {
        let proxy = ChaosProxy::start(echo().await?)?;
        let mut client = TcpStream::connect(proxy.addr).await?;
        let mut back = vec![0u8; 5 * 1024];

        // 5 KiB at 10 KiB/s each way: it cannot come back in less than half a second.
        proxy.set(Mode::Throttle(10 * 1024));
        let started = std::time::Instant::now();
        client.write_all(&[7u8; 5 * 1024]).await?;
        client.read_exact(&mut back).await?;
        assert!(started.elapsed() >= Duration::from_millis(450));
        assert!(back.iter().all(|b| *b == 7));

        // Held while the blackhole lasts, then delivered whole and in order.
        proxy.set(Mode::Blackhole);
        client.write_all(b"held").await?;
        let mut four = [0u8; 4];
        let early = tokio::time::timeout(Duration::from_millis(200), client.read_exact(&mut four));
        assert!(early.await.is_err(), "nothing passes a blackhole");
        proxy.set(Mode::Pass);
        client.read_exact(&mut four).await?;
        assert_eq!(&four, b"held");
        Ok(())
    }
}
