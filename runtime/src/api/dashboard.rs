//! `GET /v1/admin/health`: the operator dashboard's per-app health over
//! the last hour (see [`crate::health`]).

use axum::Json;
use axum::extract::State;

use super::auth::OperatorCaller;
use super::error::ErrorBody;
use super::{ApiResult, AppState};
use crate::health::HealthReport;

/// Every app's invocations, errors, p99 latency and queue depth per minute
/// over the last hour, and the queue's depth by job kind (operator only).
#[utoipa::path(
    get,
    path = "/v1/admin/health",
    tag = "admin",
    summary = "Per-app health and queue depth, minute by minute, over the last hour",
    security(("operator" = [])),
    responses(
        (status = 200, description = "The last hour, minute by minute", body = HealthReport),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
pub(super) async fn health(State(state): State<AppState>, _op: OperatorCaller) -> ApiResult<Json<HealthReport>> {
    Ok(Json(state.health.report().await?))
}
