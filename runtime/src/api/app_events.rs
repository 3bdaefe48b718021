//! `GET /v1/apps/{app}/events?status=` and `POST
//! /v1/apps/{app}/events/{id}/retry`: the app's queued, running, done and
//! dead events (the job queue, [`crate::store::jobs`]) for its owner and
//! the operator, and sending a dead one through again.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::ErrorBody;
use super::extract::ApiQuery;
use super::{ApiError, ApiResult, AppState};
use crate::store::jobs::JobView;
use crate::store::status::JobStatus;

/// Statuses a job can have.
const STATUSES: [&str; 4] = ["queued", "running", "done", "dead"];

/// Query of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only events with this status: `queued`, `running`, `done` or `dead`.
    status: Option<String>,
    /// How many, 1 to 500 (default 100).
    limit: Option<u32>,
}

/// Answer of the list.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Events {
    /// Newest first.
    events: Vec<JobView>,
}

/// Answer of a retry.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Retried {
    /// The event's id.
    id: Option<i64>,
    /// Always `queued`.
    status: &'static str,
}

/// `GET /v1/apps/{app}/events`: newest first, at most `limit` (1 to 500,
/// default 100), optionally only those with `status`.
///
/// # Errors
///
/// 400 for an unknown status, 403 for someone else's app, 404 for no app.
#[utoipa::path(
    get,
    path = "/v1/apps/{app}/events",
    tag = "apps",
    summary = "The app's events, newest first (its developer or the operator)",
    security(("account" = []), ("operator" = [])),
    params(("app" = String, Path, description = "The app's id, or its name"), ListQuery),
    responses(
        (status = 200, description = "Events", body = Events),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Events>> {
    let status =
        match query.status.as_deref() {
            None => None,
            Some(s) => Some(JobStatus::parse(s).map_err(|_| {
                ApiError::bad_request(format!("status must be one of {}, not {s:?}", STATUSES.join(", ")))
            })?),
        };
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    let app = state.registry.resolve_app(&app).await?;
    let events = state.registry.events(&app, caller.actor(), status, limit).await?;
    Ok(Json(Events { events }))
}

/// `POST /v1/apps/{app}/events/{id}/retry`: queues a dead event again,
/// with its attempts reset.
///
/// # Errors
///
/// 404 unless the app has a dead event with that id.
#[utoipa::path(
    post,
    path = "/v1/apps/{app}/events/{id}/retry",
    tag = "apps",
    summary = "Queue a dead event again (its developer or the operator)",
    security(("account" = []), ("operator" = [])),
    params(
        ("app" = String, Path, description = "The app's id, or its name"),
        ("id" = i64, Path, description = "The event's id"),
    ),
    responses(
        (status = 200, description = "Queued again", body = Retried),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, id)): Path<(String, String)>,
) -> ApiResult<Json<Retried>> {
    let id: Option<i64> = id.parse().ok();
    let app = state.registry.resolve_app(&app).await?;
    if !state.registry.retry_event(&app, caller.actor(), id).await? {
        return Err(ApiError::not_found("no dead event with that id"));
    }
    state.chat.queue().wake();
    Ok(Json(Retried { id, status: "queued" }))
}
