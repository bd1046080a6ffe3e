//! The route table: one entry per endpoint with everything both the dispatcher and the OpenAPI
//! document need (method, path, auth, rate limit, request and response schemas, query
//! parameters, possible errors). The document is generated from this table, so it lists exactly
//! what the server routes.

use hyper::Method;
use parley_shared::ErrorCode;

/// Which handler serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Register,
    Login,
    Refresh,
    Logout,
    Me,
    GetUser,
    SearchUsers,
    CreateConversation,
    ListConversations,
    GetConversation,
    AddMember,
    RemoveMember,
    History,
    Send,
    EditMessage,
    DeleteMessage,
    Receipts,
    SearchMessages,
    OpenApi,
}

/// Which limiter a request is counted against before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitClass {
    /// `limits.register`, per client IP.
    Register,
    /// `limits.login`, per client IP here; the handler adds the per-username count.
    Login,
    /// `limits.history`, per user.
    History,
    /// `limits.send`, per user, shared with WebSocket sends (counted by the handler).
    Send,
    /// `limits.api`, per user (per client IP before login).
    Api,
}

/// A documented query parameter.
#[derive(Debug)]
pub(crate) struct QueryParam {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    /// JSON Schema type: `string` or `integer`.
    pub(crate) kind: &'static str,
    pub(crate) required: bool,
}

/// One endpoint.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) method: Method,
    /// Segments in braces are parameters: `/api/users/{userId}`.
    pub(crate) path: &'static str,
    pub(crate) op: Op,
    pub(crate) summary: &'static str,
    pub(crate) tag: &'static str,
    pub(crate) auth: bool,
    pub(crate) limit: LimitClass,
    /// Component schema of the JSON body, if any.
    pub(crate) request: Option<&'static str>,
    pub(crate) status: u16,
    /// Component schema of `data`; `None` for 204.
    pub(crate) response: Option<&'static str>,
    /// `data` is an array of `response`, with paging `meta`.
    pub(crate) paged: bool,
    pub(crate) query: &'static [QueryParam],
    pub(crate) errors: &'static [ErrorCode],
}

use ErrorCode::{
    Conflict, Forbidden, NotFound, Overloaded, RateLimited, Unauthorized, ValidationError,
};

const CURSOR: QueryParam = QueryParam {
    name: "cursor",
    description: "`meta.cursor` of the previous page.",
    kind: "string",
    required: false,
};
const LIMIT_CURSOR: &[QueryParam] = &[
    QueryParam {
        name: "limit",
        description: "Page size, 1 to 100 (default 20).",
        kind: "integer",
        required: false,
    },
    CURSOR,
];
const HISTORY: &[QueryParam] = &[
    QueryParam {
        name: "limit",
        description: "Page size, 1 to 100 (default 50).",
        kind: "integer",
        required: false,
    },
    QueryParam {
        name: "before",
        description: "Newest first, older than this cursor (`meta.cursor` of the previous page). Default: from the newest.",
        kind: "string",
        required: false,
    },
    QueryParam {
        name: "after",
        description: "Oldest first, from this `seq` on (exclusive): gap-fill after a reconnect. Not with `before`.",
        kind: "integer",
        required: false,
    },
];
const SEARCH: &[QueryParam] = &[
    QueryParam {
        name: "query",
        description: "Prefix of a username or display name, 1 to 64 characters.",
        kind: "string",
        required: true,
    },
    QueryParam {
        name: "limit",
        description: "At most this many, 1 to 50 (default 20).",
        kind: "integer",
        required: false,
    },
];

const SEARCH_MESSAGES: &[QueryParam] = &[
    QueryParam {
        name: "q",
        description: "Words to find (quotes for phrases, `-word` to exclude, `or`), plus operators `from:username`, `in:conv_…`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD`.",
        kind: "string",
        required: true,
    },
    QueryParam {
        name: "conversationId",
        description: "Only this conversation (in-chat search).",
        kind: "string",
        required: false,
    },
    QueryParam {
        name: "limit",
        description: "Page size, 1 to 50 (default 20).",
        kind: "integer",
        required: false,
    },
    CURSOR,
];

