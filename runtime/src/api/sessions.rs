//! `POST /v1/sessions` (sign in on another device), `GET /v1/sessions`
//! (the caller's live sessions), `DELETE /v1/sessions/{id}` and
//! `POST /v1/sessions/sign-out` (the current one).
//!
//! There are no passwords: a token is the credential, and a session is one
//! signed-in device. A device that is signed in lets another one in (as a
//! messenger's "link a device" does), then either can be signed out from
//! any other. A session expires after going unused for the host's session
//! time-to-live (`--session-ttl-days`); each use pushes its expiry forward.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::SessionCaller;
use super::error::ErrorBody;
use super::{ApiError, ApiResult, AppState};
use crate::accounts::Session;

/// Longest session label, in bytes.
const MAX_LABEL_BYTES: usize = 100;

/// A session as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SessionView {
    /// Its id.
    id: String,
    /// The device's name: asked for, or the client's User-Agent.
    label: String,
    /// Sign-in time, unix ms.
    created_at: i64,
    /// Last request, unix ms.
    last_used_at: i64,
    /// When it ends unless used, unix ms.
    expires_at: i64,
    /// Whether it is the request's own session.
    current: bool,
}

/// A session as its owner sees it; `current` marks the request's own.
fn view(session: &Session, current: &str) -> SessionView {
    SessionView {
        id: session.id.clone(),
        label: session.label.clone(),
        created_at: session.created_at,
        last_used_at: session.last_used_at,
        expires_at: session.expires_at,
        current: session.id == current,
    }
}

/// Answer of `POST /v1/sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct NewSessionView {
    #[serde(flatten)]
    session: SessionView,
    /// The new session's bearer token; shown only this once.
    token: String,
}

/// Answer of `GET /v1/sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Sessions {
    /// Live sessions, newest first.
    sessions: Vec<SessionView>,
}

/// Answer of signing a session out.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SignedOut {
    /// The session's id.
    id: String,
    /// Always true.
    signed_out: bool,
}

/// The label a new session gets: the one asked for (checked), else the
/// client's User-Agent (cut to [`MAX_LABEL_BYTES`], dropped if unfit).
pub(super) fn label(asked: Option<&str>, headers: &HeaderMap) -> ApiResult<String> {
    if let Some(asked) = asked {
        let asked = asked.trim();
        if asked.len() > MAX_LABEL_BYTES {
            return Err(ApiError::unprocessable(
                "invalid_body",
                format!("label must be at most {MAX_LABEL_BYTES} bytes"),
            ));
        }
        crate::text::check_line("label", asked).map_err(|e| ApiError::unprocessable("invalid_body", e.to_string()))?;
        return Ok(asked.to_string());
    }
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim();
    let agent = &agent[..agent.floor_char_boundary(MAX_LABEL_BYTES)];
    Ok(if crate::text::check_line("label", agent).is_ok() {
        agent.to_string()
    } else {
        "unnamed device".to_string()
    })
}

/// Body of `POST /v1/sessions` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSession {
    /// What to call the new device.
    #[serde(default)]
    label: Option<String>,
}

/// Signs in another device: a new session (and token, shown once) for the
/// caller's account. The caller's own session stays as it is.
#[utoipa::path(
    post,
    path = "/v1/sessions",
    tag = "accounts",
    summary = "Sign in another device: a new session and its token",
    security(("account" = [])),
    request_body(content = Option<NewSession>, description = "Optional"),
    responses(
        (status = 201, description = "The new session, with its token shown only now", body = NewSessionView),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    me: SessionCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<NewSessionView>)> {
    let asked: NewSession = if body.iter().all(u8::is_ascii_whitespace) {
        NewSession::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::unprocessable("invalid_body", format!("invalid body: {e}")))?
    };
    let label = label(asked.label.as_deref(), &headers)?;
    let (session, token) = state.accounts.sign_in(&me.account.id, &label).await?;
    let answer = NewSessionView {
        session: view(&session, &me.session.id),
        token,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The caller's live sessions, newest first.
#[utoipa::path(
    get,
    path = "/v1/sessions",
    tag = "accounts",
    summary = "The caller's live sessions, newest first",
    security(("account" = [])),
    responses(
        (status = 200, description = "Sessions", body = Sessions),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
pub(super) async fn list(State(state): State<AppState>, me: SessionCaller) -> ApiResult<Json<Sessions>> {
    let sessions = state.accounts.live_sessions(&me.account.id).await?;
    Ok(Json(Sessions {
        sessions: sessions.iter().map(|s| view(s, &me.session.id)).collect(),
    }))
}

/// Signs out one of the caller's sessions (any device, this one included).
#[utoipa::path(
    delete,
    path = "/v1/sessions/{id}",
    tag = "accounts",
    summary = "Sign out one of the caller's sessions",
    security(("account" = [])),
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 200, description = "Signed out", body = SignedOut),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    me: SessionCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<SignedOut>> {
    state.accounts.sign_out(&me.account.id, &id).await?;
    Ok(Json(SignedOut { id, signed_out: true }))
}

/// Signs out the request's own session.
#[utoipa::path(
    post,
    path = "/v1/sessions/sign-out",
    tag = "accounts",
    summary = "Sign out the request's own session",
    security(("account" = [])),
    responses(
        (status = 200, description = "Signed out", body = SignedOut),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
pub(super) async fn sign_out(State(state): State<AppState>, me: SessionCaller) -> ApiResult<Json<SignedOut>> {
    state.accounts.sign_out(&me.account.id, &me.session.id).await?;
    Ok(Json(SignedOut {
        id: me.session.id,
        signed_out: true,
    }))
}
