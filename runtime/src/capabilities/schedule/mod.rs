//! `schedule`: timers. An app sets one-shot timers (at a time, or after a
//! delay) and recurring ones (a 5-field cron expression, UTC) in a chat
//! where it is installed, optionally for the current user, and cancels
//! them; each firing is a `timer` event (a durable job, see
//! [`crate::store::timers`]). Grant: `schedule`. Setting and cancelling
//! are buffered ([`commit`]) and take effect with the invocation's
//! commit; pending timers per app are bounded by the app's
//! `pending_timers` limit, checked at the call and again at commit.

pub mod commit;

#[cfg(test)]
mod tests;

use wasmtime::component::{HasData, Linker};

use super::bindings::miniapp::platform::schedule as wit;
use super::{CapError, InvocationCtx, Unit, WitError, check_size};
use crate::cron::Schedule;
use crate::store::timers::{self, Timer};
use crate::store::{installs, new_id, now_ms};
use commit::TimerOp;

/// Largest timer payload, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 4 << 10;
/// Furthest ahead a one-shot timer may be set, in ms (a year).
pub const MAX_AHEAD_MS: u64 = 366 * 24 * 60 * 60 * 1000;
/// Timers one invocation may set.
pub const MAX_SETS_PER_INVOCATION: usize = 100;
/// Most timers [`wit::Host::pending`] returns.
pub const MAX_LISTED: u32 = 100;

/// The unit: `schedule` unlocks `miniapp:platform/schedule`.
pub const UNIT: Unit = Unit {
    grants: &["schedule"],
    imports: &["miniapp:platform/schedule"],
    link: add_to_linker,
};

/// One invocation's timer changes (buffered until the commit).
#[derive(Debug, Default)]
pub struct ScheduleCtx {
    /// Timers set and cancelled so far, in order.
    pub(crate) ops: Vec<TimerOp>,
}

impl ScheduleCtx {
    fn sets(&self) -> usize {
        self.ops.iter().filter(|op| matches!(op, TimerOp::Set(_))).count()
    }

    fn set_here(&self, id: &str) -> bool {
        self.ops.iter().any(|op| matches!(op, TimerOp::Set(t) if t.id == id))
    }

    fn cancelled_here(&self, id: &str) -> bool {
        self.ops.iter().any(|op| matches!(op, TimerOp::Cancel(c) if c == id))
    }
}

/// The schedule host functions' view of an invocation: its shared state
/// and schedule's own.
pub struct ScheduleCtxView<'a> {
    /// What every capability of the invocation shares.
    pub inv: &'a mut InvocationCtx,
    /// This unit's own state.
    pub ctx: &'a mut ScheduleCtx,
}

/// A store's data that can hand out a [`ScheduleCtxView`].
pub trait ScheduleView: Send {
    /// The view for one host call.
    fn schedule(&mut self) -> ScheduleCtxView<'_>;
}

struct HasSchedule;

impl HasData for HasSchedule {
    type Data<'a> = ScheduleCtxView<'a>;
}

super::convert_errors_for!(ScheduleCtxView<'_>);

/// Links the unit's interfaces.
///
/// # Errors
///
/// When an interface is linked already.
pub fn add_to_linker<T: ScheduleView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSchedule>(linker, T::schedule)
}

impl ScheduleCtxView<'_> {
    /// The grant, the chat (one where the app is installed), the payload,
    /// the per-invocation bound and the app's quota; then buffers a timer
    /// due at `due_at`.
    async fn set(
        &mut self,
        chat: String,
        due_at: i64,
        cron: Option<String>,
        payload: String,
        for_current_user: bool,
    ) -> Result<String, CapError> {
        self.inv.require("schedule").await?;
        check_size("timer payload", payload.len(), MAX_PAYLOAD_BYTES)?;
        let account = if for_current_user {
            Some(
                self.inv
                    .cx
                    .account
                    .clone()
                    .ok_or_else(|| WitError::Invalid("for-current-user: the current event has no user".into()))?,
            )
        } else {
            None
        };
        let app = self.inv.cx.app_id.to_string();
        if !installs::open_to(&self.inv.cx.services.db, &chat, &app, self.inv.cx.account.as_deref()).await? {
            self.inv
                .audit_denial("schedule", "a chat not open to the app (not installed there, or a user's direct chat outside an event of theirs)")
                .await;
            return Err(WitError::Denied.into());
        }
        if self.ctx.sets() >= MAX_SETS_PER_INVOCATION {
            self.inv.append_log(
                "warn",
                format!("timer refused (rate-limited): more than {MAX_SETS_PER_INVOCATION} in one invocation"),
            );
            return Err(WitError::RateLimited.into());
        }
        let quota = i64::from(self.inv.cx.limits.pending_timers);
        let pending = timers::count(&self.inv.cx.services.db, &app).await? + self.pending_change();
        if pending >= quota {
            self.inv.append_log(
                "warn",
                format!("timer refused (quota-exceeded): the app has {pending} pending timers; its quota is {quota}"),
            );
            return Err(WitError::QuotaExceeded.into());
        }
        let id = new_id();
        self.ctx.ops.push(TimerOp::Set(Timer {
            id: id.clone(),
            app_id: app,
            chat_id: chat,
            account_id: account,
            payload,
            due_at,
            cron,
            name: None,
        }));
        Ok(id)
    }

    /// Timers this invocation adds to the stored count: its sets minus
    /// its cancellations (a timer set and cancelled here leaves no op, so
    /// every cancellation is of a stored timer).
    fn pending_change(&self) -> i64 {
        self.ctx.ops.iter().map(TimerOp::change).sum()
    }
}

