//! `POST|GET /v1/chats/{chat}/messages`, `DELETE …/messages/{msg}`,
//! `POST …/messages/{msg}/buttons/{n}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::AccountCaller;
use super::error::ErrorBody;
use super::extract::{ApiJson, ApiQuery};
use super::{ApiError, ApiResult, AppState};
use crate::chat::MessageView;
use crate::store::invoices::Invoice;

/// Body of `POST …/messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMessage {
    /// The text; with `files`, an optional caption.
    #[serde(default)]
    text: String,
    /// Ids of files uploaded to this chat with `POST …/files`, at most 10.
    #[serde(default)]
    files: Vec<String>,
}

/// Posts a message; bots get it after the answer, off the request path.
#[utoipa::path(
    post,
    path = "/v1/chats/{chat}/messages",
    tag = "messages",
    summary = "Post a message",
    security(("account" = [])),
    params(("chat" = String, Path, description = "The chat's id")),
    request_body = NewMessage,
    responses(
        (status = 201, description = "The message as members see it", body = MessageView),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
        (status = 429, response = ErrorBody),
    )
)]
pub(super) async fn post(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(chat): Path<String>,
    ApiJson(body): ApiJson<NewMessage>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    state.rate.post(&me.id)?;
    let message = state.chat.post(&chat, &me.id, &body.text, &body.files).await?;
    Ok((StatusCode::CREATED, Json(message)))
}

/// Query of `GET …/messages`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Page {
    /// A message id: only messages after it.
    after: Option<String>,
    /// How many, 1 to 500 (default 50).
    limit: Option<u32>,
}

/// Answer of `GET …/messages`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Messages {
    /// Oldest first.
    messages: Vec<MessageView>,
}

/// Messages, oldest first: after `after`, or the newest `limit`.
#[utoipa::path(
    get,
    path = "/v1/chats/{chat}/messages",
    tag = "messages",
    summary = "Messages, oldest first: after `after`, or the newest `limit`",
    security(("account" = [])),
    params(("chat" = String, Path, description = "The chat's id"), Page),
    responses(
        (status = 200, description = "Messages", body = Messages),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(chat): Path<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Json<Messages>> {
    let limit = page.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 500"));
    }
    let after = page.after.as_deref().filter(|a| !a.is_empty());
    let messages = state.chat.list(&chat, &me.id, after, limit).await?;
    Ok(Json(Messages { messages }))
}

/// Deletes one of the caller's own messages (and its files).
#[utoipa::path(
    delete,
    path = "/v1/chats/{chat}/messages/{msg}",
    tag = "messages",
    summary = "Delete one of the caller's own messages",
    security(("account" = [])),
    params(
        ("chat" = String, Path, description = "The chat's id"),
        ("msg" = String, Path, description = "The message's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((chat, message)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.chat.delete_message(&chat, &me.id, &message).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Answer of a press that paid an invoice (200).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PaidPress {
    /// The button's index.
    pressed: usize,
    /// The message's id.
    message: String,
    /// The invoice, now paid.
    invoice: Invoice,
}

/// Answer of a press handed to the bot (202).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct QueuedPress {
    /// The button's index.
    pressed: usize,
    /// The message's id.
    message: String,
    /// The id of the app that gets the press.
    app: String,
}

/// Presses inline button `n` (0-based, reading order) of a bot message.
#[utoipa::path(
    post,
    path = "/v1/chats/{chat}/messages/{msg}/buttons/{n}",
    tag = "messages",
    summary = "Press an inline button of a bot message",
    security(("account" = [])),
    params(
        ("chat" = String, Path, description = "The chat's id"),
        ("msg" = String, Path, description = "The message's id"),
        ("n" = usize, Path, description = "The button, 0-based in reading order"),
    ),
    responses(
        (status = 200, description = "The button paid an invoice", body = PaidPress),
        (status = 202, description = "The press is queued for the bot", body = QueuedPress),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 402, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
        (status = 429, response = ErrorBody),
    )
)]
pub(super) async fn press(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((chat, message, n)): Path<(String, String, usize)>,
) -> ApiResult<Response> {
    // The payments service decides which presses pay an invoice (and checks
    // membership for those); the chat service takes the others.
    if let Some(paid) = state.payments.press(&chat, &me.id, &message, n).await? {
        let answer = PaidPress {
            pressed: n,
            message,
            invoice: paid,
        };
        return Ok((StatusCode::OK, Json(answer)).into_response());
    }
    state.rate.post(&me.id)?;
    let app = state.chat.press(&chat, &me.id, &message, n).await?;
    let answer = QueuedPress {
        pressed: n,
        message,
        app,
    };
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}
