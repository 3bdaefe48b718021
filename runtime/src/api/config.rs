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
use crate::store::{apps, config as app_config};

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

async fn owned_app(state: &AppState, caller: &Caller, app: &str) -> ApiResult<()> {
    let found = apps::get(&state.db, app)
        .await?
        .ok_or_else(|| ApiError::not_found("no such app"))?;
    match caller {
        Caller::Operator => Ok(()),
        Caller::Account(me) if me.id == found.owner_id => Ok(()),
        Caller::Account(_) => Err(ApiError::forbidden("only the app's owner may manage its config")),
    }
}

/// Sets one key.
pub(super) async fn set(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((app, key)): Path<(String, String)>,
    ApiJson(body): ApiJson<Setting>,
) -> ApiResult<Json<Value>> {
    owned_app(&state, &Caller::Account(me), &app).await?;
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
    app_config::set(&state.db, &app, &key, &body.value, body.secret).await?;
    Ok(Json(json!({ "key": key, "secret": body.secret })))
}

/// Removes one key.
pub(super) async fn delete(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((app, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    owned_app(&state, &Caller::Account(me), &app).await?;
    if !app_config::delete(&state.db, &app, &key).await? {
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
    owned_app(&state, &caller, &app).await?;
    let entries: Vec<Value> = app_config::all(&state.db, &app)
        .await?
        .into_iter()
        .map(|e| json!({ "key": e.key, "secret": e.secret, "value": if e.secret { Value::Null } else { Value::String(e.value) } }))
        .collect();
    Ok(Json(json!({ "config": entries })))
}
