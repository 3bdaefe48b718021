//! `notify`: writing to a user outside an event, once that user allowed it
//! (Telegram's `allows_write_to_pm`, WeChat's subscription messages). The
//! app names the user by the app-scoped id it knows them by; the user's
//! consent to the `notify` scope (given and taken back in the client)
//! recorded that id, so the host finds the account. Grant: `notify`.
//! A send goes to the user's direct chat with the app through messaging's
//! buffered outbox and budgets, plus a per-user hourly bound checked at the
//! call and again at commit ([`commit`]).

pub mod commit;
#[cfg(test)]
mod tests;

use wasmtime::component::{HasData, Linker};

use super::bindings::miniapp::platform::notify as wit;
use super::bindings::miniapp::platform::types::OutgoingMessage as WitMessage;
use super::messaging::{MessagingCtx, MessagingCtxView};
use super::{CapError, InvocationCtx, Unit, WitError};
use crate::store::{consents, notifications, now_ms};

/// The consent scope a user grants to be written to.
pub const CONSENT_SCOPE: &str = "notify";

/// The unit: `notify` unlocks `miniapp:platform/notify`.
pub const UNIT: Unit = Unit {
    grants: &["notify"],
    imports: &["miniapp:platform/notify"],
    link: add_to_linker,
};

/// One invocation's notifications: the account each went to (buffered
/// until the commit records them).
#[derive(Debug, Default)]
pub struct NotifyCtx {
    /// Accounts written to so far, one entry per message.
    pub(crate) sent: Vec<String>,
}

/// The notify host functions' view of an invocation: its shared state,
/// its own, and messaging's (a notification is a message, in the same
/// budgets).
pub struct NotifyCtxView<'a> {
    /// What every capability of the invocation shares.
    pub inv: &'a mut InvocationCtx,
    /// This unit's own state.
    pub ctx: &'a mut NotifyCtx,
    /// Messaging's state.
    pub messaging: &'a mut MessagingCtx,
}

/// A store's data that can hand out a [`NotifyCtxView`].
pub trait NotifyView: Send {
    /// The view for one host call.
    fn notify(&mut self) -> NotifyCtxView<'_>;
}

struct HasNotify;

impl HasData for HasNotify {
    type Data<'a> = NotifyCtxView<'a>;
}

super::convert_errors_for!(NotifyCtxView<'_>);

/// Links the unit's interfaces.
///
/// # Errors
///
/// When an interface is linked already.
pub fn add_to_linker<T: NotifyView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasNotify>(linker, T::notify)
}

impl NotifyCtxView<'_> {
    /// The account `user` names, if it allows this app to write to it.
    async fn allowing(&self, user: &str) -> Result<Option<String>, CapError> {
        let services = &self.inv.cx.services;
        Ok(consents::account_of(&services.db, &self.inv.cx.app_id, user, CONSENT_SCOPE).await?)
    }

    fn messaging(&mut self) -> MessagingCtxView<'_> {
        MessagingCtxView {
            inv: self.inv,
            ctx: self.messaging,
        }
    }
}

impl wit::Host for NotifyCtxView<'_> {
    async fn send(&mut self, user: String, message: WitMessage) -> Result<String, CapError> {
        self.inv.require("notify").await?;
        let Some(account) = self.allowing(&user).await? else {
            self.inv
                .audit_denial("notify", "the user has not allowed the app to write to them")
                .await;
            return Err(WitError::ConsentRequired.into());
        };
        let most = self.inv.cx.limits.notifications_per_user_per_hour;
        let db = &self.inv.cx.services.db;
        let stored =
            notifications::count_since(db, &self.inv.cx.app_id, &account, now_ms() - notifications::WINDOW_MS).await?;
        let here = i64::try_from(self.ctx.sent.iter().filter(|a| **a == account).count()).unwrap_or(i64::MAX);
        if stored.saturating_add(here) >= i64::from(most) {
            self.inv.append_log(
                "warn",
                format!("notification refused (rate-limited): {most} per user per hour"),
            );
            return Err(WitError::RateLimited.into());
        }
        let id = self.messaging().send_direct_to(&account, message).await?;
        self.ctx.sent.push(account);
        Ok(id)
    }

    async fn allowed(&mut self, user: String) -> Result<bool, CapError> {
        self.inv.require("notify").await?;
        Ok(self.allowing(&user).await?.is_some())
    }
}
