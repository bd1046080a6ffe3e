//! HTTP routing and responses for one shard: metrics (behind a bearer token, or not at all on this
//! port), health, the REST API, the WebSocket upgrade and the web client's files.
//! Every error leaves through [`error_response`], in the catalog's envelope.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;

use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use hyper::{Method, Request, Response, StatusCode};
use parley_shared::{ErrorBody, ErrorCode};

use crate::permits::Permit;
use crate::shard::ShardState;

/// The response type of every route.
pub(crate) type HttpResponse = Response<crate::body::Body>;

/// One accepted connection, as its requests see it.
#[derive(Debug)]
pub(crate) struct ConnInfo {
    pub(crate) peer: SocketAddr,
    /// The connection's slot under `server.max_connections`, until a WebSocket takes it over.
    permit: RefCell<Option<Permit>>,
}

impl ConnInfo {
    pub(crate) fn new(peer: SocketAddr, permit: Permit) -> Self {
        Self {
            peer,
            permit: RefCell::new(Some(permit)),
        }
    }

    /// Hands the permit to whoever outlives the HTTP connection (a WebSocket session).
    pub(crate) fn take_permit(&self) -> Option<Permit> {
        self.permit.borrow_mut().take()
    }
}

/// Routes one request.
pub(crate) async fn handle(
    request: Request<Incoming>,
    conn: Rc<ConnInfo>,
    state: Rc<ShardState>,
) -> Result<HttpResponse, Infallible> {
    state.app.metrics.http_requests.inc();
    let peer = conn.peer;
    if request.uri().path() == "/metrics" && request.method() == Method::GET {
        return Ok(metrics_on_main_port(&request, &state));
    }
    if request.uri().path().starts_with("/api/") {
        return Ok(crate::api::handle(request, peer, state).await);
    }
    if request.uri().path() == "/ws" && request.method() == Method::GET {
        return Ok(crate::ws::upgrade(request, &conn, state).await);
    }
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET | &Method::HEAD, "/health/live") => {
            json_response(StatusCode::OK, r#"{"data":{"status":"live"}}"#.to_owned())
        }
        (&Method::GET | &Method::HEAD, "/health/ready") => ready(&state).await,
        (method, path) => {
            let web = matches!(*method, Method::GET | Method::HEAD)
                .then(|| {
                    let accept = request
                        .headers()
                        .get(hyper::header::ACCEPT_ENCODING)
                        .and_then(|v| v.to_str().ok());
                    state.app.web.serve(path, accept)
                })
                .flatten();
            web.unwrap_or_else(|| {
                error_response(&ErrorBody::new(
                    ErrorCode::NotFound,
                    format!("No route for {method} {path}"),
                ))
            })
        }
    };
    Ok(response)
}

/// `GET /metrics` on the main port: only with `metrics.token` configured and presented as a bearer
/// token (compared in constant time); otherwise the route does not exist here (404, never the web
/// client's page).
fn metrics_on_main_port(request: &Request<Incoming>, state: &ShardState) -> HttpResponse {
    let Some(expected) = state.app.metrics_token.as_deref() else {
        return error_response(&ErrorBody::new(
            ErrorCode::NotFound,
            "No route for GET /metrics",
        ));
    };
    let presented = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().as_bytes())
        .unwrap_or_default();
    if !crate::auth::constant_time_eq(presented, expected.as_bytes()) {
        let mut response = error_response(&ErrorBody::new(
            ErrorCode::Unauthorized,
            "Metrics need a token",
        ));
        response.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    metrics_response(state)
}

/// The Prometheus exposition.
pub(crate) fn metrics_response(state: &ShardState) -> HttpResponse {
    let app = &state.app;
    let body = app
        .metrics
        .render(app.persister.queued(), app.permits.open());
    let mut response = json_response(StatusCode::OK, body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// 200 when this shard can reach the database and the schema is current (`degraded` when
/// instances are joined and Redis is unreachable); 503 otherwise, and
/// from the moment shutdown begins, so load balancers stop sending new work.
async fn ready(state: &ShardState) -> HttpResponse {
    if state.shutdown.is_triggered() {
        return error_response(&ErrorBody::new(ErrorCode::DbError, "Shutting down"));
    }
    match parley_persister::db::probe(&state.pool, state.probe_timeout).await {
        Ok(()) => {
            // Several instances: without Redis this one still serves (and acknowledges after
            // commit), but others' events arrive late: degraded, not down.
            let (status, redis) = match state.app.bus.link() {
                None => ("ready", ""),
                Some(link) if link.is_up() => ("ready", r#","redis":"up""#),
                Some(_) => ("degraded", r#","redis":"down""#),
            };
            json_response(
                StatusCode::OK,
                format!(
                    r#"{{"data":{{"status":"{status}","schemaVersion":{}{redis}}}}}"#,
                    parley_persister::migrate::latest_version()
                ),
            )
        }
        Err(error) => {
            tracing::warn!(%error, "readiness probe failed");
            error_response(&ErrorBody::new(error.code(), "Database unavailable"))
        }
    }
}

/// A JSON response with the given status.
pub(crate) fn json_response(status: StatusCode, body: String) -> HttpResponse {
    let mut response = Response::new(crate::body::Body::full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The catalog envelope with the code's HTTP status (and `Retry-After` when it has a hint).
pub(crate) fn error_response(body: &ErrorBody) -> HttpResponse {
    let status = StatusCode::from_u16(body.code.http_status())
        .expect("catalog statuses are valid HTTP statuses");
    let mut response = json_response(status, body.to_envelope_json());
    if let Some(seconds) = body.retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(seconds));
    }
    response
}
