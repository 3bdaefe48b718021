//! `POST /v1/accounts`, `GET /v1/me`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::extract::ApiJson;
use super::rate_limit::ClientAddr;
use super::{ApiResult, AppState};

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
    let label = super::sessions::label(None, &headers)?;
    let (account, token) = state.accounts.create(&body.name, body.phone.as_deref(), &label).await?;
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
