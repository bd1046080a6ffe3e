//! The error catalog shared by REST and WebSocket: codes, HTTP statuses, retry hints and the wire shape.

use std::collections::BTreeMap;

use serde::Serialize;

/// Machine-readable error codes (the seeds' catalog). Each maps to exactly one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    Unauthorized,
    Forbidden,
    NotFound,
    /// The path exists, the method does not (the `Allow` header lists those that do).
    MethodNotAllowed,
    Conflict,
    RateLimited,
    /// The request body or frame is larger than the configured cap.
    PayloadTooLarge,
    /// The request body stalled or arrived slower than the configured minimum rate.
    RequestTimeout,
    DbError,
    /// The persister's queue is full: the server sheds load instead of queueing without bound.
    Overloaded,
    InternalError,
}

impl ErrorCode {
    /// Every code, for documentation and exhaustive tests.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::ValidationError,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::RateLimited,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RequestTimeout,
        ErrorCode::DbError,
        ErrorCode::Overloaded,
        ErrorCode::InternalError,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::RequestTimeout => "REQUEST_TIMEOUT",
            ErrorCode::DbError => "DB_ERROR",
            ErrorCode::Overloaded => "OVERLOADED",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }

    /// The HTTP status a REST response with this code carries.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::ValidationError => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::RateLimited => 429,
            ErrorCode::InternalError => 500,
            ErrorCode::DbError | ErrorCode::Overloaded => 503,
        }
    }

    /// Whether a client may retry the same request unchanged.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited
                | ErrorCode::RequestTimeout
                | ErrorCode::DbError
                | ErrorCode::Overloaded
                | ErrorCode::InternalError
        )
    }
}

/// The body of every error: `{"error": {code, message, details?, retryable, retryAfter?}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, Vec<String>>>,
    pub retryable: bool,
    /// Seconds to wait before retrying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ErrorBody {
    /// An error with the code's default retry hint and no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retryable: code.retryable(),
            retry_after: None,
        }
    }

    /// Adds a field-level message to `details`.
    pub fn with_detail(mut self, field: impl Into<String>, problem: impl Into<String>) -> Self {
        self.details
            .get_or_insert_with(BTreeMap::new)
            .entry(field.into())
            .or_default()
            .push(problem.into());
        self
    }

    /// Sets the number of seconds a client should wait.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The REST envelope: `{"error": {...}}`.
    pub fn to_envelope_json(&self) -> String {
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: &'a ErrorBody,
        }
        serde_json::to_string(&Envelope { error: self })
            .expect("an ErrorBody holds only strings, integers and booleans")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_table() {
        let table = [
            ("VALIDATION_ERROR", 400, false),
            ("UNAUTHORIZED", 401, false),
            ("FORBIDDEN", 403, false),
            ("NOT_FOUND", 404, false),
            ("METHOD_NOT_ALLOWED", 405, false),
            ("CONFLICT", 409, false),
            ("RATE_LIMITED", 429, true),
            ("PAYLOAD_TOO_LARGE", 413, false),
            ("REQUEST_TIMEOUT", 408, true),
            ("DB_ERROR", 503, true),
            ("OVERLOADED", 503, true),
            ("INTERNAL_ERROR", 500, true),
        ];
        for (code, (name, status, retryable)) in ErrorCode::ALL.iter().zip(table) {
            assert_eq!(code.as_str(), name);
            assert_eq!(code.http_status(), status, "{name}");
            assert_eq!(code.retryable(), retryable, "{name}");
            let json = serde_json::to_value(code).expect("serialise");
            assert_eq!(json, serde_json::Value::String(name.to_owned()));
        }
    }

    #[test]
    fn envelope_shape() {
        let body = ErrorBody::new(ErrorCode::ValidationError, "Invalid message content")
            .with_detail("content", "Content must be between 1 and 4000 characters");
        let value: serde_json::Value =
            serde_json::from_str(&body.to_envelope_json()).expect("valid json");
        assert_eq!(
            value,
            serde_json::json!({"error": {
                "code": "VALIDATION_ERROR",
                "message": "Invalid message content",
                "details": {"content": ["Content must be between 1 and 4000 characters"]},
                "retryable": false
            }})
        );
        let limited =
            ErrorBody::new(ErrorCode::RateLimited, "Too many requests").with_retry_after(30);
        let value: serde_json::Value =
            serde_json::from_str(&limited.to_envelope_json()).expect("valid json");
        assert_eq!(value["error"]["retryAfter"], 30);
        assert_eq!(value["error"]["retryable"], true);
        assert!(value["error"].get("details").is_none());
    }
}
