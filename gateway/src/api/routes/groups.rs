//! The routes of groups: rename and describe, delete, the paged member list, add, remove or
//! leave, and role changes. Each change is one transaction on the conversation's lane with a
//! system message in the timeline.

use hyper::Method;
use parley_shared::ErrorCode;

use super::{LimitClass, Op, QueryParam, Route};

use ErrorCode::{
    Conflict, DbError, Forbidden, NotFound, Overloaded, RateLimited, Unauthorized, ValidationError,
};

const CHANGE_ERRORS: &[ErrorCode] = &[
    Unauthorized,
    ValidationError,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited,
    Overloaded,
    DbError,
];

const MEMBERS_QUERY: &[QueryParam] = &[
    QueryParam {
        name: "limit",
        description: "Page size, 1 to 200 (default 100).",
        kind: "integer",
        required: false,
    },
    QueryParam {
        name: "cursor",
        description: "`meta.cursor` of the previous page.",
        kind: "string",
        required: false,
    },
];

const LEAVE_QUERY: &[QueryParam] = &[QueryParam {
    name: "newOwnerId",
    description: "When the owner leaves: the member who becomes owner (required then).",
    kind: "string",
    required: false,
}];

pub(super) static ROUTES: &[Route] = &[
    Route {
        method: Method::PATCH,
        path: "/api/conversations/{conversationId}",
        op: Op::UpdateConversation,
        summary: "Rename a group or change its description (owner and admins); members get conversation:updated and a system message",
        tag: "conversations",
        auth: true,
        limit: LimitClass::Api,
        request: Some("UpdateConversationRequest"),
        status: 200,
        response: Some("Conversation"),
        paged: false,
        query: &[],
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::DELETE,
        path: "/api/conversations/{conversationId}",
        op: Op::DeleteConversation,
        summary: "Delete a group with its history (the owner); members get conversation:deleted",
        tag: "conversations",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 204,
        response: None,
        paged: false,
        query: &[],
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::PUT,
        path: "/api/conversations/{conversationId}/retention",
        op: Op::SetRetention,
        summary: "How long this conversation keeps its messages, at most the server's retention (a group's owner, either member of a DM); older ones are deleted",
        tag: "conversations",
        auth: true,
        limit: LimitClass::Api,
        request: Some("RetentionRequest"),
        status: 200,
        response: Some("Conversation"),
        paged: false,
        query: &[],
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::GET,
        path: "/api/conversations/{conversationId}/members",
        op: Op::ListMembers,
        summary: "The members with their roles: the owner, admins, then members, each by joining time",
        tag: "conversations",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 200,
        response: Some("Member"),
        paged: true,
        query: MEMBERS_QUERY,
        errors: &[Unauthorized, ValidationError, NotFound, RateLimited],
    },
    Route {
        method: Method::POST,
        path: "/api/conversations/{conversationId}/members",
        op: Op::AddMember,
        summary: "Add a member to a group (owner: any role but owner; admin: members); members get conversation:member_added and a system message",
        tag: "conversations",
        auth: true,
        limit: LimitClass::Api,
        request: Some("AddMemberRequest"),
        status: 201,
        response: Some("Member"),
        paged: false,
        query: &[],
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::PATCH,
        path: "/api/conversations/{conversationId}/members/{userId}",
        op: Op::SetRole,
        summary: "Change a member's role (the owner); `owner` hands the group over and the old owner becomes an admin",
        tag: "conversations",
        auth: true,
        limit: LimitClass::Api,
        request: Some("SetRoleRequest"),
        status: 200,
        response: Some("Member"),
        paged: false,
        query: &[],
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::DELETE,
        path: "/api/conversations/{conversationId}/members/{userId}",
        op: Op::RemoveMember,
        summary: "Remove a member (owner: admins and members; admins: members), or leave (your own id; the owner names newOwnerId)",
        tag: "conversations",
        auth: true,
        limit: LimitClass::Api,
        request: None,
        status: 204,
        response: None,
        paged: false,
        query: LEAVE_QUERY,
        errors: CHANGE_ERRORS,
    },
];
