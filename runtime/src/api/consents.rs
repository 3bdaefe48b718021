//! `PUT|GET|DELETE /v1/apps/{app}/consents` — the caller's consents to an app.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use super::{ApiResult, AppState};

/// Body of `PUT …/consents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Scopes {
    /// Scopes to consent to, e.g. `identity.profile`.
    scopes: Vec<String>,
}

/// The caller's consents to an app.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Consents {
    /// The app's id.
    app: String,
    /// Every scope the caller consented to.
    scopes: Vec<String>,
    /// The scopes the app may be given consent to: those it was granted
    /// (a consent to another scope is refused with 422).
    grantable: Vec<String>,
}

/// Grants `scopes` (added to earlier consents); answers with all of them.
#[utoipa::path(
    put,
    path = "/v1/apps/{app}/consents",
    tag = "consents",
    summary = "Consent to scopes (added to earlier consents)",
    security(("account" = [])),
    params(("app" = String, Path, description = "The app's id or name")),
    request_body = Scopes,
    responses(
        (status = 200, description = "All the caller's consents to the app", body = Consents),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn grant(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<Scopes>,
) -> ApiResult<Json<Consents>> {
    let app = state.registry.resolve_app(&app).await?;
    let scopes = state.accounts.grant_consents(&me.id, &app, &body.scopes).await?;
    let grantable = state.accounts.consentable_scopes(&app).await?;
    Ok(Json(Consents { app, scopes, grantable }))
}

/// The caller's consents to the app.
#[utoipa::path(
    get,
    path = "/v1/apps/{app}/consents",
    tag = "consents",
    summary = "The caller's consents to the app",
    security(("account" = [])),
    params(("app" = String, Path, description = "The app's id or name")),
    responses(
        (status = 200, description = "Consents", body = Consents),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(app): Path<String>,
) -> ApiResult<Json<Consents>> {
    let app = state.registry.resolve_app(&app).await?;
    let scopes = state.accounts.consents(&me.id, &app).await?;
    let grantable = state.accounts.consentable_scopes(&app).await?;
    Ok(Json(Consents { app, scopes, grantable }))
}

/// Query of `DELETE …/consents`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeQuery {
    /// Comma-separated scopes to revoke (e.g. `notify,identity.phone`),
    /// keeping the others; without it, every consent goes.
    scopes: Option<String>,
}

/// Revokes the caller's consents to the app: the scopes named in
/// `?scopes=`, or every one.
#[utoipa::path(
    delete,
    path = "/v1/apps/{app}/consents",
    tag = "consents",
    summary = "Revoke the caller's consents to the app (`?scopes=a,b` for some, else all)",
    security(("account" = [])),
    params(("app" = String, Path, description = "The app's id or name"), RevokeQuery),
    responses(
        (status = 200, description = "The consents left", body = Consents),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn revoke(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(app): Path<String>,
    ApiQuery(query): ApiQuery<RevokeQuery>,
) -> ApiResult<Json<Consents>> {
    let app = state.registry.resolve_app(&app).await?;
    let scopes = match query.scopes {
        Some(list) => {
            let some: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if some.is_empty() {
                return Err(ApiError::bad_request(
                    "`scopes` names no scope: name at least one (`?scopes=notify,identity.phone`), \
                     or leave `scopes` out to revoke every consent",
                ));
            }
            state.accounts.revoke_some_consents(&me.id, &app, &some).await?
        }
        None => {
            state.accounts.revoke_consents(&me.id, &app).await?;
            Vec::new()
        }
    };
    let grantable = state.accounts.consentable_scopes(&app).await?;
    Ok(Json(Consents { app, scopes, grantable }))
}
