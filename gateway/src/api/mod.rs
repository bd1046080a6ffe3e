//! The REST API under `/api`: find the route, authenticate, count the request against its rate
//! limit, read the (size-capped) body, run the handler, and render the answer with the
//! `X-RateLimit-*` headers. Handlers live in one module per resource.

mod admin;
mod auth;
mod conversations;
mod deletion;
mod devices;
pub(crate) mod error;
mod exports;
pub(crate) mod fuzz;
mod groups;
mod history;
mod messages;
mod mfa;
mod notifications;
mod openapi;
mod profile;
mod request;
mod routes;
mod search;
mod sessions;
mod uploads;
mod users;
pub(crate) mod views;

pub(crate) use openapi::document as openapi_document;

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, HeaderValue, USER_AGENT, WWW_AUTHENTICATE};
use parley_shared::rate::Decision;
use parley_shared::{ErrorBody, ErrorCode};

use self::error::ApiError;
use self::request::{Caller, Ctx};
use self::routes::{LimitClass, Op, Route};
use self::views::Reply;
use crate::http::{HttpResponse, error_response, json_response};
use crate::limits::Key;
use crate::shard::ShardState;

/// Serves one `/api/...` request.
pub(crate) async fn handle(
    request: Request<Incoming>,
    peer: SocketAddr,
    state: Rc<ShardState>,
) -> HttpResponse {
    let Some((route, params)) = routes::find(request.method(), request.uri().path()) else {
        return no_route(request.method(), request.uri().path());
    };
    let mut ctx = Ctx {
        caller: None,
        ip: crate::proxy::client_ip(peer, request.headers(), &state.app.trusted_proxies),
        user_agent: header(&request, USER_AGENT).map(str::to_owned),
        params,
        query: request::parse_query(request.uri().query()),
        body: Bytes::new(),
        rate: std::cell::Cell::new(None),
        upload: std::cell::RefCell::new(None),
        content_length: header(&request, CONTENT_LENGTH).and_then(|v| v.parse().ok()),
        range: header(&request, hyper::header::RANGE).map(str::to_owned),
        if_none_match: header(&request, hyper::header::IF_NONE_MATCH).map(str::to_owned),
        state,
    };
    let result = prepare(&mut ctx, route, request).await;
    let result = match result {
        Ok(()) => dispatch(route.op, &ctx).await,
        Err(error) => Err(error),
    };
    let mut response = match result {
        Ok(views::Reply {
            download: Some(download),
            status,
            ..
        }) => download_response(status, download),
        Ok(reply) => match reply.body {
            Some(body) => json_response(reply.status, body),
            None => {
                let mut response = json_response(reply.status, String::new());
                response.headers_mut().remove(hyper::header::CONTENT_TYPE);
                response
            }
        },
        Err(ApiError(body)) => {
            let mut response = error_response(&body);
            match body.code {
                ErrorCode::Unauthorized => {
                    response
                        .headers_mut()
                        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                // The rest of a stalled or oversized body is never read: this connection ends.
                ErrorCode::RequestTimeout | ErrorCode::PayloadTooLarge => {
                    response
                        .headers_mut()
                        .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
                }
                _ => {}
            }
            response
        }
    };
    if let Some(decision) = ctx.rate.get() {
        rate_headers(response.headers_mut(), decision);
    }
    response
}

/// 404 for a path Parley does not serve; 405 with `Allow` for one it serves with other methods.
fn no_route(method: &hyper::Method, path: &str) -> HttpResponse {
    let allowed = routes::allowed(path);
    if allowed.is_empty() {
        return error_response(&ErrorBody::new(
            ErrorCode::NotFound,
            format!("No route for {method} {path}"),
        ));
    }
    let list = allowed
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut response = error_response(&ErrorBody::new(
        ErrorCode::MethodNotAllowed,
        format!("{path} does not take {method} (it takes {list})"),
    ));
    if let Ok(value) = HeaderValue::from_str(&list) {
        response.headers_mut().insert(hyper::header::ALLOW, value);
    }
    response
}

/// A streamed file: never sniffed, never run as a page in Parley's origin (a sandboxing CSP with
/// nothing allowed), saved rather than shown unless it is an image.
fn download_response(status: hyper::StatusCode, download: views::Download) -> HttpResponse {
    use hyper::header::{
        CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
        X_CONTENT_TYPE_OPTIONS,
    };
    let mut response = hyper::Response::new(download.body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&download.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(download.cache));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; img-src 'self'; sandbox"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition(download.inline, &download.filename)) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    for (name, value) in download.headers {
        headers.insert(name, value);
    }
    response
}

