//! User reports: a member reports a message or an app; the operator sees a
//! queue with what was reported (kept as it was, even after the message is
//! deleted) and the target's current state, and dismisses the report,
//! deletes the message or suspends the app. Every report and every action
//! is in the audit log.

use serde::Serialize;
use serde_json::{Value, json};

use crate::chat::{ChatError, ChatService};
use crate::registry::{Registry, RegistryError};
use crate::store::audit::{self, AuditEntry};
use crate::store::messages::{self, SenderKind};
use crate::store::reports::{self, Report};
use crate::store::status::{AppStatus, ReportReason, ReportStatus, ReportTarget};
use crate::store::{Db, StoreError, apps, chats, new_id, now_ms};

pub use crate::store::reports::Outcome;

/// The longest note a reporter or the operator may write, in bytes.
pub const MAX_NOTE_BYTES: usize = 1000;

/// Every reason a report may give, in the order clients show them.
pub const REASONS: [ReportReason; 9] = [
    ReportReason::Spam,
    ReportReason::Violence,
    ReportReason::Pornography,
    ReportReason::ChildAbuse,
    ReportReason::Copyright,
    ReportReason::IllegalDrugs,
    ReportReason::PersonalDetails,
    ReportReason::Fraud,
    ReportReason::Other,
];

/// What reports can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The request is malformed; the text names the field.
    #[error("{0}")]
    Invalid(String),
    /// No such report, or no such app to report.
    #[error("{0}")]
    NotFound(String),
    /// The report is closed already.
    #[error("{0}")]
    Closed(String),
    /// A chat rule refused it (not a member, no such message).
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// The registry refused it.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What is reported.
#[derive(Debug, Clone)]
pub enum Target {
    /// Message `id` of `chat`.
    Message {
        /// The chat.
        chat: String,
        /// The message.
        id: String,
    },
    /// An app, optionally from a chat (context; the reporter must be a member).
    App {
        /// The app.
        app: String,
        /// The chat it was met in.
        chat: Option<String>,
    },
}

/// An operator's action on a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Close it without touching the target.
    Dismiss,
    /// Delete the reported message.
    DeleteMessage,
    /// Suspend the reported app, or the app that sent the reported message.
    SuspendApp,
}

impl Action {
    /// Reads `dismiss`, `delete_message` or `suspend_app`.
    ///
    /// # Errors
    ///
    /// [`ReportError::Invalid`] naming the field for any other word.
    pub fn parse(word: &str) -> Result<Action, ReportError> {
        match word {
            "dismiss" => Ok(Action::Dismiss),
            "delete_message" => Ok(Action::DeleteMessage),
            "suspend_app" => Ok(Action::SuspendApp),
            other => Err(ReportError::Invalid(format!(
                "action: {other:?} is not one of dismiss, delete_message, suspend_app"
            ))),
        }
    }

    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Dismiss => "dismiss",
            Action::DeleteMessage => "delete_message",
            Action::SuspendApp => "suspend_app",
        }
    }
}

/// A report as the operator sees it: the stored report, its snapshot, and
/// the target's state now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportView {
    /// Its id.
    pub id: String,
    /// Open, dismissed or actioned.
    pub status: ReportStatus,
    /// `message` or `app`.
    pub target: ReportTarget,
    /// The account that reported.
    pub reporter: String,
    /// Why.
    pub reason: ReportReason,
    /// The reporter's note.
    pub note: String,
    /// The chat concerned.
    pub chat: Option<String>,
    /// The message reported.
    pub message: Option<String>,
    /// The app reported, or the app that sent the reported message.
    pub app: Option<String>,
    /// What was reported, as it was when reported.
    pub snapshot: Value,
    /// The target now: `{message_deleted}` for a message (and
    /// `app_status` when an app sent it), `{app_status}` for an app.
    pub current: Value,
    /// When it was made, unix ms.
    pub created_at: i64,
    /// The operator's action, once decided.
    pub action: Option<String>,
    /// The operator's note on it.
    pub action_note: Option<String>,
    /// When the operator decided, unix ms.
    pub decided_at: Option<i64>,
}

/// The reports service; cheap to clone.
#[derive(Clone)]
pub struct Reports {
    db: Db,
    chat: ChatService,
    registry: Registry,
}

fn check_note(field: &str, note: &str) -> Result<(), ReportError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(ReportError::Invalid(format!(
            "{field} is {} bytes; the limit is {MAX_NOTE_BYTES}",
            note.len()
        )));
    }
    if !note.is_empty() {
        crate::text::check_visible(field, note).map_err(|e| ReportError::Invalid(e.to_string()))?;
    }
    Ok(())
}

