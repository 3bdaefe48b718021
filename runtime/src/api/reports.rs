//! `POST /v1/reports` (a member reports a message or an app),
//! `GET /v1/reports` and `POST /v1/reports/{id}` (the operator's queue and
//! actions).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::{AccountCaller, OperatorCaller};
use super::extract::{ApiJson, ApiQuery};
use super::{ApiError, ApiResult, AppState};
use crate::reports::{Action, Outcome, ReportError, ReportView, Target};
use crate::store::status::ReportStatus;

/// The message a report is about.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageRef {
    chat: String,
    id: String,
}

/// Body of `POST /v1/reports`: `{message: {chat, id}, reason, note?}` or
/// `{app, chat?, reason, note?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewReport {
    message: Option<MessageRef>,
    app: Option<String>,
    chat: Option<String>,
    reason: String,
    #[serde(default)]
    note: String,
}

/// Answer of `POST /v1/reports`.
#[derive(Debug, Serialize)]
pub(super) struct Filed {
    id: String,
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
pub(super) async fn create(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiJson(body): ApiJson<NewReport>,
) -> ApiResult<(StatusCode, Json<Filed>)> {
    state.rate.post(&me.id)?;
    let reason = crate::reports::parse_reason(&body.reason)?;
    let note = body.note.clone();
    let target = target_of(body)?;
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
#[derive(Debug, Deserialize)]
pub(super) struct Queue {
    status: Option<String>,
    limit: Option<u32>,
}

/// Answer of `GET /v1/reports`.
#[derive(Debug, Serialize)]
pub(super) struct Listed {
    reports: Vec<ReportView>,
}

/// The operator's queue: reports with a status (`open` by default), newest
/// first.
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Act {
    action: String,
    #[serde(default)]
    note: String,
}

/// The operator acts on an open report: `dismiss`, `delete_message` or
/// `suspend_app`; 409 for a closed one.
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