/// Every route Parley serves under `/api`.
pub(crate) static ROUTES: &[Route] = &[
    Route {
        method: Method::POST,
        path: "/api/auth/register",
        op: Op::Register,
        summary: "Create an account and log in",
        tag: "auth",
        auth: false,
        limit: LimitClass::Register,
        request: Some("RegisterRequest"),
        status: 201,
        response: Some("AuthResponse"),
        paged: false,
        query: &[],
        errors: &[ValidationError, Conflict, RateLimited, Overloaded],
    },
    Route {
        method: Method::POST,
        path: "/api/auth/login",
        op: Op::Login,
        summary: "Log in with username and password",
        tag: "auth",
        auth: false,
        limit: LimitClass::Login,
        request: Some("LoginRequest"),
        status: 200,
        response: Some("AuthResponse"),
        paged: false,
        query: &[],
        errors: &[ValidationError, Unauthorized, RateLimited, Overloaded],
    },
    Route {
        method: Method::POST,
        path: "/api/auth/refresh",
        op: Op::Refresh,
        summary: "Exchange a refresh token for a new token pair (the old one is rotated out; reusing it revokes the session)",
        tag: "auth",
        auth: false,
        limit: LimitClass::Api,
        request: Some("RefreshRequest"),
        status: 200,
        response: Some("TokenPair"),
        paged: false,
        query: &[],
        errors: &[ValidationError, Unauthorized, RateLimited],
    },
    Route {
        method: Method::POST,
        path: "/api/auth/logout",
        op: Op::Logout,
        summary: "Revoke the session of a refresh token",
        tag: "auth",
        auth: false,
        limit: LimitClass::Api,
        request: Some("RefreshRequest"),
        status: 204,
        response: None,
        paged: false,
        query: &[],
        errors: &[ValidationError, RateLimited],
    },
    Route {
        method: Method::GET,
        path: "/api/users/me",
        op: Op::Me,
        summary: "The caller's account",
        tag: "users",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 200,
        response: Some("Me"),
        paged: false,
        query: &[],
        errors: &[Unauthorized, RateLimited],
    },
    Route {
        method: Method::GET,
        path: "/api/users/{userId}",
        op: Op::GetUser,
        summary: "A user's public profile",
        tag: "users",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 200,
        response: Some("User"),
        paged: false,
        query: &[],
        errors: &[Unauthorized, NotFound, RateLimited],
    },
    Route {
        method: Method::GET,
        path: "/api/search/messages",
        op: Op::SearchMessages,
        summary: "Full-text search over the caller's conversations, best first, with highlighted snippets",
        tag: "messages",
        auth: true,
        limit: LimitClass::History,
        request: None,
        status: 200,
        response: Some("SearchHit"),
        paged: true,
        query: SEARCH_MESSAGES,
        errors: &[Unauthorized, ValidationError, RateLimited],
    },
    Route {
        method: Method::GET,
        path: "/api/users",
        op: Op::SearchUsers,
        summary: "Find people by username or display name prefix",
        tag: "users",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 200,
        response: Some("User"),
        paged: true,
        query: SEARCH,
        errors: &[Unauthorized, ValidationError, RateLimited],
    },
    Route {
        method: Method::POST,
        path: "/api/conversations",
        op: Op::CreateConversation,
        summary: "Open a DM (get-or-create: 200 when it existed, 201 when created) or create a group (201)",
        tag: "conversations",
        auth: true,
        limit: LimitClass::Api,
        request: Some("CreateConversationRequest"),
        status: 201,
        response: Some("Conversation"),
        paged: false,
        query: &[],
        errors: &[Unauthorized, ValidationError, NotFound, RateLimited],
    },
    Route {
        method: Method::GET,
        path: "/api/conversations",
        op: Op::ListConversations,
        summary: "The caller's conversations, most recent activity first",
        tag: "conversations",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 200,
        response: Some("Conversation"),
        paged: true,
        query: LIMIT_CURSOR,
        errors: &[Unauthorized, ValidationError, RateLimited],
    },
    Route {
        method: Method::GET,
        path: "/api/conversations/{conversationId}",
        op: Op::GetConversation,
        summary: "One conversation with all its members",
        tag: "conversations",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 200,
        response: Some("Conversation"),
        paged: false,
        query: &[],
        errors: &[Unauthorized, NotFound, RateLimited],
    },
    Route {
        method: Method::POST,
        path: "/api/conversations/{conversationId}/members",
        op: Op::AddMember,
        summary: "Add a member to a group (owner: any role but owner; admin: members)",
        tag: "conversations",
        auth: true,
        limit: LimitClass::Api,
        request: Some("AddMemberRequest"),
        status: 201,
        response: Some("Member"),
        paged: false,
        query: &[],
        errors: &[
            Unauthorized,
            ValidationError,
            Forbidden,
            NotFound,
            Conflict,
            RateLimited,
        ],
    },
    Route {
        method: Method::DELETE,
        path: "/api/conversations/{conversationId}/members/{userId}",
        op: Op::RemoveMember,
        summary: "Remove a member (owner/admin), or leave (your own id)",
        tag: "conversations",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 204,
        response: None,
        paged: false,
        query: &[],
        errors: &[Unauthorized, Forbidden, NotFound, RateLimited],
    },
    Route {
        method: Method::GET,
        path: "/api/conversations/{conversationId}/messages",
        op: Op::History,
        summary: "A page of history: newest first (`before`), or oldest first from a seq (`after`)",
        tag: "messages",
        auth: true,
        limit: LimitClass::History,
        request: None,
        status: 200,
        response: Some("Message"),
        paged: true,
        query: HISTORY,
        errors: &[Unauthorized, ValidationError, NotFound, RateLimited],
    },
    Route {
        method: Method::POST,
        path: "/api/conversations/{conversationId}/messages",
        op: Op::Send,
        summary: "Send a message; answered after it is committed (201), or with the original (200) when this clientMessageId was used before",
        tag: "messages",
        auth: true,
        limit: LimitClass::Send,
        request: Some("SendMessageRequest"),
        status: 201,
        response: Some("Message"),
        paged: false,
        query: &[],
        errors: &[
            Unauthorized,
            ValidationError,
            NotFound,
            RateLimited,
            Overloaded,
        ],
    },
    Route {
        method: Method::PATCH,
        path: "/api/messages/{messageId}",
        op: Op::EditMessage,
        summary: "Edit a message (its sender, within chat.edit_window); answered after commit, members get message:edited",
        tag: "messages",
        auth: true,
        limit: LimitClass::Api,
        request: Some("EditMessage"),
        status: 200,
        response: Some("Message"),
        paged: false,
        query: &[],
        errors: &[
            Unauthorized,
            Forbidden,
            NotFound,
            ValidationError,
            RateLimited,
            Overloaded,
        ],
    },
    Route {
        method: Method::DELETE,
        path: "/api/messages/{messageId}",
        op: Op::DeleteMessage,
        summary: "Delete a message (its sender, or a group owner/admin): content removed, seq kept; members get message:deleted",
        tag: "messages",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 200,
        response: Some("Message"),
        paged: false,
        query: &[],
        errors: &[Unauthorized, Forbidden, NotFound, RateLimited, Overloaded],
    },
    Route {
        method: Method::GET,
        path: "/api/messages/{messageId}/receipts",
        op: Op::Receipts,
        summary: "Who read a message and when (members only; the sender excluded)",
        tag: "messages",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 200,
        response: Some("Receipt"),
        paged: true,
        query: &[],
        errors: &[Unauthorized, NotFound, RateLimited],
    },
    Route {
        method: Method::GET,
        path: "/api/openapi.json",
        op: Op::OpenApi,
        summary: "This document",
        tag: "meta",
        auth: false,
        limit: LimitClass::Api,
        request: None,
        status: 200,
        response: None,
        paged: false,
        query: &[],
        errors: &[RateLimited],
    },
];