/// Reads a report reason.
///
/// # Errors
///
/// [`ReportError::Invalid`] naming the field for a word not in [`REASONS`].
pub fn parse_reason(word: &str) -> Result<ReportReason, ReportError> {
    ReportReason::parse(word).map_err(|_| {
        let all: Vec<&str> = REASONS.iter().map(|r| r.as_str()).collect();
        ReportError::Invalid(format!("reason: {word:?} is not one of {}", all.join(", ")))
    })
}

impl Reports {
    /// Reports over `db`, deleting messages through `chat` and suspending
    /// apps through `registry`.
    pub fn new(db: Db, chat: ChatService, registry: Registry) -> Reports {
        Reports { db, chat, registry }
    }

    /// `account` reports `target` for `reason`; the report (`Existing` when
    /// the account has an open report of the same target).
    ///
    /// # Errors
    ///
    /// [`ChatError::ChatNotFound`] when the account is not a member of the
    /// chat, [`ChatError::MessageNotFound`] for no such message (or a
    /// deleted one), [`ReportError::NotFound`] for an app nobody can see,
    /// [`ReportError::Invalid`] for a bad note.
    pub async fn report(
        &self,
        account: &str,
        target: &Target,
        reason: ReportReason,
        note: &str,
    ) -> Result<Outcome, ReportError> {
        check_note("note", note)?;
        let mut report = Report {
            id: new_id(),
            reporter_id: account.to_string(),
            target_kind: ReportTarget::App,
            target: String::new(),
            chat_id: None,
            message_id: None,
            app_id: None,
            reason,
            note: note.to_string(),
            snapshot: String::new(),
            status: ReportStatus::Open,
            created_at: now_ms(),
            action: None,
            action_note: None,
            decided_at: None,
        };
        let snapshot = match target {
            Target::Message { chat, id } => {
                self.require_member(chat, account).await?;
                let message = messages::get(&self.db, chat, id)
                    .await?
                    .filter(|m| m.deleted_at.is_none())
                    .ok_or(ChatError::MessageNotFound)?;
                report.target_kind = ReportTarget::Message;
                report.target = format!("message:{chat}/{id}");
                report.chat_id = Some(chat.clone());
                report.message_id = Some(id.clone());
                if message.sender_kind == SenderKind::App {
                    report.app_id = Some(message.sender_id.clone());
                }
                let files: Vec<Value> = message
                    .attachments
                    .iter()
                    .map(|f| json!({ "name": f.name, "media_type": f.media_type, "size": f.size, "sha256": f.sha256 }))
                    .collect();
                json!({
                    "sender": { "kind": message.sender_kind, "id": message.sender_id },
                    "text": message.text,
                    "files": files,
                    "sent_at": message.created_at,
                    "edited_at": message.edited_at,
                })
            }
            Target::App { app, chat } => {
                if let Some(chat) = chat {
                    self.require_member(chat, account).await?;
                }
                let not_found = || ReportError::NotFound(format!("no app with id or name {app:?}"));
                let found = apps::get(&self.db, app).await?.ok_or_else(not_found)?;
                // Anyone may report an app they can see: one that runs.
                let version = found
                    .active_version
                    .clone()
                    .filter(|_| found.status == AppStatus::Active)
                    .ok_or_else(not_found)?;
                report.target = format!("app:{app}");
                report.chat_id = chat.clone();
                report.app_id = Some(app.clone());
                json!({ "app": found.id, "name": found.name, "version": version })
            }
        };
        report.snapshot = crate::store::to_json(&snapshot);
        let outcome = reports::insert(&self.db, &report).await?;
        if let Outcome::Created(stored) = &outcome {
            let detail = format!("report {}: {} for {}", stored.id, stored.target, stored.reason);
            self.audit(format!("account:{account}"), "report.created", stored, detail)
                .await?;
        }
        Ok(outcome)
    }

    async fn require_member(&self, chat: &str, account: &str) -> Result<(), ReportError> {
        if chats::is_member(&self.db, chat, account).await? {
            Ok(())
        } else {
            Err(ChatError::ChatNotFound.into())
        }
    }

    async fn audit(&self, actor: String, action: &str, report: &Report, detail: String) -> Result<(), ReportError> {
        let entry = AuditEntry {
            actor,
            action: action.into(),
            app_id: report.app_id.clone(),
            chat_id: report.chat_id.clone(),
            account_id: Some(report.reporter_id.clone()),
            detail,
            ..AuditEntry::default()
        };
        audit::record(&self.db, entry).await?;
        Ok(())
    }

