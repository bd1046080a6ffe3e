//! The internal listener (`metrics.listen`): `GET /metrics` without a token, for a scraper on a
//! private address, served by shard 0 (no thread of its own). Nothing else is routed here, and
//! it has the same header bounds and timeouts as the main port.

use std::convert::Infallible;
use std::rc::Rc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use parley_shared::{ErrorBody, ErrorCode};
use tokio::net::TcpListener;

use crate::http::{HttpResponse, error_response, metrics_response};
use crate::shard::{ShardSettings, ShardState};
use crate::shutdown::Shutdown;

/// Most connections the internal listener holds at once (a scraper or two).
const MAX_CONNECTIONS: usize = 64;

/// Binds `addr` (a plain bind: a port in use is an error at start, not a shared one).
pub(crate) fn bind(addr: &str) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves the internal listener until shutdown.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    state: Rc<ShardState>,
    settings: ShardSettings,
    mut shutdown: Shutdown,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "could not register the metrics listener");
            return;
        }
    };
    let open = Rc::new(std::cell::Cell::new(0usize));
    loop {
        let (stream, _) = tokio::select! {
            () = shutdown.triggered() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "metrics accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if open.get() >= MAX_CONNECTIONS {
            continue;
        }
        open.set(open.get() + 1);
        let state = Rc::clone(&state);
        let open = Rc::clone(&open);
        tokio::task::spawn_local(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let response = route(request.method(), request.uri().path(), &state);
                std::future::ready(Ok::<_, Infallible>(response))
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(settings.header_read_timeout)
                .max_header_size(settings.max_header_bytes)
                .max_headers(settings.max_headers)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "metrics connection ended with an error");
            }
            open.set(open.get() - 1);
        });
    }
}

fn route(method: &Method, path: &str, state: &ShardState) -> HttpResponse {
    match (method, path) {
        (&Method::GET, "/metrics") => metrics_response(state),
        _ => {
            let mut response = error_response(&ErrorBody::new(
                ErrorCode::NotFound,
                "Only GET /metrics is served here",
            ));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    }
}
