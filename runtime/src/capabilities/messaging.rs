//! `messaging`: send messages with inline buttons into chats where the app
//! is installed. Grant: `messaging.send`. Sent messages go to the
//! invocation's outbox; the caller stores and fans them out afterwards.

use wasmtime::component::{HasSelf, Linker};

use super::bindings::miniapp::platform::messaging as wit;
use super::bindings::miniapp::platform::types::OutgoingMessage as WitMessage;
use super::{CapError, HostState, WitError, check_size};
use crate::store::messages::StoredButton;
use crate::store::{installs, new_id};

/// A message an app sent during an invocation.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// Its id, chosen by the host when the guest sent it.
    pub id: String,
    /// The chat it goes to.
    pub chat: String,
    /// Its text.
    pub text: String,
    /// Rows of buttons (data kept host-side).
    pub buttons: Vec<Vec<StoredButton>>,
}

/// Links `miniapp:platform/messaging`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
}

impl HostState {
    /// Logs the first refused send of the invocation and returns `rate-limited`.
    fn refuse_send(&mut self, why: String) -> CapError {
        if !self.send_refused {
            self.send_refused = true;
            self.append_log("warn", format!("send refused (rate-limited): {why}"));
        }
        WitError::RateLimited.into()
    }

    /// Validates a guest message against the limits, before it is kept.
    fn check_message(&self, message: &WitMessage) -> Result<Vec<Vec<StoredButton>>, CapError> {
        let limits = self.limits();
        check_size("message text", message.text.len(), limits.max_message_bytes)?;
        if message.text.trim().is_empty() {
            return Err(WitError::Invalid("message text is empty".into()).into());
        }
        let count: usize = message.buttons.iter().map(Vec::len).sum();
        if count > limits.max_buttons {
            return Err(WitError::TooLarge(format!(
                "{count} buttons; the limit is {}",
                limits.max_buttons
            ))
            .into());
        }
        let mut rows = Vec::with_capacity(message.buttons.len());
        for row in &message.buttons {
            let mut out = Vec::with_capacity(row.len());
            for b in row {
                check_size("button label", b.label.len(), limits.max_button_label_bytes)?;
                check_size("button data", b.data.len(), limits.max_button_data_bytes)?;
                if b.label.trim().is_empty() {
                    return Err(WitError::Invalid("button label is empty".into()).into());
                }
                out.push(StoredButton {
                    label: b.label.clone(),
                    data: b.data.clone(),
                });
            }
            if !out.is_empty() {
                rows.push(out);
            }
        }
        Ok(rows)
    }
}

impl wit::Host for HostState {
    async fn send(&mut self, chat: String, message: WitMessage) -> Result<String, CapError> {
        self.require("messaging.send").await?;
        let buttons = self.check_message(&message)?;
        let max = self.cx.limits.messages_per_invocation;
        if self.outbox.len() >= max as usize {
            return Err(self.refuse_send(format!("more than {max} messages in one invocation")));
        }
        let in_current_chat = self.cx.chat.as_deref() == Some(chat.as_str());
        if !in_current_chat
            && !installs::is_installed(&self.cx.services.db, &chat, &self.cx.app_id).await?
        {
            self.audit_denial("messaging.send", "chat where the app is not installed")
                .await;
            return Err(WitError::NotFound.into());
        }
        let per_minute = self.cx.limits.messages_per_chat_per_minute;
        if !self
            .cx
            .services
            .rate
            .try_acquire(&self.cx.app_id, &chat, per_minute)
        {
            return Err(self.refuse_send(format!(
                "more than {per_minute} messages per minute in chat {chat}"
            )));
        }
        let id = new_id();
        self.outbox.push(OutgoingMessage {
            id: id.clone(),
            chat,
            text: message.text,
            buttons,
        });
        Ok(id)
    }
}