    /// The newest `limit` reports with `status`, newest first, each with
    /// the target's current state.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn list(&self, status: ReportStatus, limit: u32) -> Result<Vec<ReportView>, ReportError> {
        let mut views = Vec::new();
        for report in reports::list(&self.db, status, limit).await? {
            views.push(self.view(report).await?);
        }
        Ok(views)
    }

    /// The report `id`, as the operator sees it.
    ///
    /// # Errors
    ///
    /// [`ReportError::NotFound`] for no such report.
    pub async fn get(&self, id: &str) -> Result<ReportView, ReportError> {
        let report = self.stored(id).await?;
        self.view(report).await
    }

    async fn stored(&self, id: &str) -> Result<Report, ReportError> {
        reports::get(&self.db, id)
            .await?
            .ok_or_else(|| ReportError::NotFound(format!("no report with id {id:?}")))
    }

    async fn view(&self, report: Report) -> Result<ReportView, ReportError> {
        let app_status = match &report.app_id {
            Some(app) => apps::get(&self.db, app).await?.map(|a| a.status),
            None => None,
        };
        let mut current = json!({});
        if let (Some(chat), Some(message)) = (&report.chat_id, &report.message_id) {
            let found = messages::get(&self.db, chat, message).await?;
            current["message_deleted"] = json!(found.is_none_or(|m| m.deleted_at.is_some()));
        }
        if let Some(status) = app_status {
            current["app_status"] = json!(status);
        }
        Ok(ReportView {
            snapshot: serde_json::from_str(&report.snapshot).unwrap_or(Value::Null),
            id: report.id,
            status: report.status,
            target: report.target_kind,
            reporter: report.reporter_id,
            reason: report.reason,
            note: report.note,
            chat: report.chat_id,
            message: report.message_id,
            app: report.app_id,
            current,
            created_at: report.created_at,
            action: report.action,
            action_note: report.action_note,
            decided_at: report.decided_at,
        })
    }

    /// The operator acts on the open report `id`: dismisses it, deletes the
    /// reported message (as its sender's deletion does) or suspends the
    /// reported app (or the app that sent the reported message). Audited.
    ///
    /// # Errors
    ///
    /// [`ReportError::NotFound`] for no such report, [`ReportError::Closed`]
    /// for one decided already, [`ReportError::Invalid`] for an action that
    /// does not fit the report (deleting an app, suspending a person) or a
    /// bad note.
    pub async fn act(&self, id: &str, action: Action, note: &str) -> Result<ReportView, ReportError> {
        check_note("note", note)?;
        let report = self.stored(id).await?;
        if report.status != ReportStatus::Open {
            return Err(ReportError::Closed(format!("report {id} is {} already", report.status)));
        }
        let (status, audit_action, outcome) = match action {
            Action::Dismiss => (ReportStatus::Dismissed, "report.dismissed", String::new()),
            Action::DeleteMessage => {
                let (Some(chat), Some(message)) = (&report.chat_id, &report.message_id) else {
                    return Err(ReportError::Invalid(
                        "action: delete_message needs a report of a message; this one reports an app".into(),
                    ));
                };
                let deleted = self.chat.delete_message_as_operator(chat, message).await?;
                let outcome = if deleted {
                    format!("message {message} of chat {chat} deleted")
                } else {
                    format!("message {message} of chat {chat} was deleted already")
                };
                (ReportStatus::Actioned, "report.message_deleted", outcome)
            }
            Action::SuspendApp => {
                let Some(app) = &report.app_id else {
                    return Err(ReportError::Invalid(
                        "action: suspend_app needs a report of an app or of an app's message; a person sent this one"
                            .into(),
                    ));
                };
                self.registry.suspend(app).await?;
                (
                    ReportStatus::Actioned,
                    "report.app_suspended",
                    format!("app {app} suspended"),
                )
            }
        };
        if !reports::close(&self.db, id, status, action.as_str(), note, now_ms()).await? {
            return Err(ReportError::Closed(format!("report {id} was decided meanwhile")));
        }
        let mut detail = format!("report {id}: {}", action.as_str());
        if !outcome.is_empty() {
            detail = format!("{detail}; {outcome}");
        }
        if !note.is_empty() {
            detail = format!("{detail}; note: {note}");
        }
        self.audit("operator".into(), audit_action, &report, detail).await?;
        self.get(id).await
    }
}
