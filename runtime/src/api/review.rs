//! `GET /v1/review`, `POST /v1/review/{app}/{version}`, `GET /v1/audit`,
//! and the app actions (suspend, resume, rollback, limits) — operator only.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::OperatorCaller;
use super::error::ErrorBody;
use super::extract::{ApiJson, ApiQuery};
use super::{ApiError, ApiResult, AppState};
use crate::config::LimitOverrides;
use crate::registry::{Decision, RegistryError, ReviewItem};
use crate::store::apps::App;
use crate::store::audit::AuditEntry;
use crate::store::status::VersionStatus;

/// Pending versions, oldest first.
#[utoipa::path(
    get,
    path = "/v1/review",
    tag = "review",
    summary = "Versions waiting for review, oldest first",
    security(("operator" = [])),
    responses(
        (status = 200, description = "Pending versions", body = Vec<ReviewItem>),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
pub(super) async fn pending(State(state): State<AppState>, _op: OperatorCaller) -> ApiResult<Json<Vec<ReviewItem>>> {
    Ok(Json(state.registry.pending().await?))
}

/// Answer of a review decision.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Decided {
    /// The app's id.
    app: String,
    /// The version decided on.
    version: String,
    /// `approved` or `rejected`.
    status: VersionStatus,
    /// What it was granted (approved).
    grants: Option<BTreeSet<String>>,
    /// Limits that differ from the host's (approved).
    limits: Option<LimitOverrides>,
    /// Why (rejected).
    reason: Option<String>,
}

/// Approve (optionally with a subset of grants) or reject with a reason.
#[utoipa::path(
    post,
    path = "/v1/review/{app}/{version}",
    tag = "review",
    summary = "Approve (with a subset of the grants, and limits) or reject with a reason",
    security(("operator" = [])),
    params(
        ("app" = String, Path, description = "The app's id or name"),
        ("version" = String, Path, description = "The version (semver)"),
    ),
    request_body = Decision,
    responses(
        (status = 200, description = "The decided version", body = Decided),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn decide(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path((app, version)): Path<(String, String)>,
    ApiJson(decision): ApiJson<Decision>,
) -> ApiResult<Json<Decided>> {
    let app = state.registry.app_id(&app).await?;
    let v = state.registry.decide(&app, &version, &decision).await?;
    Ok(Json(Decided {
        app: v.app_id,
        version: v.version,
        status: v.status,
        grants: v.grants,
        limits: v.limits,
        reason: v.reason,
    }))
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// Only this app's entries (its id or name; 404 for an unknown one).
    app: Option<String>,
    /// How many, 1 to 1,000 (default 200).
    limit: Option<u32>,
}

/// Answer of `GET /v1/audit`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Audit {
    /// Newest first.
    entries: Vec<AuditEntry>,
}

/// The audit log, optionally for one app.
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "review",
    summary = "The audit log, optionally for one app",
    security(("operator" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit entries", body = Audit),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn audit(
    State(state): State<AppState>,
    _op: OperatorCaller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Audit>> {
    let limit = q.limit.unwrap_or(200).clamp(1, 1_000);
    // An app by its id or its name; an unknown one is 404, not an empty log.
    let app = match q.app.as_deref() {
        Some(app) => Some(state.registry.app_id(app).await?),
        None => None,
    };
    let entries = state.registry.audit(app.as_deref(), limit).await?;
    Ok(Json(Audit { entries }))
}

/// Body of the rollback route.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Rollback {
    /// An earlier approved version to run.
    version: String,
}

/// Suspends an app at once.
#[utoipa::path(
    post,
    path = "/v1/apps/{app}/suspend",
    tag = "review",
    summary = "Suspend an app at once",
    security(("operator" = [])),
    params(("app" = String, Path, description = "The app's id or name")),
    responses(
        (status = 200, description = "The app, suspended", body = App),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn suspend(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(app): Path<String>,
) -> ApiResult<Json<App>> {
    let app = state.registry.app_id(&app).await?;
    Ok(Json(state.registry.suspend(&app).await?))
}

/// Answer of `PUT /v1/apps/{app}/limits`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LimitsChanged {
    /// The app's id.
    app: String,
    /// The running version.
    version: String,
    /// Its limit overrides now.
    limits: LimitOverrides,
    /// Its limit overrides before.
    before: LimitOverrides,
}

/// Replaces the running version's limit overrides, live (`PUT`).
#[utoipa::path(
    put,
    path = "/v1/apps/{app}/limits",
    tag = "review",
    summary = "Replace the running version's limit overrides, live",
    security(("operator" = [])),
    params(("app" = String, Path, description = "The app's id or name")),
    request_body = LimitOverrides,
    responses(
        (status = 200, description = "The limits before and after", body = LimitsChanged),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn set_limits(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(app): Path<String>,
    ApiJson(limits): ApiJson<LimitOverrides>,
) -> ApiResult<Json<LimitsChanged>> {
    let app = state.registry.app_id(&app).await?;
    let (version, before) = state.registry.set_limits(&app, &limits).await.map_err(limits_error)?;
    Ok(Json(LimitsChanged {
        app,
        version,
        limits,
        before,
    }))
}

/// An error of `PUT …/limits`: a field out of range is `invalid_limits`
/// (no review decision is involved; the registry words it as one).
fn limits_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::InvalidDecision(message) => ApiError::unprocessable("invalid_limits", message),
        other => other.into(),
    }
}

