//! `pages`: live pages. An app publishes small text payloads to its own
//! pages open in a chat where it is installed (server-sent events on the
//! app's origin, served by [`crate::webapps::live`]), from a bot event or a
//! web request. Grant: `pages`. A publish is buffered ([`commit`]) and
//! becomes a chat event of kind [`crate::store::page_pushes::KIND`] with
//! the invocation's commit, so a failed invocation publishes nothing and
//! pages on every node get what committed, in commit order.

pub mod commit;

#[cfg(test)]
mod tests;

use wasmtime::component::{HasData, Linker};

use super::bindings::miniapp::platform::pages as wit;
use super::{CapError, InvocationCtx, Unit, WitError, check_size};
use crate::store::installs;
use commit::Push;

/// Largest payload of one publish, in bytes.
pub const MAX_DATA_BYTES: usize = 16 << 10;
/// Publishes one invocation may make.
pub const MAX_PER_INVOCATION: usize = 20;
/// Publishes per (app, chat) per minute, counted on each node.
pub const MAX_PER_CHAT_PER_MINUTE: u32 = 300;

/// The unit: `pages` unlocks `miniapp:platform/pages`.
pub const UNIT: Unit = Unit {
    grants: &["pages"],
    imports: &["miniapp:platform/pages"],
    link: add_to_linker,
};

/// One invocation's publishes (buffered until the commit).
#[derive(Debug, Default)]
pub struct PagesCtx {
    /// What was published so far, in order.
    pub(crate) pushes: Vec<Push>,
    /// Whether a refused publish was logged already.
    refused: bool,
}

/// The pages host functions' view of an invocation: its shared state and
/// pages' own.
pub struct PagesCtxView<'a> {
    /// What every capability of the invocation shares.
    pub inv: &'a mut InvocationCtx,
    /// This unit's own state.
    pub ctx: &'a mut PagesCtx,
}

/// A store's data that can hand out a [`PagesCtxView`].
pub trait PagesView: Send {
    /// The view for one host call.
    fn pages(&mut self) -> PagesCtxView<'_>;
}

struct HasPages;

impl HasData for HasPages {
    type Data<'a> = PagesCtxView<'a>;
}

super::convert_errors_for!(PagesCtxView<'_>);

/// Links the unit's interfaces.
///
/// # Errors
///
/// When an interface is linked already.
pub fn add_to_linker<T: PagesView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasPages>(linker, T::pages)
}

impl PagesCtxView<'_> {
    /// Logs the first refused publish of the invocation and returns `rate-limited`.
    fn refuse(&mut self, why: String) -> CapError {
        if !self.ctx.refused {
            self.ctx.refused = true;
            self.inv
                .append_log("warn", format!("publish refused (rate-limited): {why}"));
        }
        WitError::RateLimited.into()
    }
}

impl wit::Host for PagesCtxView<'_> {
    async fn publish(&mut self, chat: String, data: String) -> Result<(), CapError> {
        self.inv.require("pages").await?;
        check_size("page data", data.len(), MAX_DATA_BYTES)?;
        if data.is_empty() {
            // Browsers drop server-sent events with no data.
            return Err(WitError::Invalid("page data is empty".into()).into());
        }
        let app = self.inv.cx.app_id.clone();
        if !installs::open_to(&self.inv.cx.services.db, &chat, &app, self.inv.cx.account.as_deref()).await? {
            self.inv
                .audit_denial("pages", "a chat not open to the app (not installed there, or a user's direct chat outside an event of theirs)")
                .await;
            return Err(WitError::Denied.into());
        }
        if self.ctx.pushes.len() >= MAX_PER_INVOCATION {
            return Err(self.refuse(format!("more than {MAX_PER_INVOCATION} in one invocation")));
        }
        if !self
            .inv
            .cx
            .services
            .page_rate
            .try_acquire(&app, &chat, MAX_PER_CHAT_PER_MINUTE)
        {
            return Err(self.refuse(format!("more than {MAX_PER_CHAT_PER_MINUTE} per minute in chat {chat}")));
        }
        self.ctx.pushes.push(Push { chat, data });
        Ok(())
    }
}
