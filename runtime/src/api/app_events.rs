//! `GET /v1/apps/{app}/events?status=` and `POST
//! /v1/apps/{app}/events/{id}/retry`: the app's queued, running, done and
//! dead events (the job queue, [`crate::store::jobs`]) for its owner and
//! the operator, and sending a dead one through again.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::extract::ApiQuery;
use super::{ApiError, ApiResult, AppState};
use crate::store::status::JobStatus;

/// Statuses a job can have.
const STATUSES: [&str; 4] = ["queued", "running", "done", "dead"];

/// Query of the list.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
    limit: Option<u32>,
}

/// `GET /v1/apps/{app}/events`: newest first, at most `limit` (1 to 500,
/// default 100), optionally only those with `status`.
///
/// # Errors
///
/// 400 for an unknown status, 403 for someone else's app, 404 for no app.
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let status =
        match query.status.as_deref() {
            None => None,
            Some(s) => Some(JobStatus::parse(s).map_err(|_| {
                ApiError::bad_request(format!("status must be one of {}, not {s:?}", STATUSES.join(", ")))
            })?),
        };
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    let events = state.registry.events(&app, caller.actor(), status, limit).await?;
    Ok(Json(json!({ "events": events })))
}

/// `POST /v1/apps/{app}/events/{id}/retry`: queues a dead event again,
/// with its attempts reset.
///
/// # Errors
///
/// 404 unless the app has a dead event with that id.
pub(super) async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id: Option<i64> = id.parse().ok();
    if !state.registry.retry_event(&app, caller.actor(), id).await? {
        return Err(ApiError::not_found("no dead event with that id"));
    }
    state.chat.queue().wake();
    Ok(Json(json!({ "id": id, "status": "queued" })))
}
