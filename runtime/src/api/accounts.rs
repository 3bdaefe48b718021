//! `POST /v1/accounts`, `GET /v1/me`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Caller, hash_token, new_token};
use super::extract::ApiJson;
use super::rate_limit::ClientAddr;
use super::{ApiError, ApiResult, AppState};
use crate::store::{accounts, now_ms};

/// Body of `POST /v1/accounts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewAccount {
    name: String,
    #[serde(default)]
    phone: Option<String>,
}

/// Creates an account; the token in the answer, shown only once, is its
/// first session's (see `sessions`).
pub(super) async fn create(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewAccount>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.rate.signup(client)?;
    let name = body.name.trim();
    if name.len() > 100 {
        return Err(ApiError::unprocessable("invalid_body", "name must be 1 to 100 bytes"));
    }
    crate::text::check_line("name", name).map_err(|e| ApiError::unprocessable("invalid_body", e.to_string()))?;
    if let Some(phone) = &body.phone {
        let digits = phone.strip_prefix('+').unwrap_or(phone);
        if digits.len() < 5 || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::unprocessable(
                "invalid_body",
                "phone must be 5 to 20 digits, optionally after '+'",
            ));
        }
    }
    let label = super::sessions::label(None, &headers)?;
    let token = new_token();
    let (account, _) = accounts::create_with_session(
        &state.db,
        name,
        body.phone.as_deref(),
        &hash_token(&token),
        &label,
        now_ms(),
        state.sessions,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": account.id, "name": account.name, "token": token })),
    ))
}

/// Who the caller is.
pub(super) async fn me(caller: Caller) -> Json<Value> {
    match caller {
        Caller::Operator => Json(json!({ "role": "operator" })),
        Caller::Account(a) => Json(json!({
            "id": a.id, "name": a.name, "phone": a.phone, "created_at": a.created_at, "role": "user"
        })),
    }
}
