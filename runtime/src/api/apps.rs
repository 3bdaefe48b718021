//! `POST|GET /v1/apps`, `GET /v1/apps/{app}`, `GET /v1/apps/{app}/logs`.

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::auth::{AccountCaller, Caller};
use super::{ApiError, ApiResult, AppState};
use crate::store::apps::Version;
use crate::store::status::AppStatus;

/// Publishes a new version: multipart with a `manifest` (TOML text) and a
/// `component` (wasm bytes) part.
pub(super) async fn publish(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut multipart = multipart.map_err(|e| ApiError::bad_request(format!("expected multipart/form-data: {e}")))?;
    let limit = super::body_limit::upload_limit(&state.limits);
    let multipart_error = |e| multipart_error(e, limit);
    let mut manifest: Option<String> = None;
    let mut component: Option<Vec<u8>> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e)),
        };
        match field.name() {
            Some("manifest") => {
                let text = field.text().await.map_err(multipart_error)?;
                manifest = Some(text);
            }
            Some("component") => {
                let bytes = field.bytes().await.map_err(multipart_error)?;
                component = Some(bytes.to_vec());
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unexpected part {other:?}; send `manifest` and `component`"
                )));
            }
        }
    }
    let manifest = manifest.ok_or_else(|| ApiError::bad_request("missing `manifest` part"))?;
    let component = component.ok_or_else(|| ApiError::bad_request("missing `component` part"))?;
    let published = state.registry.publish(&me.id, &manifest, component).await?;
    Ok((StatusCode::CREATED, Json(json!(published))))
}

fn multipart_error(e: axum::extract::multipart::MultipartError, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(super::body_limit::exceeded(
            None,
            limit,
            super::body_limit::UPLOAD_SETTING,
        ))
    } else {
        ApiError::bad_request(format!("malformed multipart body: {}", e.body_text()))
    }
}

/// Approved apps users can add to chats.
pub(super) async fn catalogue(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<Value>> {
    let list: Vec<Value> = state
        .registry
        .catalogue()
        .await?
        .into_iter()
        .map(|(a, kind)| {
            json!({
                "id": a.id, "name": a.name, "version": a.active_version,
                "web": kind.is_some_and(|k| k.is_web()), "kind": kind.map_or("", |k| k.as_str()),
            })
        })
        .collect();
    Ok(Json(json!({ "apps": list })))
}

/// An app. Its developer and the operator see everything: owner, balance,
/// every version with requests, grants, limits, imports and review outcome.
/// Anyone else sees the public catalogue entry only: name, kind,
/// description, the running version and what it was granted.
pub(super) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    let found = state.registry.app(&app).await?;
    let owner_view = match &caller {
        Caller::Operator => true,
        Caller::Account(me) => me.id == found.owner_id,
    };
    let all = state.registry.versions(&app).await?;
    let running = all
        .iter()
        .find(|v| found.active_version.as_deref() == Some(v.version.as_str()));
    let requested = |v: &Version| -> Vec<Value> {
        v.requested
            .iter()
            .map(|(n, r)| json!({"name": n, "reason": r}))
            .collect()
    };
    if !owner_view {
        let Some(v) = running.filter(|_| found.status == AppStatus::Active) else {
            return Err(ApiError::not_found(format!("no app with id {app:?}")));
        };
        return Ok(Json(json!({
            "id": found.id,
            "name": found.name,
            "status": found.status,
            "active_version": v.version,
            "kind": v.kind,
            "web": crate::registry::entry_points(v.kind).web,
            "description": v.description,
            "grants": v.grants,
            "requested": requested(v),
        })));
    }
    let versions: Vec<Value> = all
        .iter()
        .map(|v| {
            json!({
                "version": v.version,
                "kind": v.kind,
                "description": v.description,
                "status": v.status,
                "compile_status": v.compile_status,
                "requested": requested(v),
                "grants": v.grants,
                "limits": v.limits,
                "imports": v.imports,
                "sha256": v.component_sha256,
                "reason": v.reason,
                "uploaded_at": v.created_at,
                "reviewed_at": v.reviewed_at,
            })
        })
        .collect();
    let grants = running.map(|v| json!(v.grants)).unwrap_or(Value::Null);
    // The merchant account belongs to the developer: only they (and the
    // operator) see its balance.
    let balance = state.registry.balance(&found.id, caller.actor()).await?;
    Ok(Json(json!({
        "id": found.id,
        "name": found.name,
        "owner": found.owner_id,
        "balance": balance,
        "status": found.status,
        "active_version": found.active_version,
        "grants": grants,
        "versions": versions,
    })))
}

/// The app's log (its owner or the operator).
pub(super) async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    let lines = state.registry.logs(&app, caller.actor(), 500).await?;
    Ok(Json(json!({ "logs": lines })))
}
