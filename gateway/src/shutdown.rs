//! The stop signal every shard listens to: flipped once, observed by accept loops, connections and
//! readiness. Shards drain their connections for the grace period after it flips.

use tokio::sync::watch;

/// The sending side, held by whoever decides to stop (the signal handler, a test).
#[derive(Debug, Clone)]
pub struct ShutdownTrigger {
    sender: watch::Sender<bool>,
}

/// The receiving side, cloned into every shard and connection.
#[derive(Debug, Clone)]
pub struct Shutdown {
    receiver: watch::Receiver<bool>,
}

/// A new trigger and its first listener.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (ShutdownTrigger { sender }, Shutdown { receiver })
}

impl ShutdownTrigger {
    /// Starts the shutdown. Idempotent.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }
}

impl Shutdown {
    /// Whether shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Completes once shutdown has begun (at once if it already has).
    pub async fn triggered(&mut self) {
        // An error means every trigger is gone: nobody can stop us any more, so treat it as a stop.
        let _ = self.receiver.wait_for(|stopped| *stopped).await;
    }
}
