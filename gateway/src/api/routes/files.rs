//! The routes of files: an upload, and an attachment's bytes and thumbnails.

use hyper::Method;
use parley_shared::ErrorCode;

use super::{LimitClass, Op, QueryParam, Route};

use ErrorCode::{
    InternalError, NotFound, Overloaded, PayloadTooLarge, RateLimited, RequestTimeout,
    Unauthorized, ValidationError,
};

pub(super) static ROUTES: &[Route] = &[
    Route {
        method: Method::POST,
        path: "/api/uploads",
        op: Op::Upload,
        summary: "Upload a file or an image (the raw bytes as the body; the type is sniffed from them): name the returned id in a send's attachments within a day",
        tag: "files",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 201,
        response: Some("Attachment"),
        paged: false,
        query: &[QueryParam {
            name: "name",
            description: "The file's name, as shown to the others",
            kind: "string",
            required: false,
        }],
        errors: &[
            Unauthorized,
            ValidationError,
            PayloadTooLarge,
            RequestTimeout,
            RateLimited,
            Overloaded,
            InternalError,
        ],
    },
    Route {
        method: Method::GET,
        path: "/api/attachments/{attachmentId}",
        op: Op::DownloadAttachment,
        summary: "An attachment's bytes (images inline, other files as a download; Range supported), for the members of a conversation holding it",
        tag: "files",
        auth: true,
        limit: LimitClass::History,
        request: None,
        status: 200,
        response: None,
        paged: false,
        query: &[],
        errors: &[Unauthorized, NotFound, RateLimited],
    },
    Route {
        method: Method::GET,
        path: "/api/attachments/{attachmentId}/thumbnails/{size}",
        op: Op::Thumbnail,
        summary: "One of an image's thumbnails (its longest side: a size listed in the attachment's thumbnails)",
        tag: "files",
        auth: true,
        limit: LimitClass::History,
        request: None,
        status: 200,
        response: None,
        paged: false,
        query: &[],
        errors: &[Unauthorized, NotFound, RateLimited],
    },
];
