//! `POST /v1/reports` (a member reports a message or an app),
//! `GET /v1/reports` and `POST /v1/reports/{id}` (the operator's queue and
//! actions).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{AccountCaller, OperatorCaller};
use super::error::ErrorBody;
use super::extract::{ApiJson, ApiQuery};
use super::{ApiError, ApiResult, AppState};
use crate::reports::{Action, Outcome, ReportError, ReportView, Target};
use crate::store::status::ReportStatus;

/// The message a report is about.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageRef {
    /// Its chat.
    chat: String,
    /// Its id.
    id: String,
}

/// Body of `POST /v1/reports`: `{message: {chat, id}, reason, note?}` or
/// `{app, chat?, reason, note?}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewReport {
    /// The message reported (or `app`).
    message: Option<MessageRef>,
    /// The app reported, by id or name (or `message`).
    app: Option<String>,
    /// For an app: the chat the reporter saw it in (context; a member only).
    chat: Option<String>,
    /// `spam`, `violence`, `pornography`, `child_abuse`, `copyright`,
    /// `illegal_drugs`, `personal_details`, `fraud` or `other`.
    reason: String,
    /// What the reporter adds, at most 1000 bytes.
    #[serde(default)]
    note: String,
}

/// Answer of `POST /v1/reports`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Filed {
    /// The report's id.
    id: String,
    /// `open`.
    status: ReportStatus,
}

fn target_of(body: NewReport) -> Result<Target, ApiError> {
    match (body.message, body.app, body.chat) {
        (Some(_), Some(_), _) => Err(invalid("message, app: report either a message or an app, not both")),
        (Some(_), None, Some(_)) => Err(invalid(
            "chat: a reported message names its chat inside `message`: {message: {chat, id}}",
        )),
        (Some(m), None, None) => Ok(Target::Message { chat: m.chat, id: m.id }),
        (None, Some(app), chat) => Ok(Target::App { app, chat }),
        (None, None, _) => Err(invalid(
            "message, app: name the message ({chat, id}) or the app reported",
        )),
    }
}

fn invalid(message: &str) -> ApiError {
    ApiError::unprocessable("invalid_body", message)
}

/// Reports a message or an app: 201 for a new report, 200 with the
/// caller's open report of the same target.
#[utoipa::path(
    post,
    path = "/v1/reports",
    tag = "reports",
    summary = "Report a message or an app",
    security(("account" = [])),
    request_body = NewReport,
    responses(
        (status = 201, description = "The new report", body = Filed),
        (status = 200, description = "The caller's open report of the same target", body = Filed),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
        (status = 429, response = ErrorBody),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiJson(body): ApiJson<NewReport>,
) -> ApiResult<(StatusCode, Json<Filed>)> {
    state.rate.post(&me.id)?;
    let reason = crate::reports::parse_reason(&body.reason)?;
    let note = body.note.clone();
    let target = match target_of(body)? {
        // An app by its id or its name, as elsewhere.
        Target::App { app, chat } => Target::App {
            app: state.registry.resolve_app(&app).await?,
            chat,
        },
        message => message,
    };
    let (status, report) = match state.reports.report(&me.id, &target, reason, &note).await? {
        Outcome::Created(r) => (StatusCode::CREATED, r),
        Outcome::Existing(r) => (StatusCode::OK, r),
    };
    Ok((
        status,
        Json(Filed {
            id: report.id,
            status: report.status,
        }),
    ))
}

/// Query of `GET /v1/reports`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Queue {
    /// `open` (default), `dismissed` or `actioned`.
    status: Option<String>,
    /// At most this many, 1–500 (50).
    limit: Option<u32>,
}

/// Answer of `GET /v1/reports`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Listed {
    /// Newest first.
    reports: Vec<ReportView>,
}

/// The operator's queue: reports with a status (`open` by default), newest
/// first.
#[utoipa::path(
    get,
    path = "/v1/reports",
    tag = "reports",
    summary = "The operator's queue of reports",
    security(("operator" = [])),
    params(Queue),
    responses(
        (status = 200, description = "Reports, newest first", body = Listed),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _op: OperatorCaller,
    ApiQuery(q): ApiQuery<Queue>,
) -> ApiResult<Json<Listed>> {
    let status = match q.status.as_deref().unwrap_or("open") {
        "open" => ReportStatus::Open,
        "dismissed" => ReportStatus::Dismissed,
        "actioned" => ReportStatus::Actioned,
        other => {
            return Err(ApiError::bad_request(format!(
                "status: {other:?} is not one of open, dismissed, actioned"
            )));
        }
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 500"));
    }
    let reports = state.reports.list(status, limit).await?;
    Ok(Json(Listed { reports }))
}

/// Body of `POST /v1/reports/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Act {
    /// `dismiss`, `delete_message` or `suspend_app`.
    action: String,
    /// The operator's note, at most 1000 bytes.
    #[serde(default)]
    note: String,
}

/// The operator acts on an open report: `dismiss`, `delete_message` or
/// `suspend_app`; 409 for a closed one.
#[utoipa::path(
    post,
    path = "/v1/reports/{id}",
    tag = "reports",
    summary = "Act on a report",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The report's id")),
    request_body = Act,
    responses(
        (status = 200, description = "The report, closed", body = ReportView),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn act(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Act>,
) -> ApiResult<Json<ReportView>> {
    let action = Action::parse(&body.action)?;
    Ok(Json(state.reports.act(&id, action, &body.note).await?))
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Invalid(m) => ApiError::unprocessable("invalid_body", m),
            ReportError::NotFound(m) => ApiError::not_found(m),
            ReportError::Closed(m) => ApiError::conflict(m),
            ReportError::Chat(e) => e.into(),
            ReportError::Registry(e) => e.into(),
            ReportError::Store(e) => ApiError::internal(e),
        }
    }
}
