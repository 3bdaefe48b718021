//! The one error type of the API: every failure is
//! `{"error": {"code", "message"}}` with a fitting status. Clients get a
//! clear message; logs get the detail of server-side failures.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::accounts::AccountError;
use crate::chat::ChatError;
use crate::registry::RegistryError;
use crate::store::StoreError;

/// An API failure.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<std::time::Duration>,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    /// 429: too many requests; `Retry-After` says when to try again.
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
    }
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// Its code (`not_found`, `session_revoked`, …).
    pub fn code(&self) -> &'static str {
        self.code
    }
    /// What it says.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// 400: malformed request.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 401: missing or bad token.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid bearer token",
        )
    }
    /// 403: authenticated but not allowed.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 409.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 413.
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }
    /// 422: well-formed but unacceptable.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    /// 500, with the detail logged rather than shown.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(%detail, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error")
    }
}

/// The message of a 413 made where the limit is not known (an extractor's
/// rejection); the router's body-limit layer replaces it with one that
/// names the limit.
pub(crate) const UNNAMED_LIMIT: &str = "the request body is too large";

/// Marks a 413 whose message does not name the limit yet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LimitUnnamed;

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema, utoipa::ToResponse)]
#[response(description = "An error: a stable `code` for programs and a `message` for people")]
pub(crate) struct ErrorBody {
    /// What went wrong.
    error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable, machine-readable: `unauthorized`, `not_found`, `invalid_body`, …
    code: String,
    /// For people; may change between versions.
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unnamed = self.status == StatusCode::PAYLOAD_TOO_LARGE && self.message == UNNAMED_LIMIT;
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let secs = super::rate_limit::retry_after_secs(wait);
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        if unnamed {
            response.extensions_mut().insert(LimitUnnamed);
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::too_large(UNNAMED_LIMIT);
        }
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
            _ => "malformed_json",
        };
        ApiError::new(status, code, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(rejection.body_text())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        let message = e.to_string();
        match e {
            AccountError::Invalid(_) => ApiError::unprocessable("invalid_body", message),
            AccountError::NoSuchApp | AccountError::NoSuchSession => ApiError::not_found(message),
            AccountError::TooManySessions => ApiError::conflict(message),
            AccountError::InvalidTicket => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_ticket", message),
            AccountError::UnknownAccount => ApiError::unauthorized(),
            AccountError::Store(e) => ApiError::internal(e),
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::ChatNotFound => ApiError::not_found("no such chat, or you are not a member"),
            ChatError::MessageNotFound => ApiError::not_found("no such message in this chat"),
            ChatError::ButtonNotFound => ApiError::not_found("the message has no such button"),
            ChatError::MemberNotFound => ApiError::not_found("no such member or invitee of this chat"),
            ChatError::NotAllowed(m) => ApiError::forbidden(m),
            ChatError::AppNotAvailable(m) => ApiError::unprocessable("app_not_available", m),
            ChatError::Invalid(m) => ApiError::unprocessable("invalid_body", m),
            ChatError::Busy(m) => ApiError {
                code: "backlog_full",
                ..ApiError::rate_limited(m, std::time::Duration::from_secs(1))
            },
            ChatError::Store(e) => ApiError::internal(e),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let message = e.to_string();
        match e {
            RegistryError::Manifest(_) => ApiError::unprocessable("invalid_manifest", message),
            RegistryError::Component(_) => ApiError::unprocessable("invalid_component", message),
            RegistryError::TooLarge(_) => ApiError::too_large(message),
            RegistryError::UndeclaredImports(_) => ApiError::unprocessable("undeclared_imports", message),
            RegistryError::MissingExport(_) => ApiError::unprocessable("missing_export", message),
            RegistryError::NameTaken(_) => ApiError::new(StatusCode::FORBIDDEN, "name_taken", message),
            RegistryError::VersionExists(..) => ApiError::conflict(message),
            RegistryError::NotFound(_) => ApiError::not_found(message),
            RegistryError::NotOwner => ApiError::forbidden(message),
            RegistryError::InvalidDecision(_) => ApiError::unprocessable("invalid_decision", message),
            RegistryError::NotPending(..) => ApiError::conflict(message),
            RegistryError::NotCompiled(..) => ApiError::new(StatusCode::CONFLICT, "not_compiled", message),
            RegistryError::RateLimited(_, retry_after) => ApiError::rate_limited(message, retry_after),
            RegistryError::Store(e) => ApiError::internal(e),
            RegistryError::Io(e) => ApiError::internal(e),
        }
    }
}

/// Marks a response a web app wrote itself: its status and body are the
/// app's, not the API's, so they keep their shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppResponse;

/// Gives error responses made outside the handlers (body-limit and timeout
/// layers, axum's own rejections) the API's error shape.
pub(crate) async fn error_shape(response: Response) -> Response {
    if response.extensions().get::<AppResponse>().is_some() {
        return response;
    }
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let body = axum::body::to_bytes(response.into_body(), 64 << 10)
        .await
        .unwrap_or_default();
    let detail = String::from_utf8_lossy(&body).trim().to_string();
    let message = if detail.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        detail
    };
    ApiError::new(status, code, message).into_response()
}

impl From<crate::signing::SigningError> for ApiError {
    fn from(e: crate::signing::SigningError) -> Self {
        use crate::signing::SigningError;
        match e {
            SigningError::NotFound => ApiError::not_found("no such signature request"),
            SigningError::AlreadyDecided(_) => ApiError::conflict(e.to_string()),
            SigningError::Store(e) => ApiError::internal(e),
            SigningError::Key(e) => ApiError::internal(e),
        }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
