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
    GetConversationNotifications,
    PutConversationNotifications,
    GetMyNotifications,
    PutMyNotifications,
    PushChannels,
    RegisterDevice,
    ListDevices,
    RemoveDevice,
    AddMember,
    RemoveMember,
    SetRole,
    SetRetention,
    ListMembers,
    UpdateConversation,
    DeleteConversation,
    History,
    Send,
    EditMessage,
    DeleteMessage,
    Receipts,
    SearchMessages,
    ChangePassword,
    ListSessions,
    RevokeSession,
    RevokeAllSessions,
    MfaStatus,
    MfaBegin,
    MfaConfirm,
    MfaRecoveryCodes,
    MfaDisable,
    LoginMfa,
    UpdateMe,
    ListBlocks,
    Block,
    Unblock,
    ResetPassword,
    ReportMessage,
    ListReports,
    ResolveReport,
    AdminGetUser,
    DeactivateUser,
    ReactivateUser,
    AdminDeleteMessage,
    ListAudit,
    DeleteMe,
    RequestExport,
    ListExports,
    DownloadExport,
    Upload,
    DownloadAttachment,
    Thumbnail,
    OpenApi,
}

/// Which limiter a request is counted against before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitClass {
    /// `limits.register`, per client IP.
    Register,
    /// `limits.login`, per client IP here; the handler adds the failed-login limits.
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

mod accounts;
mod files;
mod groups;
mod moderation;
mod privacy;
mod table;

/// Every route Parley serves under `/api`.
pub(crate) fn routes() -> impl Iterator<Item = &'static Route> {
    table::ROUTES
        .iter()
        .chain(accounts::ROUTES)
        .chain(groups::ROUTES)
        .chain(moderation::ROUTES)
        .chain(privacy::ROUTES)
        .chain(files::ROUTES)
}

/// The route for `method` and `path`, with the path parameters it captured.
pub(crate) fn find(
    method: &Method,
    path: &str,
) -> Option<(&'static Route, Vec<(&'static str, String)>)> {
    routes().find_map(|route| {
        if route.method != *method {
            return None;
        }
        let params = match_path(route.path, path)?;
        Some((route, params))
    })
}

/// The methods served at `path` (empty: no such path), in table order without repeats.
pub(crate) fn allowed(path: &str) -> Vec<&'static Method> {
    let mut methods: Vec<&'static Method> = Vec::new();
    for route in routes() {
        if !methods.contains(&&route.method) && match_path(route.path, path).is_some() {
            methods.push(&route.method);
        }
    }
    methods
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
            (Method::POST, "/api/auth/password", Some(Op::ChangePassword)),
            (Method::GET, "/api/auth/sessions", Some(Op::ListSessions)),
            (
                Method::DELETE,
                "/api/auth/sessions/ses_1",
                Some(Op::RevokeSession),
            ),
            (
                Method::DELETE,
                "/api/auth/sessions",
                Some(Op::RevokeAllSessions),
            ),
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
    fn allowed_methods_table() {
        let cases: [(&str, &[Method]); 4] = [
            (
                "/api/users/me",
                &[Method::GET, Method::PATCH, Method::DELETE],
            ),
            ("/api/auth/login", &[Method::POST]),
            ("/api/nothing", &[]),
            ("/api/conversations//messages", &[]),
        ];
        for (path, want) in cases {
            let mut got: Vec<Method> = allowed(path).into_iter().cloned().collect();
            got.sort_by_key(|m| m.to_string());
            let mut want = want.to_vec();
            want.sort_by_key(|m| m.to_string());
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn routes_are_unique() {
        let all: Vec<&Route> = routes().collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
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
