//! HTTP routing and responses for one shard: metrics, health, the REST API, the WebSocket
//! upgrade and the web client's files.
//! Every error leaves through [`error_response`], in the catalog's envelope.

use std::convert::Infallible;
use std::rc::Rc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use parley_shared::{ErrorBody, ErrorCode};

use crate::shard::ShardState;

/// The response type of every route.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// Routes one request.
pub(crate) async fn handle(
    request: Request<Incoming>,
    peer: std::net::SocketAddr,
    state: Rc<ShardState>,
) -> Result<HttpResponse, Infallible> {
    state.app.metrics.http_requests.inc();
    if request.uri().path() == "/metrics" && request.method() == Method::GET {
        let body = state.app.metrics.render(state.app.persister.queued());
        let mut response = json_response(StatusCode::OK, body);
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        return Ok(response);
    }
    if request.uri().path().starts_with("/api/") {
        return Ok(crate::api::handle(request, peer, state).await);
    }
    if request.uri().path() == "/ws" && request.method() == Method::GET {
        return Ok(crate::ws::upgrade(request, peer, state).await);
    }
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET | &Method::HEAD, "/health/live") => {
            json_response(StatusCode::OK, r#"{"data":{"status":"live"}}"#.to_owned())
        }
        (&Method::GET | &Method::HEAD, "/health/ready") => ready(&state).await,
        (method, path) => {
            let web = matches!(*method, Method::GET | Method::HEAD)
                .then(|| state.app.web.serve(path))
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

/// 200 when this shard can reach the database and the schema is current; 503 otherwise, and
/// from the moment shutdown begins, so load balancers stop sending new work.
async fn ready(state: &ShardState) -> HttpResponse {
    if state.shutdown.is_triggered() {
        return error_response(&ErrorBody::new(ErrorCode::DbError, "Shutting down"));
    }
    match parley_persister::db::probe(&state.pool, state.probe_timeout).await {
        Ok(()) => json_response(
            StatusCode::OK,
            format!(
                r#"{{"data":{{"status":"ready","schemaVersion":{}}}}}"#,
                parley_persister::migrate::latest_version()
            ),
        ),
        Err(error) => {
            tracing::warn!(%error, "readiness probe failed");
            error_response(&ErrorBody::new(error.code(), "Database unavailable"))
        }
    }
}

/// A JSON response with the given status.
pub(crate) fn json_response(status: StatusCode, body: String) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
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
