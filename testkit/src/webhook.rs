//! A push gateway (or Web Push service) for tests: an HTTP server on `127.0.0.1:0` that records
//! every POST (path, headers, body: JSON when it is) and answers what the test scripted (201
//! unless told otherwise: a run of failures, or `410 Gone`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Every header, lower-case names.
    pub headers: Vec<(String, String)>,
    pub idempotency_key: String,
    pub signature: String,
    /// The exact bytes signed.
    pub raw: Bytes,
    pub body: Value,
    /// What the receiver answered.
    pub status: u16,
}

#[derive(Debug, Default)]
struct State {
    received: Vec<Received>,
    answers: VecDeque<u16>,
    /// What to answer once the scripted answers are used up (201 unless set).
    otherwise: Option<u16>,
}

/// The running receiver (stops when dropped).
#[derive(Debug)]
pub struct WebhookReceiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let state = Arc::clone(&state);
                        async move { answer(&state, request).await }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, state, task })
    }

    /// `http://127.0.0.1:PORT/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every request past the scripted ones gets `status` (e.g. 503 for an outage) until set back
    /// to 201.
    pub fn answer_otherwise(&self, status: u16) {
        self.state.lock().expect("receiver state").otherwise = Some(status);
    }

    /// The next requests get these statuses, in order (then 201 again).
    pub fn answer_next(&self, statuses: &[u16]) {
        let mut state = self.state.lock().expect("receiver state");
        state.answers.extend(statuses.iter().copied());
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("receiver state").received.clone()
    }

    /// Waits until `n` requests arrived (or `within` passed); returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> anyhow::Result<Vec<Received>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return Ok(got);
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "{} of {n} webhook requests within {within:?}: {got:?}",
                    got.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Received {
    /// One header's value (empty when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    state: &Mutex<State>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (idempotency_key, signature) = (header("idempotency-key"), header("parley-signature"));
    let path = request.uri().path().to_owned();
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let raw = request.into_body().collect().await?.to_bytes();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let mut state = state.lock().expect("receiver state");
    let status = state
        .answers
        .pop_front()
        .unwrap_or(state.otherwise.unwrap_or(201));
    state.received.push(Received {
        path,
        headers,
        idempotency_key,
        signature,
        raw,
        body,
        status,
    });
    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    Ok(response)
}
