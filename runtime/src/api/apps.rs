//! `POST|GET /v1/apps`, `GET /v1/apps/{app}`, `GET /v1/apps/{app}/logs`.

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{AccountCaller, Caller};
use super::error::ErrorBody;
use super::extract::ApiQuery;
use super::{ApiError, ApiResult, AppState};
use crate::config::LimitOverrides;
use crate::registry::{Published, RequestedCapability};
use crate::store::apps::Version;
use crate::store::logs::LogLine;
use crate::store::status::{AppKind, AppStatus, CompileStatus, VersionStatus};

/// The body of a publish, for the document.
#[derive(ToSchema)]
#[allow(dead_code)]
struct PublishForm {
    /// `miniapp.toml`, as text.
    manifest: String,
    /// The component's wasm bytes.
    #[schema(value_type = String, format = Binary)]
    component: Vec<u8>,
}

/// Publishes a new version: multipart with a `manifest` (TOML text) and a
/// `component` (wasm bytes) part.
#[utoipa::path(
    post,
    path = "/v1/apps",
    tag = "apps",
    summary = "Publish a new version (multipart: `manifest` and `component`)",
    security(("account" = [])),
    request_body(content = PublishForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The version, pending review", body = Published),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 409, response = ErrorBody),
        (status = 413, response = ErrorBody),
        (status = 415, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn publish(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    headers: axum::http::HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Published>)> {
    let mut multipart = super::files::multipart_body(&headers, multipart, TAKES)?;
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
                let named = other.map_or_else(|| "an unnamed part".to_string(), |n| format!("unexpected part {n:?}"));
                return Err(ApiError::bad_request(format!("{named}: {TAKES}")));
            }
        }
    }
    let manifest = manifest.ok_or_else(|| ApiError::bad_request(format!("no part named `manifest`: {TAKES}")))?;
    let component = component.ok_or_else(|| ApiError::bad_request(format!("no part named `component`: {TAKES}")))?;
    let published = state.registry.publish(&me.id, &manifest, component).await?;
    Ok((StatusCode::CREATED, Json(published)))
}

/// What the publish route takes, for its errors.
const TAKES: &str = "a publish is multipart/form-data with two parts: `manifest` (the miniapp.toml text) \
                     and `component` (the component's .wasm bytes)";

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

/// One app of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CatalogueEntry {
    /// The app's id.
    id: String,
    /// Its name.
    name: String,
    /// The running version.
    version: Option<String>,
    /// Whether it has a web UI to launch.
    web: bool,
    /// `bot`, `web-app` or `app`; empty when no version runs.
    kind: &'static str,
}

/// Answer of `GET /v1/apps`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Catalogue {
    /// Approved apps users can add to chats.
    apps: Vec<CatalogueEntry>,
}

/// Approved apps users can add to chats.
#[utoipa::path(
    get,
    path = "/v1/apps",
    tag = "apps",
    summary = "The catalogue: approved apps users can add to chats",
    security(("account" = []), ("operator" = [])),
    responses(
        (status = 200, description = "The catalogue", body = Catalogue),
        (status = 401, response = ErrorBody),
    )
)]
pub(super) async fn catalogue(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<Catalogue>> {
    let apps = state
        .registry
        .catalogue()
        .await?
        .into_iter()
        .map(|(a, kind)| CatalogueEntry {
            id: a.id,
            name: a.name,
            version: a.active_version,
            web: kind.is_some_and(|k| k.is_web()),
            kind: kind.map_or("", |k| k.as_str()),
        })
        .collect();
    Ok(Json(Catalogue { apps }))
}

/// What anyone sees of a running app.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PublicApp {
    /// The app's id.
    id: String,
    /// Its name.
    name: String,
    /// Always `active`.
    status: AppStatus,
    /// The running version.
    active_version: String,
    /// Its kind.
    kind: AppKind,
    /// Whether it has a web UI to launch.
    web: bool,
    /// The manifest's description.
    description: String,
    /// What the running version was granted.
    grants: Option<BTreeSet<String>>,
    /// What it asked for, and why.
    requested: Vec<RequestedCapability>,
}

/// One version, as its developer and the operator see it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct VersionView {
    /// Semver version.
    version: String,
    /// Its kind.
    kind: AppKind,
    /// The manifest's description.
    description: String,
    /// `pending`, `approved` or `rejected`.
    status: VersionStatus,
    /// Whether its component is compiled.
    compile_status: CompileStatus,
    /// What it asked for, and why.
    requested: Vec<RequestedCapability>,
    /// What it was granted, once approved.
    grants: Option<BTreeSet<String>>,
    /// Limits set at approval that differ from the host's.
    limits: Option<LimitOverrides>,
    /// The component's real imports.
    imports: Vec<String>,
    /// Hex sha256 of the component.
    sha256: String,
    /// The rejection reason.
    reason: Option<String>,
    /// Upload time, unix ms.
    uploaded_at: i64,
    /// Review time, unix ms.
    reviewed_at: Option<i64>,
}

