//! `messaging`: send, edit and delete the app's own messages with inline
//! buttons in chats where it is installed, message the current user
//! directly, and read history. Grants: `messaging.send`, `messaging.read`.
//! Changes go to the invocation's outbox; the caller stores and fans them
//! out afterwards, in order.

pub mod commit;

#[cfg(test)]
mod tests;

use wasmtime::component::{HasData, Linker};

use super::bindings::miniapp::platform::messaging::{self as wit, ChatMessage, Sender};
use super::bindings::miniapp::platform::types::OutgoingMessage as WitMessage;
use super::{CapError, InvocationCtx, Unit, WitError, check_size, check_visible};
use crate::store::messages::{self, SenderKind, StoredButton};
use crate::store::{apps, chats, installs, new_id, send_windows};

/// Most messages `history` returns.
pub const HISTORY_LIMIT: u32 = 100;

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
    /// Set when the host rendered the message for the app (an invoice);
    /// the app can neither edit nor delete it.
    pub host_kind: Option<&'static str>,
    /// Files it carries (the `files` capability attaches them at commit).
    pub attachments: Vec<crate::store::files::Attachment>,
}

/// One change an invocation made to chats, applied in order afterwards.
#[derive(Debug, Clone)]
pub enum OutboxOp {
    /// A new message.
    Send(OutgoingMessage),
    /// New text and buttons for one of the app's messages.
    Edit(OutgoingMessage),
    /// Deletion of one of the app's messages.
    Delete {
        /// The message.
        id: String,
        /// Its chat.
        chat: String,
    },
}

/// The unit: `messaging.send`, `messaging.read` unlock `miniapp:platform/messaging`.
pub const UNIT: Unit = Unit {
    grants: &["messaging.send", "messaging.read"],
    imports: &["miniapp:platform/messaging"],
    link: add_to_linker,
};

/// One invocation's messaging state: messages sent, edited or deleted (buffered until the commit, applied in order).
#[derive(Debug, Default)]
pub struct MessagingCtx {
    /// Messages sent, edited or deleted so far.
    pub(crate) outbox: Vec<OutboxOp>,
    /// Whether a refused send was logged already.
    send_refused: bool,
}

/// The messaging host functions' view of an invocation: its shared state
/// and messaging's own.
pub struct MessagingCtxView<'a> {
    /// What every capability of the invocation shares.
    pub inv: &'a mut InvocationCtx,
    /// This unit's own state.
    pub ctx: &'a mut MessagingCtx,
}

/// A store's data that can hand out a [`MessagingCtxView`].
pub trait MessagingView: Send {
    /// The view for one host call.
    fn messaging(&mut self) -> MessagingCtxView<'_>;
}

struct HasMessaging;

impl HasData for HasMessaging {
    type Data<'a> = MessagingCtxView<'a>;
}

super::convert_errors_for!(MessagingCtxView<'_>);

/// Links the unit's interfaces.
///
/// # Errors
///
/// When an interface is linked already.
pub fn add_to_linker<T: MessagingView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasMessaging>(linker, T::messaging)
}

