//! `ApiError`: every way a REST request fails, already in the catalog's shape. Handlers return it;
//! `api::handle` renders it with the code's status (and `Retry-After` when it carries a hint).

use parley_persister::DbError;
use parley_shared::{ErrorBody, ErrorCode};

use crate::auth::password::HashError;

/// A failed request: the error body the client will see.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) ErrorBody);

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ErrorBody::new(code, message))
    }

    /// A validation error naming one field.
    pub(crate) fn field(field: &str, problem: impl Into<String>) -> Self {
        Self(
            ErrorBody::new(ErrorCode::ValidationError, "Invalid request")
                .with_detail(field, problem),
        )
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub(crate) fn unauthorized(message: &str) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }
}

/// Collects field problems, then fails once with all of them.
#[derive(Debug, Default)]
pub(crate) struct Problems(Option<ErrorBody>);

impl Problems {
    pub(crate) fn add(&mut self, field: &str, problem: impl Into<String>) {
        let body = self
            .0
            .take()
            .unwrap_or_else(|| ErrorBody::new(ErrorCode::ValidationError, "Invalid request"));
        self.0 = Some(body.with_detail(field, problem));
    }

    pub(crate) fn into_result(self) -> Result<(), ApiError> {
        match self.0 {
            Some(body) => Err(ApiError(body)),
            None => Ok(()),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        let code = error.code();
        tracing::warn!(%error, code = code.as_str(), "database request failed");
        let message = match code {
            ErrorCode::DbError => "Database unavailable, retry with backoff",
            _ => "Unexpected server error",
        };
        Self::new(code, message)
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy(_) => {
                tracing::warn!(%error, "password hashing saturated");
                Self(
                    ErrorBody::new(ErrorCode::Overloaded, "Server busy, retry shortly")
                        .with_retry_after(1),
                )
            }
            HashError::Failed(_) => {
                tracing::error!(%error, "password hashing failed");
                Self::new(ErrorCode::InternalError, "Unexpected server error")
            }
        }
    }
}
