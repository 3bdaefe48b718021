//! `POST|GET /v1/chats/{chat}/messages`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AccountCaller;
use super::extract::{ApiJson, ApiQuery};
use super::{ApiError, ApiResult, AppState};

/// Body of `POST …/messages`.
#[derive(Debug, Deserialize)]
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
pub(super) async fn post(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(chat): Path<String>,
    ApiJson(body): ApiJson<NewMessage>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.rate.post(&me.id)?;
    let message = state.chat.post(&chat, &me.id, &body.text, &body.files).await?;
    Ok((StatusCode::CREATED, Json(json!(message))))
}

/// Query of `GET …/messages`.
#[derive(Debug, Deserialize)]
pub(super) struct Page {
    after: Option<String>,
    limit: Option<u32>,
}

/// Messages, oldest first: after `after`, or the newest `limit`.
pub(super) async fn list(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(chat): Path<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Json<Value>> {
    let limit = page.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 500"));
    }
    let after = page.after.as_deref().filter(|a| !a.is_empty());
    let messages = state.chat.list(&chat, &me.id, after, limit).await?;
    Ok(Json(json!({ "messages": messages })))
}

/// Deletes one of the caller's own messages (and its files).
pub(super) async fn delete(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((chat, message)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.chat.delete_message(&chat, &me.id, &message).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Presses inline button `n` (0-based, reading order) of a bot message.
pub(super) async fn press(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((chat, message, n)): Path<(String, String, usize)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // The payments service decides which presses pay an invoice (and checks
    // membership for those); the chat service takes the others.
    if let Some(paid) = state.payments.press(&chat, &me.id, &message, n).await? {
        return Ok((
            StatusCode::OK,
            Json(json!({ "pressed": n, "message": message, "invoice": paid })),
        ));
    }
    state.rate.post(&me.id)?;
    let app = state.chat.press(&chat, &me.id, &message, n).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "pressed": n, "message": message, "app": app })),
    ))
}