/// `inline` or `attachment`, with an ASCII `filename` (others replaced by `_`) and the exact
/// name as RFC 8187 `filename*`.
fn disposition(inline: bool, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Authentication, the route's rate limit, and the body, in that order.
async fn prepare(ctx: &mut Ctx, route: &Route, request: Request<Incoming>) -> Result<(), ApiError> {
    if let Some(name) = request::nul_param(&ctx.query) {
        return Err(ApiError::field(name, parley_shared::text::NUL_PROBLEM));
    }
    let app = &ctx.state.app;
    if route.auth {
        let token = header(&request, AUTHORIZATION)
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| ApiError::unauthorized("Missing access token"))?;
        let claims = app.verify_access(token).map_err(|error| {
            tracing::debug!(%error, "access token refused");
            ApiError::unauthorized("Invalid or expired access token")
        })?;
        ctx.caller = Some(Caller {
            user: claims.sub,
            session: claims.sid,
        });
    }
    if let Some(limits) = &app.limits {
        let by_caller = match ctx.caller {
            Some(caller) => Key::User(caller.user),
            None => Key::ip(ctx.ip),
        };
        match route.limit {
            LimitClass::Register => ctx.limit(&*limits.register, &Key::ip(ctx.ip)).await?,
            LimitClass::Login => ctx.limit(&*limits.login, &Key::ip(ctx.ip)).await?,
            LimitClass::History => ctx.limit(&*limits.history, &by_caller).await?,
            // Counted by the handler once the body is valid: a malformed send costs nothing.
            LimitClass::Send => {}
            LimitClass::Api => ctx.limit(&*limits.api, &by_caller).await?,
        }
    }
    if route.op == Op::Upload {
        *ctx.upload.get_mut() = Some(request.into_body());
    } else if route.request.is_some() {
        let limits = BodyLimits {
            max: app.max_body_bytes,
            timeout: app.body_read_timeout,
            min_rate: app.body_min_rate,
        };
        ctx.body = read_body(request, limits, &app.metrics).await?;
    }
    Ok(())
}

async fn dispatch(op: Op, ctx: &Ctx) -> Result<Reply, ApiError> {
    match op {
        Op::Register => auth::register(ctx).await,
        Op::Login => auth::login(ctx).await,
        Op::Refresh => auth::refresh(ctx).await,
        Op::Logout => auth::logout(ctx).await,
        Op::Me => users::me(ctx).await,
        Op::GetUser => users::get(ctx).await,
        Op::SearchUsers => users::search(ctx).await,
        Op::SearchMessages => search::messages(ctx).await,
        Op::CreateConversation => conversations::create(ctx).await,
        Op::ListConversations => conversations::list(ctx).await,
        Op::GetConversation => conversations::get(ctx).await,
        Op::GetConversationNotifications => notifications::get_conversation(ctx).await,
        Op::PutConversationNotifications => notifications::put_conversation(ctx).await,
        Op::GetMyNotifications => notifications::get_user(ctx).await,
        Op::PutMyNotifications => notifications::put_user(ctx).await,
        Op::PushChannels => devices::channels(ctx).await,
        Op::RegisterDevice => devices::register(ctx).await,
        Op::ListDevices => devices::list(ctx).await,
        Op::RemoveDevice => devices::remove(ctx).await,
        Op::AddMember => groups::add_member(ctx).await,
        Op::RemoveMember => groups::remove_member(ctx).await,
        Op::SetRole => groups::set_role(ctx).await,
        Op::SetRetention => groups::set_retention(ctx).await,
        Op::DeleteMe => deletion::delete_me(ctx).await,
        Op::RequestExport => exports::request(ctx).await,
        Op::ListExports => exports::list(ctx).await,
        Op::DownloadExport => exports::download(ctx).await,
        Op::ListMembers => groups::members(ctx).await,
        Op::UpdateConversation => groups::update(ctx).await,
        Op::DeleteConversation => groups::delete(ctx).await,
        Op::History => history::page(ctx).await,
        Op::Send => messages::send(ctx).await,
        Op::EditMessage => messages::edit(ctx).await,
        Op::DeleteMessage => messages::delete(ctx).await,
        Op::Receipts => messages::receipts(ctx).await,
        Op::ChangePassword => sessions::change_password(ctx).await,
        Op::ListSessions => sessions::list(ctx).await,
        Op::RevokeSession => sessions::revoke_one(ctx).await,
        Op::RevokeAllSessions => sessions::revoke_everywhere(ctx).await,
        Op::MfaStatus => mfa::status(ctx).await,
        Op::MfaBegin => mfa::begin(ctx).await,
        Op::MfaConfirm => mfa::confirm(ctx).await,
        Op::MfaRecoveryCodes => mfa::regenerate(ctx).await,
        Op::MfaDisable => mfa::disable(ctx).await,
        Op::LoginMfa => mfa::login_code(ctx).await,
        Op::UpdateMe => profile::update_me(ctx).await,
        Op::ListBlocks => profile::list(ctx).await,
        Op::Block => profile::block(ctx).await,
        Op::Unblock => profile::unblock(ctx).await,
        Op::ResetPassword => sessions::reset_password(ctx).await,
        Op::ReportMessage => messages::report(ctx).await,
        Op::ListReports => admin::reports(ctx).await,
        Op::ResolveReport => admin::resolve(ctx).await,
        Op::AdminGetUser => admin::get_user(ctx).await,
        Op::DeactivateUser => admin::deactivate(ctx).await,
        Op::ReactivateUser => admin::reactivate(ctx).await,
        Op::AdminDeleteMessage => admin::delete_message(ctx).await,
        Op::ListAudit => admin::audit(ctx).await,
        Op::Upload => uploads::upload(ctx).await,
        Op::DownloadAttachment => uploads::download(ctx).await,
        Op::Thumbnail => uploads::thumbnail(ctx).await,
        Op::OpenApi => Ok(openapi::serve()),
    }
}

