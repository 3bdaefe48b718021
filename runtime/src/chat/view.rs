//! Messages as clients see them: button data stays host-side.

use serde::Serialize;

use crate::store::files::Attachment;
use crate::store::messages::{Message, SenderKind};

/// One inline button as clients see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ButtonView {
    /// 0-based position in reading order: the `n` to press it with.
    pub index: usize,
    /// Row it is on.
    pub row: usize,
    /// Its label.
    pub label: String,
}

/// One message as clients see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    /// Its id.
    pub id: String,
    /// The chat.
    pub chat: String,
    /// Account id of the person, or app id of the bot, that sent it.
    pub sender: String,
    /// `user` or `app`.
    pub sender_kind: SenderKind,
    /// Its text.
    pub text: String,
    /// Inline buttons, flat, in reading order.
    pub buttons: Vec<ButtonView>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last edit, unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    /// Whether the message was deleted (text, buttons and files are then empty).
    pub deleted: bool,
    /// Its files, in order (`GET /v1/files/{id}`; images have a `preview`
    /// at `GET /v1/files/{id}/preview`).
    pub files: Vec<Attachment>,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        let buttons = m
            .buttons
            .iter()
            .enumerate()
            .flat_map(|(row, buttons)| buttons.iter().map(move |b| (row, b.label.clone())))
            .enumerate()
            .map(|(index, (row, label))| ButtonView { index, row, label })
            .collect();
        MessageView {
            id: m.id.clone(),
            chat: m.chat_id.clone(),
            sender: m.sender_id.clone(),
            sender_kind: m.sender_kind,
            text: m.text.clone(),
            buttons,
            created_at: m.created_at,
            edited_at: m.edited_at,
            deleted: m.deleted_at.is_some(),
            files: m.attachments.clone(),
        }
    }
}
