//! `GET /v1/review`, `POST /v1/review/{app}/{version}`, `GET /v1/audit` — operator only.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::OperatorCaller;
use super::extract::{ApiJson, ApiQuery};
use super::{ApiResult, AppState};
use crate::registry::Decision;

/// Pending versions, oldest first.
pub(super) async fn pending(State(state): State<AppState>, _op: OperatorCaller) -> ApiResult<Json<Value>> {
    Ok(Json(json!(state.registry.pending().await?)))
}

/// Approve (optionally with a subset of grants) or reject with a reason.
pub(super) async fn decide(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path((app, version)): Path<(String, String)>,
    ApiJson(decision): ApiJson<Decision>,
) -> ApiResult<Json<Value>> {
    let v = state.registry.decide(&app, &version, &decision).await?;
    Ok(Json(json!({
        "app": v.app_id,
        "version": v.version,
        "status": v.status,
        "grants": v.grants,
        "limits": v.limits,
        "reason": v.reason,
    })))
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Deserialize)]
pub(super) struct AuditQuery {
    app: Option<String>,
    limit: Option<u32>,
}

/// The audit log, optionally for one app.
pub(super) async fn audit(
    State(state): State<AppState>,
    _op: OperatorCaller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(200).clamp(1, 1_000);
    let entries = state.registry.audit(q.app.as_deref(), limit).await?;
    Ok(Json(json!({ "entries": entries })))
}

/// Body of the rollback route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Rollback {
    version: String,
}

/// Suspends an app at once.
pub(super) async fn suspend(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(state.registry.suspend(&app).await?)))
}

/// Replaces the running version's limit overrides, live (`PUT`).
pub(super) async fn set_limits(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(app): Path<String>,
    ApiJson(limits): ApiJson<crate::config::LimitOverrides>,
) -> ApiResult<Json<Value>> {
    let (version, before) = state.registry.set_limits(&app, &limits).await?;
    Ok(Json(
        json!({ "app": app, "version": version, "limits": limits, "before": before }),
    ))
}

/// Lets a suspended app run again.
pub(super) async fn resume(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(state.registry.resume(&app).await?)))
}

/// Makes an earlier approved version the running one.
pub(super) async fn rollback(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<Rollback>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(state.registry.rollback(&app, &body.version).await?)))
}
