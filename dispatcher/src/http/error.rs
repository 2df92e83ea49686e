//! Errors of the control API, mapped to statuses and JSON bodies in one
//! place.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::WWW_AUTHENTICATE;
use signpost_shared::ReportError;

use crate::registry::{IngestError, UnknownNode};

/// Why a control request failed. Bodies are `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or wrong bearer token.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The body exceeds the report limit.
    #[error("report body exceeds {0} bytes")]
    TooLarge(usize),
    /// The body could not be read.
    #[error("could not read body: {0}")]
    Body(String),
    /// The report is invalid.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The report is valid but cannot be filed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
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
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Body(_) | ApiError::Report(_) => StatusCode::BAD_REQUEST,
            ApiError::Ingest(IngestError::IdConflict(_)) => StatusCode::CONFLICT,
            ApiError::Ingest(IngestError::TooManyNodes(_)) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Ingest(IngestError::NotAllowed(_)) => StatusCode::FORBIDDEN,
            ApiError::Ingest(_) => StatusCode::BAD_REQUEST,
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
            ApiError::TooLarge(_) => "too_large",
            ApiError::Body(_) => "body",
            ApiError::Report(err) => err.reason(),
            ApiError::Ingest(err) => err.reason(),
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
