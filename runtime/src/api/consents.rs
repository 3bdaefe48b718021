//! `PUT|GET|DELETE /v1/apps/{app}/consents` — the caller's consents to an app.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AccountCaller;
use super::extract::ApiJson;
use super::{ApiError, ApiResult, AppState};
use crate::capabilities::identity::CONSENT_SCOPES;
use crate::store::{apps, consents};

/// Body of `PUT …/consents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Scopes {
    scopes: Vec<String>,
}

async fn require_app(state: &AppState, app: &str) -> ApiResult<()> {
    match apps::get(&state.db, app).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("no such app")),
    }
}

/// Grants `scopes` (added to earlier consents); answers with all of them.
pub(super) async fn grant(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<Scopes>,
) -> ApiResult<Json<Value>> {
    require_app(&state, &app).await?;
    if let Some(bad) = body.scopes.iter().find(|s| !CONSENT_SCOPES.contains(&s.as_str())) {
        return Err(ApiError::unprocessable(
            "invalid_body",
            format!("unknown scope {bad:?}; scopes are {CONSENT_SCOPES:?}"),
        ));
    }
    consents::grant(&state.db, &me.id, &app, &body.scopes).await?;
    Ok(Json(
        json!({ "app": app, "scopes": consents::list(&state.db, &me.id, &app).await? }),
    ))
}

/// The caller's consents to the app.
pub(super) async fn list(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    require_app(&state, &app).await?;
    Ok(Json(
        json!({ "app": app, "scopes": consents::list(&state.db, &me.id, &app).await? }),
    ))
}

/// Revokes every consent the caller gave the app.
pub(super) async fn revoke(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    require_app(&state, &app).await?;
    consents::revoke_all(&state.db, &me.id, &app).await?;
    Ok(Json(json!({ "app": app, "scopes": [] })))
}
