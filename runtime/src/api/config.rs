//! `GET /v1/apps/{app}/config`, `PUT|DELETE /v1/apps/{app}/config/{key}` —
//! the app owner's settings and secrets. Secrets are write-only: no route
//! ever returns their value.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{AccountCaller, Caller};
use super::extract::ApiJson;
use super::{ApiError, ApiResult, AppState};

/// Longest key, in bytes.
const MAX_KEY: usize = 256;
/// Longest value, in bytes.
const MAX_VALUE: usize = 16 << 10;

/// Body of `PUT …/config/{key}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Setting {
    value: String,
    #[serde(default)]
    secret: bool,
}

/// Sets one key.
pub(super) async fn set(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((app, key)): Path<(String, String)>,
    ApiJson(body): ApiJson<Setting>,
) -> ApiResult<Json<Value>> {
    if key.is_empty() || key.len() > MAX_KEY || key.contains('\0') {
        return Err(ApiError::unprocessable(
            "invalid_body",
            format!("key must be 1 to {MAX_KEY} bytes, without NUL"),
        ));
    }
    if body.value.len() > MAX_VALUE || body.value.contains('\0') {
        return Err(ApiError::unprocessable(
            "invalid_body",
            format!("value must be at most {MAX_VALUE} bytes, without NUL"),
        ));
    }
    let me = Caller::Account(me);
    state
        .registry
        .set_config(&app, me.actor(), &key, &body.value, body.secret)
        .await?;
    Ok(Json(json!({ "key": key, "secret": body.secret })))
}

/// Removes one key.
pub(super) async fn delete(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((app, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let me = Caller::Account(me);
    if !state.registry.delete_config(&app, me.actor(), &key).await? {
        return Err(ApiError::not_found("no such key"));
    }
    Ok(Json(json!({ "key": key, "deleted": true })))
}

/// Lists keys; secret values are never shown.
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    let entries: Vec<Value> = state
        .registry
        .config(&app, caller.actor())
        .await?
        .into_iter()
        .map(|e| json!({ "key": e.key, "secret": e.secret, "value": if e.secret { Value::Null } else { Value::String(e.value) } }))
        .collect();
    Ok(Json(json!({ "config": entries })))
}