/// What the app's developer and the operator see.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OwnedApp {
    /// The app's id.
    id: String,
    /// Its name.
    name: String,
    /// The developer's account id.
    owner: String,
    /// The merchant account's balance, minor units.
    balance: i64,
    /// Whether it runs.
    status: AppStatus,
    /// The running version, if any (outside the chats of a rollout).
    active_version: Option<String>,
    /// The staged rollout in progress, if any.
    rollout: Option<crate::store::apps::Rollout>,
    /// What the running version was granted (null when none runs).
    grants: Option<BTreeSet<String>>,
    /// Every version, with its review.
    versions: Vec<VersionView>,
}

/// Answer of `GET /v1/apps/{app}`: the owner's view or the public one.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum AppView {
    /// For its developer and the operator.
    Owned(OwnedApp),
    /// For everyone else.
    Public(PublicApp),
}

fn requested(v: &Version) -> Vec<RequestedCapability> {
    v.requested
        .iter()
        .map(|(name, reason)| RequestedCapability {
            name: name.clone(),
            reason: reason.clone(),
        })
        .collect()
}

/// An app. Its developer and the operator see everything: owner, balance,
/// every version with requests, grants, limits, imports and review outcome.
/// Anyone else sees the public catalogue entry only: name, kind,
/// description, the running version and what it was granted.
#[utoipa::path(
    get,
    path = "/v1/apps/{app}",
    tag = "apps",
    summary = "An app: everything for its developer and the operator, the catalogue entry for others",
    security(("account" = []), ("operator" = [])),
    params(("app" = String, Path, description = "The app's id or name")),
    responses(
        (status = 200, description = "The app", body = AppView),
        (status = 401, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(asked): Path<String>,
) -> ApiResult<Json<AppView>> {
    let app = state.registry.app_id(&asked).await?;
    let found = state.registry.app(&app).await?;
    let owner_view = match &caller {
        Caller::Operator => true,
        Caller::Account(me) => me.id == found.owner_id,
    };
    let all = state.registry.versions(&app).await?;
    let running = all
        .iter()
        .find(|v| found.active_version.as_deref() == Some(v.version.as_str()));
    if !owner_view {
        let Some(v) = running.filter(|_| found.status == AppStatus::Active) else {
            // What the caller asked for, not the id a name resolved to.
            return Err(ApiError::not_found(format!("no app with id or name {asked:?}")));
        };
        return Ok(Json(AppView::Public(PublicApp {
            id: found.id,
            name: found.name,
            status: found.status,
            active_version: v.version.clone(),
            kind: v.kind,
            web: crate::registry::entry_points(v.kind).web,
            description: v.description.clone(),
            grants: v.grants.clone(),
            requested: requested(v),
        })));
    }
    let versions = all
        .iter()
        .map(|v| VersionView {
            version: v.version.clone(),
            kind: v.kind,
            description: v.description.clone(),
            status: v.status,
            compile_status: v.compile_status,
            requested: requested(v),
            grants: v.grants.clone(),
            limits: v.limits.clone(),
            imports: v.imports.clone(),
            sha256: v.component_sha256.clone(),
            reason: v.reason.clone(),
            uploaded_at: v.created_at,
            reviewed_at: v.reviewed_at,
        })
        .collect();
    let grants = running.and_then(|v| v.grants.clone());
    // The merchant account belongs to the developer: only they (and the
    // operator) see its balance.
    let balance = state.registry.balance(&found.id, caller.actor()).await?;
    Ok(Json(AppView::Owned(OwnedApp {
        id: found.id,
        name: found.name,
        owner: found.owner_id,
        balance,
        status: found.status,
        active_version: found.active_version,
        rollout: found.rollout,
        grants,
        versions,
    })))
}

/// Answer of `GET /v1/apps/{app}/logs`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Logs {
    /// Oldest first: the newest `limit` lines that pass the filters, or
    /// with `after` the first `limit` after that line.
    logs: Vec<LogLine>,
}

/// Query of `GET /v1/apps/{app}/logs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct LogsQuery {
    /// Only lines at least this severe: `debug` < `info` (with `stdout`) <
    /// `warn` (with `stderr`) < `error`.
    #[param(value_type = Option<String>)]
    level: Option<crate::store::logs::LogLevel>,
    /// Only lines written at or after this time, unix ms.
    since: Option<i64>,
    /// Only lines of this user, as the app sees them (`u_…`).
    user: Option<String>,
    /// Only lines after this line id, oldest first: poll with the last id
    /// seen to follow the log.
    after: Option<String>,
    /// How many, 1 to 1,000 (default 500).
    limit: Option<u32>,
}

/// The app's log (its owner or the operator), filtered.
#[utoipa::path(
    get,
    path = "/v1/apps/{app}/logs",
    tag = "apps",
    summary = "The app's log (its developer or the operator)",
    security(("account" = []), ("operator" = [])),
    params(("app" = String, Path, description = "The app's id or name"), LogsQuery),
    responses(
        (status = 200, description = "Log lines", body = Logs),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> ApiResult<Json<Logs>> {
    let app = state.registry.app_id(&app).await?;
    let filter = crate::store::logs::LogFilter {
        level: q.level,
        since: q.since,
        user: q.user,
        after: q.after,
        limit: q.limit.unwrap_or(500).clamp(1, 1_000),
    };
    let logs = state.registry.logs(&app, caller.actor(), &filter).await?;
    Ok(Json(Logs { logs }))
}