/// How a request body must arrive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    /// Largest body, in bytes (413 beyond, before buffering more).
    pub(crate) max: usize,
    /// Longest pause between two pieces of the body, and the base of the whole body's deadline.
    pub(crate) timeout: std::time::Duration,
    /// Slowest rate over the whole body, in bytes per second.
    pub(crate) min_rate: usize,
}

impl BodyLimits {
    /// The whole body's deadline for `len` bytes: `timeout` plus `len` at `min_rate`.
    fn allowance(&self, len: usize) -> std::time::Duration {
        self.timeout + std::time::Duration::from_secs_f64(len as f64 / self.min_rate.max(1) as f64)
    }
}

/// Reads the whole body, refusing (413) past `max` bytes before buffering more than that, and
/// (408) a body that stalls for `timeout` or is not complete by its deadline (slowloris).
async fn read_body(
    request: Request<Incoming>,
    limits: BodyLimits,
    metrics: &crate::metrics::Metrics,
) -> Result<Bytes, ApiError> {
    let max = limits.max;
    let too_large = || {
        ApiError(ErrorBody::new(
            ErrorCode::PayloadTooLarge,
            format!("Request body exceeds {max} bytes"),
        ))
    };
    let declared = header(&request, CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(too_large());
    }
    let deadline = tokio::time::Instant::now() + limits.allowance(declared.unwrap_or(max));
    let mut body = request.into_body();
    let mut buf = bytes::BytesMut::with_capacity(declared.unwrap_or(0));
    loop {
        let pause = tokio::time::Instant::now() + limits.timeout;
        let next = tokio::time::timeout_at(pause.min(deadline), body.frame()).await;
        match next {
            Err(_) => {
                metrics.body_timeouts.inc();
                tracing::debug!(received = buf.len(), "request body too slow; closing");
                return Err(ApiError(
                    ErrorBody::new(ErrorCode::RequestTimeout, "Request body arrived too slowly")
                        .with_retry_after(1),
                ));
            }
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > max {
                        return Err(too_large());
                    }
                    buf.extend_from_slice(&data);
                }
            }
            Ok(Some(Err(error))) => {
                tracing::debug!(%error, "reading the request body failed");
                return Err(ApiError::field("body", "could not be read"));
            }
        }
    }
}

/// One query parameter, percent-decoded.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    request::parse_query(query).remove(name)
}

fn header(request: &Request<Incoming>, name: hyper::header::HeaderName) -> Option<&str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

fn rate_headers(headers: &mut hyper::HeaderMap, decision: Decision) {
    let reset_at = time::OffsetDateTime::now_utc().unix_timestamp()
        + i64::try_from(decision.reset_after.as_secs_f64().ceil() as u64).unwrap_or(i64::MAX / 2);
    headers.insert("x-ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(decision.remaining),
    );
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset_at));
}