/// The route for `method` and `path`, with the path parameters it captured.
pub(crate) fn find(
    method: &Method,
    path: &str,
) -> Option<(&'static Route, Vec<(&'static str, String)>)> {
    ROUTES.iter().find_map(|route| {
        if route.method != *method {
            return None;
        }
        let params = match_path(route.path, path)?;
        Some((route, params))
    })
}

fn match_path(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut params = Vec::new();
    let mut wanted = pattern.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return None;
                }
                params.push((&w[1..w.len() - 1], g.to_owned()));
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_table() {
        let cases = [
            (Method::GET, "/api/users/me", Some(Op::Me)),
            (Method::GET, "/api/users/usr_1", Some(Op::GetUser)),
            (Method::GET, "/api/users", Some(Op::SearchUsers)),
            (
                Method::GET,
                "/api/search/messages",
                Some(Op::SearchMessages),
            ),
            (Method::GET, "/api/users/", None),
            (Method::POST, "/api/users/me", None),
            (
                Method::DELETE,
                "/api/conversations/conv_1/members/usr_2",
                Some(Op::RemoveMember),
            ),
            (
                Method::GET,
                "/api/conversations/conv_1/messages",
                Some(Op::History),
            ),
            (
                Method::GET,
                "/api/conversations/conv_1/messages/extra",
                None,
            ),
            (Method::GET, "/api/conversations//messages", None),
        ];
        for (method, path, want) in cases {
            assert_eq!(
                find(&method, path).map(|(r, _)| r.op),
                want,
                "{method} {path}"
            );
        }
        let (_, params) =
            find(&Method::DELETE, "/api/conversations/conv_1/members/usr_2").expect("route");
        assert_eq!(
            params,
            vec![
                ("conversationId", "conv_1".to_owned()),
                ("userId", "usr_2".to_owned())
            ]
        );
    }

    #[test]
    fn routes_are_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }
}
