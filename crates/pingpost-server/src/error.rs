//! `{"error": {"code", "message", "field"?}}` with the right status, for every failure.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pingpost_engine::EngineError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Answer with `Connection: close`: the request was not read to its end.
    pub closes_connection: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None, closes_connection: false }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("{field} {}", message.into());
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_field",
            message,
            field: Some(field),
            closes_connection: false,
        }
    }

    /// The same answer, closing the connection after it.
    pub fn closing_connection(self) -> Self {
        ApiError { closes_connection: true, ..self }
    }

    /// The admin API answers this to anything but the operator token (partner keys included).
    pub fn unauthorized_operator() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong operator token (Authorization: Bearer <token>)",
        )
    }

    /// 503 for a store that could not be reached, in words that carry nothing of the store.
    pub fn store_unavailable() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store is unavailable; nothing was recorded, retry later",
        )
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or unknown API key (Authorization: Bearer <key>)",
        )
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let message = e.to_string();
        match e {
            EngineError::UnknownOffer(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown_offer", message),
            EngineError::OfferNotAllowed(_) => ApiError::new(StatusCode::FORBIDDEN, "offer_not_allowed", message),
            EngineError::UnknownPing(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown_ping", message),
            EngineError::PingExpired(_) => ApiError::new(StatusCode::GONE, "ping_expired", message),
            EngineError::InFlight(_) => ApiError::new(StatusCode::CONFLICT, "in_flight", message),
            EngineError::Invalid { field, message } => ApiError::invalid(lead_field(&field), message),
            EngineError::NotFound { code, .. } => ApiError::new(StatusCode::NOT_FOUND, code, message),
            EngineError::Conflict { code, .. } => ApiError::new(StatusCode::CONFLICT, code, message),
            EngineError::Refused { code, .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message),
            // The store's and the books' own error text (addresses, server messages) is for
            // the log, never for a client: partners and the unauthenticated probes read these.
            EngineError::Store(_) => {
                tracing::warn!(error = %message, "store unavailable");
                ApiError::store_unavailable()
            }
            EngineError::Books(pingpost_books::BooksError::Unavailable(_)) => {
                tracing::warn!(error = %message, "books unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "books_unavailable",
                    "the books are unavailable; sales go on, retry the report later",
                )
            }
            EngineError::Events(_) => {
                tracing::warn!(error = %message, "lead event log unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "events_unavailable",
                    "the lead event log is unavailable; pings go on, retry later",
                )
            }
            EngineError::Corrupt(_) | EngineError::Books(_) => {
                tracing::error!(error = %message, "corrupt stored record or books");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

impl From<pingpost_books::BooksError> for ApiError {
    fn from(e: pingpost_books::BooksError) -> Self {
        ApiError::from(EngineError::Books(e))
    }
}

impl From<pingpost_store::StoreError> for ApiError {
    fn from(e: pingpost_store::StoreError) -> Self {
        ApiError::from(EngineError::Store(e))
    }
}

/// Engine errors name identifier fields bare; in the request they sit under `lead`.
fn lead_field(field: &str) -> String {
    match field {
        "email" | "phone" | "email_sha256" | "phone_sha256" => format!("lead.{field}"),
        other => other.to_string(),
    }
}

/// Every error answer: `{"error": {"code", "message", "field"?}}`. The API document's error
/// schema is this type's, so the two cannot drift.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `invalid_field`, `unknown_offer`.
    pub code: String,
    /// For people; names the field and what is wrong with it.
    pub message: String,
    /// The request field at fault (`lead.email`, `caps.daily`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::metrics::error_answered(self.code, self.status.as_u16());
        let body =
            ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message, field: self.field } };
        let mut response = (self.status, Json(body)).into_response();
        if self.closes_connection {
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
