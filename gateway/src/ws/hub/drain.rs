//! The hub's part of shutdown: stop taking sends, answer what is in flight, then close every
//! session (1001, or 1012 when another instance can take the client).

use std::rc::Rc;
use std::time::Duration;

use super::{Hub, SessionHandle};

/// How long a draining session must be quiet (every send answered, no frame read) before it is
/// closed: frames the client sent before it learnt of the shutdown still get an answer.
const DRAIN_QUIET: Duration = Duration::from_millis(100);
/// A client that keeps sending while draining (each send refused, retryable) is closed this long
/// after draining began, once its accepted sends are answered: it must not hold the instance
/// for the whole grace period.
const DRAIN_MOST: Duration = Duration::from_millis(500);

impl Hub {
    /// Shutdown: stop taking sends, answer what is in flight, then close with `code` (1001, or
    /// 1012 when another instance can take the client). Returns when
    /// every session has ended or `grace` passed.
    pub(crate) async fn drain(
        self: &Rc<Self>,
        grace: Duration,
        (code, reason): (u16, &'static str),
    ) {
        self.draining.set(true);
        let sessions: Vec<Rc<SessionHandle>> = self.sessions.borrow().values().cloned().collect();
        for session in sessions {
            session.draining.set(true);
            tokio::task::spawn_local(async move {
                let began = tokio::time::Instant::now();
                loop {
                    let quiet = session.last_frame.get().elapsed();
                    let settled = quiet >= DRAIN_QUIET || began.elapsed() >= DRAIN_MOST;
                    if session.pending.get() == 0 && settled {
                        break;
                    }
                    if session.pending.get() > 0 {
                        session.answered.notified().await;
                    } else {
                        tokio::time::sleep(
                            (DRAIN_QUIET - quiet.min(DRAIN_QUIET)).max(Duration::from_millis(10)),
                        )
                        .await;
                    }
                }
                session.outbox.close(code, reason);
            });
        }
        let _ = tokio::time::timeout(grace, async {
            while !self.sessions.borrow().is_empty() {
                self.emptied.notified().await;
            }
        })
        .await;
    }
}
