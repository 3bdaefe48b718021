//! `POST /v1/apps/{app}/webhook-secret` (the owner makes, or rotates, the
//! app's webhook signing secret and reads it this once) and
//! `/hooks/{app}/{name}[/…]` (a signed delivery: 202 once it is queued as
//! a `webhook` event; see [`crate::webhooks`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::ErrorBody;
use super::{ApiError, ApiResult, AppState};
use crate::webhooks::{Delivery, WebhookError, signature};

/// `POST /v1/apps/{app}/webhook-secret`: a new secret (the old one stops
/// working at once), shown only in this answer.
///
/// # Errors
///
/// 403 for someone else's app, 404 for no app.
#[utoipa::path(
    post,
    path = "/v1/apps/{app}/webhook-secret",
    tag = "webhooks",
    summary = "Make (or rotate) the app's webhook signing secret, shown only now",
    security(("account" = []), ("operator" = [])),
    params(("app" = String, Path, description = "The app's id or name")),
    responses(
        (status = 201, description = "The new secret and how to sign with it", body = WebhookSecret),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
) -> ApiResult<(StatusCode, Json<WebhookSecret>)> {
    let app = state.registry.resolve_app(&app).await?;
    let secret = state.registry.rotate_webhook_secret(&app, caller.actor()).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookSecret {
            secret,
            header: "Miniapp-Signature",
            scheme: "t=<unix seconds>,v1=<hex HMAC-SHA256 with the secret as key over \"<t>.<raw body>\">",
            window_seconds: signature::WINDOW_SECS,
        }),
    ))
}

/// Answer of `POST /v1/apps/{app}/webhook-secret`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct WebhookSecret {
    /// The secret; the old one stopped working.
    secret: String,
    /// The header a delivery carries its signature in.
    header: &'static str,
    /// How the signature is made.
    scheme: &'static str,
    /// How far `t` may be from the host's clock, seconds.
    window_seconds: i64,
}

/// Answer of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Delivered {
    /// The event id the app sees.
    id: i64,
}

/// `/hooks/{app}/{name}` (any method).
///
/// # Errors
///
/// See [`deliver`].
#[utoipa::path(
    post,
    path = "/hooks/{app}/{name}",
    tag = "webhooks",
    summary = "A signed inbound webhook for an app (any method; `Miniapp-Signature` signs it)",
    params(
        ("app" = String, Path, description = "The app's id"),
        ("name" = String, Path, description = "The webhook's name in the app's manifest"),
        ("Miniapp-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 over \"<t>.<raw body>\">`"),
    ),
    request_body(content = Vec<u8>, description = "Any body, at most 256 KiB", content_type = "application/octet-stream"),
    responses(
        (status = 202, description = "Queued as a `webhook` event", body = Delivered),
        (status = 401, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
        (status = 413, response = ErrorBody),
        (status = 422, response = ErrorBody),
        (status = 429, response = ErrorBody),
    )
)]
pub(super) async fn receive(
    State(state): State<AppState>,
    Path((app, name)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Delivered>)> {
    deliver(&state, app, name, method, &uri, headers, body).await
}

/// `/hooks/{app}/{name}/{*rest}` (any method).
///
/// # Errors
///
/// See [`deliver`].
#[utoipa::path(
    post,
    path = "/hooks/{app}/{name}/{rest}",
    tag = "webhooks",
    summary = "A signed inbound webhook with a path of its own (any method), passed to the app",
    params(
        ("app" = String, Path, description = "The app's id"),
        ("name" = String, Path, description = "The webhook's name in the app's manifest"),
        ("rest" = String, Path, description = "The rest of the path; may hold slashes"),
        ("Miniapp-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 over \"<t>.<raw body>\">`"),
    ),
    request_body(content = Vec<u8>, description = "Any body, at most 256 KiB", content_type = "application/octet-stream"),
    responses(
        (status = 202, description = "Queued as a `webhook` event", body = Delivered),
        (status = 401, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
        (status = 413, response = ErrorBody),
        (status = 422, response = ErrorBody),
        (status = 429, response = ErrorBody),
    )
)]
pub(super) async fn receive_path(
    State(state): State<AppState>,
    Path((app, name, _rest)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Delivered>)> {
    deliver(&state, app, name, method, &uri, headers, body).await
}

/// Queues the delivery: 202 `{id}` (the event id the app sees).
///
/// # Errors
///
/// 404 no such webhook (or the app may not receive it now); 401 a missing,
/// malformed, stale or wrong signature, or no secret yet; 409 a replay;
/// 413 a body over 256 KiB; 422 a path too long; 429 a full backlog.
async fn deliver(
    state: &AppState,
    app: String,
    name: String,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Delivered>)> {
    let prefix = format!("/hooks/{app}/{name}");
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_default()
        .strip_prefix(&prefix)
        .unwrap_or_default()
        .to_string();
    let signature_header = headers
        .get(signature::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let headers = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let delivery = Delivery {
        app,
        name,
        method: method.as_str().to_string(),
        path,
        headers,
        body: body.to_vec(),
    };
    let id = state
        .webhooks
        .receive(delivery, signature_header.as_deref())
        .await
        .map_err(refusal)?;
    Ok((StatusCode::ACCEPTED, Json(Delivered { id })))
}

fn refusal(e: WebhookError) -> ApiError {
    match e {
        WebhookError::NotFound(m) => ApiError::not_found(m),
        WebhookError::Signature(_) | WebhookError::NoSecret => {
            ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", e.to_string())
        }
        WebhookError::Replayed => ApiError::conflict(e.to_string()),
        WebhookError::Invalid(m) => ApiError::unprocessable("invalid", m),
        WebhookError::Full(_) => ApiError::rate_limited(e.to_string(), std::time::Duration::from_secs(5)),
        WebhookError::Store(e) => e.into(),
    }
}
