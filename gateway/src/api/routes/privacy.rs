//! The routes of data protection: a user's export of their data, and deleting their account.

use hyper::Method;
use parley_shared::ErrorCode;

use super::{LimitClass, Op, Route};

use ErrorCode::{Conflict, DbError, NotFound, RateLimited, Unauthorized, ValidationError};

pub(super) static ROUTES: &[Route] = &[
    Route {
        method: Method::DELETE,
        path: "/api/users/me",
        op: Op::DeleteMe,
        summary: "Delete your account (password, and a code when two-factor sign-in is on): signed out everywhere, out of every group, your direct messages closed, your messages' content removed; your username is free again",
        tag: "privacy",
        auth: true,
        limit: LimitClass::Login,
        request: Some("DeleteAccountRequest"),
        status: 204,
        response: None,
        paged: false,
        query: &[],
        errors: &[Unauthorized, ValidationError, RateLimited, DbError],
    },
    Route {
        method: Method::POST,
        path: "/api/users/me/export",
        op: Op::RequestExport,
        summary: "Ask for an export of your data (202: being prepared; 200: the one already preparing or ready)",
        tag: "privacy",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 202,
        response: Some("Export"),
        paged: false,
        query: &[],
        errors: &[Unauthorized, RateLimited],
    },
    Route {
        method: Method::GET,
        path: "/api/users/me/exports",
        op: Op::ListExports,
        summary: "Your exports, newest first, with their status (preparing, ready, downloaded, failed, expired)",
        tag: "privacy",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 200,
        response: Some("Export"),
        paged: true,
        query: &[],
        errors: &[Unauthorized, RateLimited],
    },
    Route {
        method: Method::GET,
        path: "/api/users/me/exports/{exportId}/download",
        op: Op::DownloadExport,
        summary: "Download a ready export, once (then it is gone); 409 while it is still preparing",
        tag: "privacy",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 200,
        response: None,
        paged: false,
        query: &[],
        errors: &[Unauthorized, NotFound, Conflict, RateLimited],
    },
];
