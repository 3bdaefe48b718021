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
    /// How many, 1 to 500 (default 50). Taken as text so a bad one is
    /// answered with a message naming it and its range.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// What `limit` may be, in words.
const LIMIT_RULE: &str = "a whole number from 1 to 500 (default 50)";

impl Page {
    /// `limit`, checked: 400 naming it when it is not [`LIMIT_RULE`].
    fn limit(&self) -> Result<u32, ApiError> {
        let Some(text) = self.limit.as_deref() else {
            return Ok(50);
        };
        text.parse::<u32>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("`limit` must be {LIMIT_RULE}, not {text:?}")))
    }

    /// `after`, checked: message ids are UUIDs, so anything else is a
    /// malformed query (400 naming `after`) rather than a message that is
    /// not there (404, from the chat service, for a well-formed id).
    fn after(&self) -> Result<Option<&str>, ApiError> {
        match self.after.as_deref().filter(|a| !a.is_empty()) {
            Some(after) if uuid::Uuid::try_parse(after).is_err() => Err(ApiError::bad_request(format!(
                "`after` must be the id of a message in this chat (a UUID such as \
                 0190a5c4-6f1e-7c3a-9b2d-3e4f5a6b7c8d), not {after:?}"
            ))),
            after => Ok(after),
        }
    }
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
    let limit = page.limit()?;
    let after = page.after()?;
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
    Path((chat, message, n)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let n = button_index(&n)?;
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

/// The `n` of a press: taken as text so a bad one (`-1`, `first`) is
/// answered with a 400 that names it rather than the router's "cannot parse".
fn button_index(n: &str) -> Result<usize, ApiError> {
    n.parse::<usize>().map_err(|_| {
        ApiError::bad_request(format!(
            "`n` must be a button index: a whole number, 0 or more, counting the message's buttons \
             in reading order (0 is the first), not {n:?}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_indexes_and_pages_are_refused_naming_the_parameter() {
        assert_eq!(button_index("0").ok(), Some(0));
        assert_eq!(button_index("12").ok(), Some(12));
        for bad in ["-1", "first", "", "1.5", "99999999999999999999999"] {
            let e = button_index(bad).expect_err(bad);
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            assert!(
                e.message().contains("`n`") && e.message().contains("0 or more"),
                "{}",
                e.message()
            );
        }
        let page = |after: Option<&str>, limit: Option<&str>| Page {
            after: after.map(str::to_string),
            limit: limit.map(str::to_string),
        };
        assert_eq!(page(None, None).limit().ok(), Some(50));
        assert_eq!(page(None, Some("500")).limit().ok(), Some(500));
        for bad in ["0", "501", "many", "-3"] {
            let e = page(None, Some(bad)).limit().expect_err(bad);
            assert!(
                e.message().contains("`limit`") && e.message().contains("1 to 500"),
                "{}",
                e.message()
            );
        }
        let id = crate::store::new_id();
        assert_eq!(page(Some(&id), None).after().ok(), Some(Some(id.as_str())));
        assert_eq!(page(Some(""), None).after().ok(), Some(None));
        let e = page(Some("garbage"), None).after().expect_err("not an id");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(e.message().contains("`after`"), "{}", e.message());
    }
}
