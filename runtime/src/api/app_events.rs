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
use crate::store::{apps, jobs};

/// Statuses a job can have.
const STATUSES: [&str; 4] = ["queued", "running", "done", "dead"];

/// Query of the list.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
    limit: Option<u32>,
}

/// Fails unless the caller is the app's owner or the operator.
async fn require_owner(state: &AppState, caller: &Caller, app: &str) -> ApiResult<()> {
    let found = apps::get(&state.db, app)
        .await?
        .ok_or_else(|| ApiError::not_found("no such app"))?;
    if let Caller::Account(me) = caller
        && me.id != found.owner_id
    {
        return Err(ApiError::forbidden("only the app's owner may see its events"));
    }
    Ok(())
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
    require_owner(&state, &caller, &app).await?;
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    let events = jobs::list(&state.db, &app, status, limit).await?;
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
    require_owner(&state, &caller, &app).await?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found("no dead event with that id"))?;
    if !jobs::retry(&state.db, &app, id).await? {
        return Err(ApiError::not_found("no dead event with that id"));
    }
    state.chat.queue().wake();
    Ok(Json(json!({ "id": id, "status": "queued" })))
}