/// Lets a suspended app run again.
#[utoipa::path(
    post,
    path = "/v1/apps/{app}/resume",
    tag = "review",
    summary = "Let a suspended app run again",
    security(("operator" = [])),
    params(("app" = String, Path, description = "The app's id or name")),
    responses(
        (status = 200, description = "The app", body = App),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn resume(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(app): Path<String>,
) -> ApiResult<Json<App>> {
    let app = state.registry.app_id(&app).await?;
    Ok(Json(state.registry.resume(&app).await?))
}

/// Makes an earlier approved version the running one.
#[utoipa::path(
    post,
    path = "/v1/apps/{app}/rollback",
    tag = "review",
    summary = "Make an earlier approved version the running one",
    security(("operator" = [])),
    params(("app" = String, Path, description = "The app's id or name")),
    request_body = Rollback,
    responses(
        (status = 200, description = "The app", body = App),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn rollback(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<Rollback>,
) -> ApiResult<Json<App>> {
    let app = state.registry.app_id(&app).await?;
    Ok(Json(state.registry.rollback(&app, &body.version).await?))
}

/// Body of `POST /v1/apps/{app}/rollout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StartRollout {
    /// An approved version other than the active one.
    version: String,
    /// Share of the app's chats to run it in, 1 to 99.
    percent: u8,
}

/// Body of `PUT /v1/apps/{app}/rollout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RaiseRollout {
    /// The new share of chats, at least the current one; 100 promotes.
    percent: u8,
}

/// Starts a staged rollout of an approved version (WeChat's grey release).
#[utoipa::path(
    post,
    path = "/v1/apps/{app}/rollout",
    tag = "review",
    summary = "Roll an approved version out to a share of the app's chats",
    description = "A chat is in the rollout when a stable hash of (app id, chat id) into 0..100 is below \
                   the percentage, so raising it only adds chats. Events outside a chat (schedules, \
                   webhooks) run the active version. A new version can also be approved straight into a \
                   rollout with `rollout_percent` in the review decision.",
    security(("operator" = [])),
    params(("app" = String, Path, description = "The app's id or name")),
    request_body = StartRollout,
    responses(
        (status = 200, description = "The app, with its rollout", body = App),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn start_rollout(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<StartRollout>,
) -> ApiResult<Json<App>> {
    let app = state.registry.app_id(&app).await?;
    Ok(Json(
        state.registry.start_rollout(&app, &body.version, body.percent).await?,
    ))
}

/// Raises a staged rollout (`PUT`); 100 promotes it.
#[utoipa::path(
    put,
    path = "/v1/apps/{app}/rollout",
    tag = "review",
    summary = "Raise the share of chats a rollout runs in (100 promotes it)",
    description = "The share only rises: lowering it would move chats back. Abort the rollout instead.",
    security(("operator" = [])),
    params(("app" = String, Path, description = "The app's id or name")),
    request_body = RaiseRollout,
    responses(
        (status = 200, description = "The app, with its rollout", body = App),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn raise_rollout(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<RaiseRollout>,
) -> ApiResult<Json<App>> {
    let app = state.registry.app_id(&app).await?;
    Ok(Json(state.registry.raise_rollout(&app, body.percent).await?))
}

/// Promotes the rollout's version to every chat.
#[utoipa::path(
    post,
    path = "/v1/apps/{app}/rollout/promote",
    tag = "review",
    summary = "Run the rolled-out version in every chat",
    security(("operator" = [])),
    params(("app" = String, Path, description = "The app's id or name")),
    responses(
        (status = 200, description = "The app, its new version active", body = App),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn promote_rollout(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(app): Path<String>,
) -> ApiResult<Json<App>> {
    let app = state.registry.app_id(&app).await?;
    Ok(Json(state.registry.promote_rollout(&app).await?))
}

/// Aborts the rollout: every chat runs the active version again at once.
#[utoipa::path(
    post,
    path = "/v1/apps/{app}/rollout/abort",
    tag = "review",
    summary = "Abort the rollout: every chat back on the active version",
    security(("operator" = [])),
    params(("app" = String, Path, description = "The app's id or name")),
    responses(
        (status = 200, description = "The app, without a rollout", body = App),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn abort_rollout(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(app): Path<String>,
) -> ApiResult<Json<App>> {
    let app = state.registry.app_id(&app).await?;
    Ok(Json(state.registry.abort_rollout(&app).await?))
}
