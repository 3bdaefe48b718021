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
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::SessionCaller;
use super::{ApiError, ApiResult, AppState};
use crate::accounts::Session;

/// Longest session label, in bytes.
const MAX_LABEL_BYTES: usize = 100;

/// A session as its owner sees it; `current` marks the request's own.
fn view(session: &Session, current: &str) -> Value {
    json!({
        "id": session.id,
        "label": session.label,
        "created_at": session.created_at,
        "last_used_at": session.last_used_at,
        "expires_at": session.expires_at,
        "current": session.id == current,
    })
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
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSession {
    /// What to call the new device.
    #[serde(default)]
    label: Option<String>,
}

/// Signs in another device: a new session (and token, shown once) for the
/// caller's account. The caller's own session stays as it is.
pub(super) async fn create(
    State(state): State<AppState>,
    me: SessionCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let asked: NewSession = if body.iter().all(u8::is_ascii_whitespace) {
        NewSession::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::unprocessable("invalid_body", format!("invalid body: {e}")))?
    };
    let label = label(asked.label.as_deref(), &headers)?;
    let (session, token) = state.accounts.sign_in(&me.account.id, &label).await?;
    let mut answer = view(&session, &me.session.id);
    answer["token"] = json!(token);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The caller's live sessions, newest first.
pub(super) async fn list(State(state): State<AppState>, me: SessionCaller) -> ApiResult<Json<Value>> {
    let sessions = state.accounts.live_sessions(&me.account.id).await?;
    Ok(Json(json!({
        "sessions": sessions.iter().map(|s| view(s, &me.session.id)).collect::<Vec<_>>()
    })))
}

/// Signs out one of the caller's sessions (any device, this one included).
pub(super) async fn delete(
    State(state): State<AppState>,
    me: SessionCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.accounts.sign_out(&me.account.id, &id).await?;
    Ok(Json(json!({ "id": id, "signed_out": true })))
}

/// Signs out the request's own session.
pub(super) async fn sign_out(State(state): State<AppState>, me: SessionCaller) -> ApiResult<Json<Value>> {
    state.accounts.sign_out(&me.account.id, &me.session.id).await?;
    Ok(Json(json!({ "id": me.session.id, "signed_out": true })))
}