fn due_in(delay_ms: u64) -> Result<i64, CapError> {
    if delay_ms > MAX_AHEAD_MS {
        return Err(WitError::Invalid(format!("a timer is set at most {MAX_AHEAD_MS} ms (a year) ahead")).into());
    }
    Ok(now_ms().saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX)))
}

impl wit::Host for ScheduleCtxView<'_> {
    async fn set_at(
        &mut self,
        chat: String,
        at: u64,
        payload: String,
        for_current_user: bool,
    ) -> Result<String, CapError> {
        let now = u64::try_from(now_ms()).unwrap_or(0);
        let due_at = due_in(at.saturating_sub(now))?;
        self.set(chat, due_at, None, payload, for_current_user).await
    }

    async fn set_after(
        &mut self,
        chat: String,
        delay_ms: u64,
        payload: String,
        for_current_user: bool,
    ) -> Result<String, CapError> {
        let due_at = due_in(delay_ms)?;
        self.set(chat, due_at, None, payload, for_current_user).await
    }

    async fn set_cron(
        &mut self,
        chat: String,
        cron: String,
        payload: String,
        for_current_user: bool,
    ) -> Result<String, CapError> {
        let schedule = Schedule::parse(&cron).map_err(WitError::Invalid)?;
        let due_at = schedule
            .next_after(now_ms())
            .ok_or_else(|| WitError::Invalid(format!("cron expression {cron:?} never matches again")))?;
        self.set(chat, due_at, Some(cron), payload, for_current_user).await
    }

    async fn cancel(&mut self, id: String) -> Result<(), CapError> {
        self.inv.require("schedule").await?;
        if self.ctx.cancelled_here(&id) {
            return Err(WitError::NotFound.into());
        }
        if self.ctx.set_here(&id) {
            self.ctx.ops.retain(|op| !matches!(op, TimerOp::Set(t) if t.id == id));
            return Ok(());
        }
        if !timers::exists(&self.inv.cx.services.db, &self.inv.cx.app_id, &id).await? {
            return Err(WitError::NotFound.into());
        }
        self.ctx.ops.push(TimerOp::Cancel(id));
        Ok(())
    }

    async fn pending(&mut self, chat: Option<String>) -> Result<Vec<wit::Timer>, CapError> {
        self.inv.require("schedule").await?;
        let stored = timers::list(
            &self.inv.cx.services.db,
            &self.inv.cx.app_id,
            chat.as_deref(),
            MAX_LISTED,
        )
        .await?;
        let mut all: Vec<Timer> = stored.into_iter().filter(|t| !self.ctx.cancelled_here(&t.id)).collect();
        for op in &self.ctx.ops {
            if let TimerOp::Set(t) = op
                && chat.as_ref().is_none_or(|c| *c == t.chat_id)
            {
                all.push(t.clone());
            }
        }
        all.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        all.truncate(MAX_LISTED as usize);
        Ok(all
            .into_iter()
            .map(|t| wit::Timer {
                user: t.account_id.as_deref().map(|a| self.inv.app_scoped_id(a)),
                chat: (!t.chat_id.is_empty()).then_some(t.chat_id),
                id: t.name.unwrap_or(t.id),
                payload: t.payload,
                due_at: u64::try_from(t.due_at).unwrap_or(0),
                cron: t.cron,
            })
            .collect())
    }
}
