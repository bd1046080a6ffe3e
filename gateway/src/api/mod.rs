//! The REST API under `/api`: find the route, authenticate, count the request against its rate
//! limit, read the (size-capped) body, run the handler, and render the answer with the
//! `X-RateLimit-*` headers. Handlers live in one module per resource.

mod auth;
mod conversations;
pub(crate) mod error;
mod history;
mod messages;
mod openapi;
mod request;
mod routes;
mod search;
mod users;
pub(crate) mod views;

pub(crate) use openapi::document as openapi_document;

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
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
        return error_response(&ErrorBody::new(
            ErrorCode::NotFound,
            format!("No route for {} {}", request.method(), request.uri().path()),
        ));
    };
    let mut ctx = Ctx {
        caller: None,
        ip: peer.ip(),
        user_agent: header(&request, USER_AGENT).map(str::to_owned),
        params,
        query: request::parse_query(request.uri().query()),
        body: Bytes::new(),
        rate: std::cell::Cell::new(None),
        state,
    };
    let result = prepare(&mut ctx, route, request).await;
    let result = match result {
        Ok(()) => dispatch(route.op, &ctx).await,
        Err(error) => Err(error),
    };
    let mut response = match result {
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
            if body.code == ErrorCode::Unauthorized {
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            response
        }
    };
    if let Some(decision) = ctx.rate.get() {
        rate_headers(response.headers_mut(), decision);
    }
    response
}

/// Authentication, the route's rate limit, and the body, in that order.
async fn prepare(ctx: &mut Ctx, route: &Route, request: Request<Incoming>) -> Result<(), ApiError> {
    let app = &ctx.state.app;
    if route.auth {
        let token = header(&request, AUTHORIZATION)
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| ApiError::unauthorized("Missing access token"))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = app.jwt.verify(token, now).map_err(|error| {
            tracing::debug!(%error, "access token refused");
            ApiError::unauthorized("Invalid or expired access token")
        })?;
        ctx.caller = Some(Caller { user: claims.sub });
    }
    if let Some(limits) = &app.limits {
        let by_caller = match ctx.caller {
            Some(caller) => Key::User(caller.user),
            None => Key::Ip(ctx.ip),
        };
        match route.limit {
            LimitClass::Register => ctx.limit(&limits.register, &Key::Ip(ctx.ip))?,
            LimitClass::Login => ctx.limit(&limits.login, &Key::Ip(ctx.ip))?,
            LimitClass::History => ctx.limit(&limits.history, &by_caller)?,
            // Counted by the handler once the body is valid: a malformed send costs nothing.
            LimitClass::Send => {}
            LimitClass::Api => ctx.limit(&limits.api, &by_caller)?,
        }
    }
    if route.request.is_some() {
        ctx.body = read_body(request, app.max_body_bytes).await?;
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
        Op::AddMember => conversations::add_member(ctx).await,
        Op::RemoveMember => conversations::remove_member(ctx).await,
        Op::History => history::page(ctx).await,
        Op::Send => messages::send(ctx).await,
        Op::EditMessage => messages::edit(ctx).await,
        Op::DeleteMessage => messages::delete(ctx).await,
        Op::Receipts => messages::receipts(ctx).await,
        Op::OpenApi => Ok(openapi::serve()),
    }
}

/// Reads the whole body, refusing (413) past `max` bytes before buffering more than that.
async fn read_body(request: Request<Incoming>, max: usize) -> Result<Bytes, ApiError> {
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
    match Limited::new(request.into_body(), max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error)
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(error) => {
            tracing::debug!(%error, "reading the request body failed");
            Err(ApiError::field("body", "could not be read"))
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
