//! The REST request path up to the handlers, for the fuzz targets (`crate::fuzzing`): hyper's
//! HTTP/1 parser with the server's head limits, route lookup, path ids, the query string, the
//! client address behind trusted proxies, the JSON body, and `q` of message search.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use parley_shared::{ConversationId, MessageId, UserId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{request, routes, search};

/// Largest body the harness reads (the server's own cap is larger; this one bounds the run).
const BODY_CAP: usize = 64 * 1024;

thread_local! {
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// Serves `data` as one client's bytes on a connection: every request in it goes through the
/// parser and the pre-handler steps; the answers are read and dropped.
pub(crate) fn connection(data: &[u8]) {
    let defaults = parley_shared::config::Config::default();
    let server = defaults.server;
    RUNTIME.with(|cell| {
        let mut slot = cell.borrow_mut();
        let runtime = slot.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a current-thread runtime builds")
        });
        runtime.block_on(async {
            let (mut client, served) = tokio::io::duplex(1 << 20);
            let service = service_fn(|request: Request<Incoming>| async move {
                let (parts, body) = request.into_parts();
                let body = match Limited::new(body, BODY_CAP).collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(_) => Bytes::new(),
                };
                let verdict = inspect(&parts, &body);
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(verdict))))
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(server.header_read_timeout)
                .max_header_size(server.max_header_bytes)
                .max_headers(server.max_headers)
                .serve_connection(TokioIo::new(served), service);
            let talk = async {
                // The duplex holds all of it: the server answers while the client still writes.
                let _ = client.write_all(data).await;
                let _ = client.shutdown().await;
                let mut sink = Vec::new();
                let _ = client.read_to_end(&mut sink).await;
            };
            let (_, ()) = tokio::join!(connection, talk);
        });
    });
}

/// What the server does with a request before its handler runs; the checks a handler relies on.
fn inspect(parts: &hyper::http::request::Parts, body: &[u8]) -> String {
    let query = request::parse_query(parts.uri.query());
    let _ = request::nul_param(&query);
    let trusted = ["127.0.0.0/8".parse().expect("a valid CIDR")];
    let peer = SocketAddr::from(([127, 0, 0, 1], 4000));
    let _ = crate::proxy::client_ip(peer, &parts.headers, &trusted);
    let _ = request::parse_json::<serde_json::Value>(body);
    let Some((route, params)) = routes::find(&parts.method, parts.uri.path()) else {
        return "no route".to_owned();
    };
    for (name, value) in &params {
        assert!(!value.is_empty(), "{}: empty `{name}` matched", route.path);
        assert!(
            !value.contains('/'),
            "{}: `{name}` spans segments",
            route.path
        );
        let _ = value.parse::<ConversationId>();
        let _ = value.parse::<MessageId>();
        let _ = value.parse::<UserId>();
    }
    for param in route.query {
        if let Some(value) = query.get(param.name)
            && param.kind == "integer"
        {
            let _ = value.parse::<i64>();
        }
    }
    if let Some(q) = query.get("q") {
        let _ = search::parse(q);
    }
    route.path.to_owned()
}

/// `q` of `GET /api/search/messages`, a snippet with hit marks, and a page cursor.
pub(crate) fn search_text(text: &str) {
    if let Ok(parsed) = search::parse(text) {
        assert!(parsed.text.chars().count() <= 256, "words over the cap");
        assert!(
            !parsed.text.is_empty() || parsed.has.is_some(),
            "nothing to look for"
        );
    }
    let snippet = search::snippet(text);
    let chars = snippet.text.chars().count();
    for [start, end] in &snippet.highlights {
        assert!(
            start <= end && *end <= chars,
            "highlight outside the snippet"
        );
    }
    if let Some((rank, id)) = search::cursor_parse(text) {
        let again = search::cursor_parse(&search::cursor_text(rank, id));
        assert_eq!(
            again.map(|(r, i)| (r.to_bits(), i)),
            Some((rank.to_bits(), id)),
            "a cursor does not round-trip"
        );
    }
}