impl MessagingCtxView<'_> {
    /// Logs the first refused send of the invocation and returns `rate-limited`.
    fn refuse_send(&mut self, why: String) -> CapError {
        if !self.ctx.send_refused {
            self.ctx.send_refused = true;
            self.inv
                .append_log("warn", format!("send refused (rate-limited): {why}"));
        }
        WitError::RateLimited.into()
    }

    /// Validates a guest message against the limits.
    pub(crate) fn check_message(&self, message: &WitMessage) -> Result<Vec<Vec<StoredButton>>, CapError> {
        let limits = self.inv.limits();
        check_size("message text", message.text.len(), limits.max_message_bytes)?;
        check_visible("message text", &message.text)?;
        let count: usize = message.buttons.iter().map(Vec::len).sum();
        if count > limits.max_buttons {
            return Err(WitError::TooLarge(format!("{count} buttons; the limit is {}", limits.max_buttons)).into());
        }
        let mut rows = Vec::with_capacity(message.buttons.len());
        for row in &message.buttons {
            let mut out = Vec::with_capacity(row.len());
            for b in row {
                check_size("button label", b.label.len(), limits.max_button_label_bytes)?;
                check_size("button data", b.data.len(), limits.max_button_data_bytes)?;
                crate::text::check_line("button label", &b.label).map_err(|e| WitError::Invalid(e.to_string()))?;
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

    /// Whether the app may act in `chat`: the event's chat (unless it is
    /// closed to the app: see [`Invocation::chat_open`]), or one it is
    /// installed in.
    ///
    /// [`Invocation::chat_open`]: crate::capabilities::Invocation::chat_open
    pub(crate) async fn may_use_chat(&mut self, chat: &str) -> Result<bool, CapError> {
        let cx = &self.inv.cx;
        if cx.chat_open && cx.chat.as_deref() == Some(chat) && cx.account.is_some() {
            return Ok(true);
        }
        // A user's direct chat with the app only in an invocation that
        // user caused (see `installs::open_to`).
        Ok(installs::open_to(&cx.services.db, chat, &cx.app_id, cx.account.as_deref()).await?)
    }

    /// Applies the per-invocation and per-minute budgets, then queues `message` for `chat`.
    async fn queue_send(
        &mut self,
        chat: String,
        message: WitMessage,
        buttons: Vec<Vec<StoredButton>>,
    ) -> Result<String, CapError> {
        self.reserve_send(&chat).await?;
        let id = new_id();
        self.ctx.outbox.push(OutboxOp::Send(OutgoingMessage {
            id: id.clone(),
            chat,
            text: message.text,
            buttons,
            host_kind: None,
            attachments: Vec::new(),
        }));
        Ok(id)
    }

    /// Takes one message's place in the per-invocation and per-minute
    /// budgets for `chat`, or answers `rate-limited` having taken nothing.
    /// The budget is the node's own on SQLite (one node) and shared in the
    /// database on PostgreSQL (every node takes from the same one).
    pub(crate) async fn reserve_send(&mut self, chat: &str) -> Result<(), CapError> {
        self.check_invocation_budget()?;
        let per_minute = self.inv.cx.limits.messages_per_chat_per_minute;
        let db = &self.inv.cx.services.db;
        let taken = if db.is_embedded() {
            self.inv
                .cx
                .services
                .rate
                .try_acquire(&self.inv.cx.app_id, chat, per_minute)
        } else {
            send_windows::try_take(db, &self.inv.cx.app_id, chat, per_minute).await?
        };
        if !taken {
            return Err(self.refuse_send(format!("more than {per_minute} messages per minute in chat {chat}")));
        }
        Ok(())
    }

    /// Refuses a send past the per-invocation budget.
    fn check_invocation_budget(&mut self) -> Result<(), CapError> {
        let max = self.inv.cx.limits.messages_per_invocation;
        let sent = self
            .ctx
            .outbox
            .iter()
            .filter(|op| matches!(op, OutboxOp::Send(_)))
            .count();
        if sent >= max as usize {
            return Err(self.refuse_send(format!("more than {max} messages in one invocation")));
        }
        Ok(())
    }

    /// Queues a message the host rendered for the app, in a place taken
    /// with [`Self::reserve_send`].
    pub(crate) fn push_host_message(&mut self, message: OutgoingMessage) {
        self.ctx.outbox.push(OutboxOp::Send(message));
    }

    /// The chat of the app's own live message `id` (sent earlier, or in this
    /// invocation); `not-found` for anything else, `invalid` for a message
    /// the host rendered for the app (an invoice), which only the host changes.
    async fn own_message_chat(&mut self, id: &str) -> Result<String, CapError> {
        let queued = self.ctx.outbox.iter().rev().find_map(|op| match op {
            OutboxOp::Send(m) if m.id == id => Some(Some((m.chat.clone(), m.host_kind.map(str::to_string)))),
            OutboxOp::Delete { id: gone, .. } if gone == id => Some(None),
            _ => None,
        });
        let (chat, host_kind) = match queued {
            Some(found) => found.ok_or(WitError::NotFound)?,
            None => match messages::by_id(&self.inv.cx.services.db, id).await? {
                Some(m)
                    if m.sender_kind == SenderKind::App
                        && m.sender_id == *self.inv.cx.app_id
                        && m.deleted_at.is_none() =>
                {
                    (m.chat_id, m.host_kind)
                }
                _ => return Err(WitError::NotFound.into()),
            },
        };
        if let Some(kind) = host_kind {
            return Err(WitError::Invalid(format!(
                "message {id} shows an {kind} the host rendered; only the host changes it (cancel the {kind} instead)"
            ))
            .into());
        }
        Ok(chat)
    }
}

impl wit::Host for MessagingCtxView<'_> {
    async fn send(&mut self, chat: String, message: WitMessage) -> Result<String, CapError> {
        self.inv.require("messaging.send").await?;
        let buttons = self.check_message(&message)?;
        if !self.may_use_chat(&chat).await? {
            self.inv
                .audit_denial("messaging.send", "a chat not open to the app (not installed there, or a user's direct chat outside an event of theirs)")
                .await;
            return Err(WitError::NotFound.into());
        }
        self.queue_send(chat, message, buttons).await
    }

    async fn edit(&mut self, id: String, message: WitMessage) -> Result<(), CapError> {
        self.inv.require("messaging.send").await?;
        let buttons = self.check_message(&message)?;
        let chat = self.own_message_chat(&id).await?;
        self.ctx.outbox.push(OutboxOp::Edit(OutgoingMessage {
            id,
            chat,
            text: message.text,
            buttons,
            host_kind: None,
            attachments: Vec::new(),
        }));
        Ok(())
    }

    async fn delete(&mut self, id: String) -> Result<(), CapError> {
        self.inv.require("messaging.send").await?;
        let chat = self.own_message_chat(&id).await?;
        self.ctx.outbox.push(OutboxOp::Delete { id, chat });
        Ok(())
    }

    async fn history(&mut self, chat: String, limit: u32) -> Result<Vec<ChatMessage>, CapError> {
        self.inv.require("messaging.read").await?;
        if !self.may_use_chat(&chat).await? {
            self.inv
                .audit_denial("messaging.read", "a chat not open to the app (not installed there, or a user's direct chat outside an event of theirs)")
                .await;
            return Err(WitError::NotFound.into());
        }
        let db = &self.inv.cx.services.db;
        let list = messages::list(db, &chat, None, limit.clamp(1, HISTORY_LIMIT)).await?;
        Ok(list
            .into_iter()
            .filter(|m| m.deleted_at.is_none())
            .map(|m| ChatMessage {
                sender: match m.sender_kind {
                    SenderKind::User => Sender::User(self.inv.app_scoped_id(&m.sender_id)),
                    SenderKind::App => Sender::App(m.sender_id),
                },
                id: m.id,
                text: m.text,
                created_at: u64::try_from(m.created_at).unwrap_or(0),
                edited: m.edited_at.is_some(),
            })
            .collect())
    }

    async fn members(&mut self, chat: String) -> Result<Vec<String>, CapError> {
        self.inv.require("messaging.read").await?;
        if !self.may_use_chat(&chat).await? {
            self.inv
                .audit_denial("messaging.read", "a chat not open to the app (not installed there, or a user's direct chat outside an event of theirs)")
                .await;
            return Err(WitError::NotFound.into());
        }
        let members = chats::members(&self.inv.cx.services.db, &chat).await?;
        Ok(members.iter().map(|m| self.inv.app_scoped_id(m)).collect())
    }

    async fn send_direct(&mut self, message: WitMessage) -> Result<String, CapError> {
        self.inv.require("messaging.send").await?;
        let Some(account) = self.inv.cx.account.clone() else {
            return Err(WitError::NotFound.into());
        };
        self.send_direct_to(&account, message).await
    }
}

impl MessagingCtxView<'_> {
    /// Checks `message` and the budgets, then queues it for `account`'s
    /// direct chat with the app (created on first use); the caller checked
    /// the grant (`messaging.send`, or `notify` and the user's consent).
    pub(crate) async fn send_direct_to(&mut self, account: &str, message: WitMessage) -> Result<String, CapError> {
        let buttons = self.check_message(&message)?;
        // Refuse before the direct chat is created: a refused call does
        // nothing. (A chat created just now has its whole per-minute budget.)
        self.check_invocation_budget()?;
        let db = &self.inv.cx.services.db;
        let title = apps::get(db, &self.inv.cx.app_id)
            .await?
            .map(|a| a.name)
            .unwrap_or_default();
        let chat = chats::direct_chat(db, account, &self.inv.cx.app_id, &title).await?;
        self.queue_send(chat, message, buttons).await
    }
}
