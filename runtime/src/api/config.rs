//! `GET /v1/apps/{app}/config`, `PUT|DELETE /v1/apps/{app}/config/{key}` —
//! the app owner's settings and secrets. Secrets are write-only: no route
//! ever returns their value.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{AccountCaller, Caller};
use super::error::ErrorBody;
use super::extract::ApiJson;
use super::{ApiError, ApiResult, AppState};

/// Longest key, in bytes.
const MAX_KEY: usize = 256;
/// Longest value, in bytes.
const MAX_VALUE: usize = 16 << 10;

/// Body of `PUT …/config/{key}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Setting {
    /// The value, at most 16 KiB, without NUL.
    value: String,
    /// A secret is stored encrypted and never shown again.
    #[serde(default)]
    secret: bool,
}

/// Answer of setting a key.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SettingSet {
    /// The key.
    key: String,
    /// Whether it is a secret.
    secret: bool,
}

/// Answer of removing a key.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SettingDeleted {
    /// The key.
    key: String,
    /// Always true.
    deleted: bool,
}

/// One key of an app's config.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SettingView {
    /// The key.
    key: String,
    /// Whether it is a secret.
    secret: bool,
    /// The value; null for a secret.
    value: Option<String>,
}

/// Answer of `GET …/config`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ConfigList {
    /// Every key.
    config: Vec<SettingView>,
}

/// Sets one key.
#[utoipa::path(
    put,
    path = "/v1/apps/{app}/config/{key}",
    tag = "config",
    summary = "Set one config key (the app's developer)",
    security(("account" = [])),
    params(
        ("app" = String, Path, description = "The app's id or name"),
        ("key" = String, Path, description = "The key, 1 to 256 bytes"),
    ),
    request_body = Setting,
    responses(
        (status = 200, description = "Set", body = SettingSet),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn set(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((app, key)): Path<(String, String)>,
    ApiJson(body): ApiJson<Setting>,
) -> ApiResult<Json<SettingSet>> {
    let app = state.registry.resolve_app(&app).await?;
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
    Ok(Json(SettingSet {
        key,
        secret: body.secret,
    }))
}

/// Removes one key.
#[utoipa::path(
    delete,
    path = "/v1/apps/{app}/config/{key}",
    tag = "config",
    summary = "Remove one config key (the app's developer)",
    security(("account" = [])),
    params(
        ("app" = String, Path, description = "The app's id or name"),
        ("key" = String, Path, description = "The key"),
    ),
    responses(
        (status = 200, description = "Removed", body = SettingDeleted),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((app, key)): Path<(String, String)>,
) -> ApiResult<Json<SettingDeleted>> {
    let app = state.registry.resolve_app(&app).await?;
    let me = Caller::Account(me);
    if !state.registry.delete_config(&app, me.actor(), &key).await? {
        return Err(ApiError::not_found("no such key"));
    }
    Ok(Json(SettingDeleted { key, deleted: true }))
}

/// Lists keys; secret values are never shown.
#[utoipa::path(
    get,
    path = "/v1/apps/{app}/config",
    tag = "config",
    summary = "List config keys; secret values are never shown",
    security(("account" = []), ("operator" = [])),
    params(("app" = String, Path, description = "The app's id or name")),
    responses(
        (status = 200, description = "Keys", body = ConfigList),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
) -> ApiResult<Json<ConfigList>> {
    let app = state.registry.resolve_app(&app).await?;
    let config = state
        .registry
        .config(&app, caller.actor())
        .await?
        .into_iter()
        .map(|e| SettingView {
            key: e.key,
            secret: e.secret,
            value: (!e.secret).then_some(e.value),
        })
        .collect();
    Ok(Json(ConfigList { config }))
}
