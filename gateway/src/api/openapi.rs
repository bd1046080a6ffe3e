//! `GET /api/openapi.json`: an OpenAPI 3.0 document generated from the route table (paths,
//! methods, parameters, bodies, statuses, errors, rate-limit headers) plus the component schemas
//! of the request and view types.

use std::sync::OnceLock;

use hyper::StatusCode;
use parley_shared::ErrorCode;
use serde_json::{Map, Value, json};

use super::routes::{Route, routes};
use super::views::Reply;

mod files;
mod moderation;
mod schemas;

/// The document, built once.
pub(crate) fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

/// The handler: the bare document (no envelope; tools expect it as is).
pub(crate) fn serve() -> Reply {
    Reply {
        status: StatusCode::OK,
        body: Some(document().to_string()),
        download: None,
    }
}

fn build() -> Value {
    let mut paths = Map::new();
    for route in routes() {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(methods) = entry {
            methods.insert(route.method.as_str().to_ascii_lowercase(), operation(route));
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Parley REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Accounts, conversations and history. Success bodies are {\"data\", \"meta\"?}; errors are {\"error\": {code, message, details?, retryable, retryAfter?}}. Ids carry prefixes (usr_, conv_, msg_); timestamps are ISO 8601 UTC with milliseconds."
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "auth"}, {"name": "users"}, {"name": "conversations"}, {"name": "messages"}, {"name": "notifications"}, {"name": "meta"}
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas::all(),
            "headers": {
                "X-RateLimit-Limit": {"description": "Requests allowed per window", "schema": {"type": "integer"}},
                "X-RateLimit-Remaining": {"description": "Requests left now", "schema": {"type": "integer"}},
                "X-RateLimit-Reset": {"description": "Unix time when the allowance is full again", "schema": {"type": "integer"}},
                "Retry-After": {"description": "Seconds to wait (429 and some 503)", "schema": {"type": "integer"}}
            }
        }
    })
}

fn operation(route: &Route) -> Value {
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"},
                   "description": format!("Prefixed id ({})", id_prefix(name))})
        })
        .collect();
    parameters.extend(route.query.iter().map(|q| {
        json!({"name": q.name, "in": "query", "required": q.required, "description": q.description,
               "schema": {"type": q.kind}})
    }));
    let rate_headers = json!({
        "X-RateLimit-Limit": {"$ref": "#/components/headers/X-RateLimit-Limit"},
        "X-RateLimit-Remaining": {"$ref": "#/components/headers/X-RateLimit-Remaining"},
        "X-RateLimit-Reset": {"$ref": "#/components/headers/X-RateLimit-Reset"}
    });
    let mut responses = Map::new();
    let success = match (route.response, route.paged) {
        (None, _) if route.status == 204 => json!({"description": "Done", "headers": rate_headers}),
        (None, _) if route.op == super::routes::Op::DownloadExport => json!({
            "description": "The archive (an attachment, once)",
            "headers": rate_headers,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExportArchive"}}}
        }),
        (None, _) => {
            json!({"description": "The OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}})
        }
        (Some(schema), false) => json!({
            "description": "Success",
            "headers": rate_headers,
            "content": {"application/json": {"schema": {
                "type": "object", "required": ["data"],
                "properties": {"data": {"$ref": format!("#/components/schemas/{schema}")}}
            }}}
        }),
        (Some(schema), true) => json!({
            "description": "A page",
            "headers": rate_headers,
            "content": {"application/json": {"schema": {
                "type": "object", "required": ["data", "meta"],
                "properties": {
                    "data": {"type": "array", "items": {"$ref": format!("#/components/schemas/{schema}")}},
                    "meta": {"$ref": "#/components/schemas/PageMeta"}
                }
            }}}
        }),
    };
    responses.insert(route.status.to_string(), success);
    // Idempotent creations answer 200 with what already existed.
    let existed = match route.op {
        super::routes::Op::CreateConversation => Some(("The DM already existed", "Conversation")),
        super::routes::Op::Send => Some((
            "This clientMessageId was sent before: the original message",
            "Message",
        )),
        super::routes::Op::Block => Some(("This user was blocked already", "Block")),
        super::routes::Op::RequestExport => {
            Some(("The export already preparing or ready", "Export"))
        }
        _ => None,
    };
    if let Some((description, schema)) = existed {
        responses.insert(
            "200".to_owned(),
            json!({"description": description, "content": {"application/json": {"schema": {
                "type": "object", "required": ["data"],
                "properties": {"data": {"$ref": format!("#/components/schemas/{schema}")}}
            }}}}),
        );
    }
    let mut errors: Vec<ErrorCode> = route.errors.to_vec();
    errors.extend([ErrorCode::InternalError, ErrorCode::DbError]);
    for code in errors {
        let status = code.http_status().to_string();
        let entry = responses.entry(status).or_insert_with(|| {
            json!({"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
        });
        if let Some(Value::String(description)) = entry.get_mut("description") {
            if !description.is_empty() {
                description.push_str(", ");
            }
            description.push_str(code.as_str());
        }
    }
    let mut op = json!({
        "operationId": format!("{:?}", route.op).chars().enumerate().map(|(i, c)| if i == 0 { c.to_ascii_lowercase() } else { c }).collect::<String>(),
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": parameters,
        "responses": responses,
    });
    if route.auth {
        op["security"] = json!([{"bearer": []}]);
    }
    if let Some(schema) = route.request {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
        });
    }
    op
}

fn id_prefix(param: &str) -> &'static str {
    match param {
        "userId" => "usr_",
        "conversationId" => "conv_",
        "messageId" => "msg_",
        _ => "",
    }
}
