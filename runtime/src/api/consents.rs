//! `PUT|GET|DELETE /v1/apps/{app}/consents` — the caller's consents to an app.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AccountCaller;
use super::extract::ApiJson;
use super::{ApiResult, AppState};

/// Body of `PUT …/consents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Scopes {
    scopes: Vec<String>,
}

/// Grants `scopes` (added to earlier consents); answers with all of them.
pub(super) async fn grant(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<Scopes>,
) -> ApiResult<Json<Value>> {
    let scopes = state.accounts.grant_consents(&me.id, &app, &body.scopes).await?;
    Ok(Json(json!({ "app": app, "scopes": scopes })))
}

/// The caller's consents to the app.
pub(super) async fn list(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    let scopes = state.accounts.consents(&me.id, &app).await?;
    Ok(Json(json!({ "app": app, "scopes": scopes })))
}

/// Revokes every consent the caller gave the app.
pub(super) async fn revoke(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    state.accounts.revoke_consents(&me.id, &app).await?;
    Ok(Json(json!({ "app": app, "scopes": [] })))
}
