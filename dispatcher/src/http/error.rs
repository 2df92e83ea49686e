//! Errors of the control API, mapped to statuses and JSON bodies in one
//! place.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::WWW_AUTHENTICATE;

use crate::intake::Refusal;
use crate::registry::{IngestError, UnknownNode};

/// Why a control request failed. Bodies are `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or wrong bearer token.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// A pushed report was refused (too large, unreadable, invalid, or
    /// valid but not fileable).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The admin API named an unknown backend.
    #[error(transparent)]
    UnknownNode(#[from] UnknownNode),
    /// The admin API named an unknown action.
    #[error("unknown action {0:?}: expected drain, ready or maintenance")]
    UnknownAction(String),
    /// Something on our side failed; details stay in the log.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Refused(Refusal::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Refused(Refusal::Ingest(IngestError::IdConflict(_))) => StatusCode::CONFLICT,
            ApiError::Refused(Refusal::Ingest(IngestError::TooManyNodes(_))) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Refused(Refusal::Ingest(IngestError::NotAllowed(_))) => StatusCode::FORBIDDEN,
            ApiError::Refused(_) => StatusCode::BAD_REQUEST,
            ApiError::UnknownNode(_) | ApiError::UnknownAction(_) => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ApiError {
    /// A short, fixed label for `signpost_control_refused_total{reason}`:
    /// a refused report's own reason, or what else went wrong.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::Refused(refusal) => refusal.reason(),
            ApiError::UnknownNode(_) => "unknown_node",
            ApiError::UnknownAction(_) => "unknown_action",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "control request failed");
        }
        let body = Json(serde_json::json!({ "error": self.to_string() }));
        if status == StatusCode::UNAUTHORIZED {
            return (status, [(WWW_AUTHENTICATE, "Bearer")], body).into_response();
        }
        (status, body).into_response()
    }
}
