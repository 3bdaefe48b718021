//! Timers: run later, on your own, with [`crate::Bot::on_timer`]. Needs
//! the `schedule` capability.
//!
//! A timer belongs to a chat where the app is installed and, optionally,
//! to the user who caused the current event. When it fires, nobody caused
//! that event: there is no current user, and that user's direct chat with
//! the app is closed to it — write to them with [`crate::notify`]. Like every other change, a
//! timer set (or cancelled) by a handler that then fails is not stored.
//! Timers survive restarts and fire once, about a second after they fall
//! due; one the host could not fire in time fires late (its
//! [`Timer::scheduled_at`](crate::Timer::scheduled_at) in the past), unless
//! it is more than 24 hours late: then it is dropped with a line in the
//! app's log. Recurring timers use 5-field cron expressions in UTC
//! (`minute hour day-of-month month day-of-week`, as `crontab(5)`); the
//! manifest's `[schedules]` table declares app-wide ones.
//!
//! # Errors
//!
//! Every call returns [`Error::Denied`] without the grant (or for a chat
//! where the app is not installed), [`Error::QuotaExceeded`] when the app
//! has as many pending timers as its quota allows (1,000 unless the
//! operator set another), [`Error::Invalid`] for a malformed cron
//! expression or a time more than a year ahead, [`Error::TooLarge`] for a
//! payload over 4 KiB, [`Error::RateLimited`] past 100 timers set in one
//! invocation, and [`Error::NotFound`] when cancelling a timer that is not
//! pending.
//!
//! ```no_run
//! use std::time::Duration;
//! use miniapp_sdk::{Bot, Message, Timer, messaging, schedule};
//!
//! struct Reminder;
//!
//! impl Bot for Reminder {
//!     fn on_message(msg: Message) -> miniapp_sdk::Result {
//!         if let Some(what) = msg.command("/in10") {
//!             schedule::after(&msg.chat, Duration::from_secs(600), what, true)?;
//!         }
//!         Ok(())
//!     }
//!     fn on_timer(timer: Timer) -> miniapp_sdk::Result {
//!         if let Some(chat) = &timer.chat {
//!             messaging::send(chat, &format!("Reminder: {}", timer.payload))?;
//!         }
//!         Ok(())
//!     }
//! }
//! # miniapp_sdk::bot!(Reminder);
//! ```

use std::time::Duration;

use crate::Error;
use crate::bindings::miniapp::platform::schedule as types;
use crate::sys::schedule as wit;

pub use types::Timer as PendingTimer;

/// Fires once at `at_ms` (unix milliseconds; a past time fires at once) in
/// `chat`, handing back `payload`; with `for_current_user` the event names
/// the user who caused the current event. Returns the timer's id.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("schedule");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// let tomorrow_9 = 1_767_690_000_000; // unix ms
/// miniapp_sdk::schedule::at("chat-1", tomorrow_9, "standup", false)?;
/// # Ok(()) }).unwrap();
/// ```
pub fn at(chat: &str, at_ms: u64, payload: &str, for_current_user: bool) -> Result<String, Error> {
    wit::set_at(chat, at_ms, payload, for_current_user)
}

/// Fires once `delay` from now; as [`at`].
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("schedule");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// use std::time::Duration;
/// miniapp_sdk::schedule::after("chat-1", Duration::from_secs(600), "stretch", true)?;
/// # Ok(()) }).unwrap();
/// ```
pub fn after(chat: &str, delay: Duration, payload: &str, for_current_user: bool) -> Result<String, Error> {
    let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    wit::set_after(chat, ms, payload, for_current_user)
}

/// Fires on every slot of `cron` (5 fields, UTC, e.g. `"0 9 * * 1-5"`)
/// until cancelled; as [`at`]. The timer keeps its id across firings.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("schedule");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// miniapp_sdk::schedule::cron("chat-1", "0 9 * * 1-5", "standup", false)?;
/// # Ok(()) }).unwrap();
/// ```
pub fn cron(chat: &str, cron: &str, payload: &str, for_current_user: bool) -> Result<String, Error> {
    wit::set_cron(chat, cron, payload, for_current_user)
}

/// Cancels a pending timer of this app.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("schedule");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// use std::time::Duration;
/// use miniapp_sdk::schedule;
/// let id = schedule::after("chat-1", Duration::from_secs(60), "tea", false)?;
/// schedule::cancel(&id)?;
/// # Ok(()) }).unwrap();
/// ```
pub fn cancel(id: &str) -> Result<(), Error> {
    wit::cancel(id)
}

/// This app's pending timers (in `chat`, or in every chat), soonest
/// first, at most 100.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("schedule");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// for timer in miniapp_sdk::schedule::list(Some("chat-1"))? {
///     println!("{} at {}: {}", timer.id, timer.due_at, timer.payload);
/// }
/// # Ok(()) }).unwrap();
/// ```
pub fn list(chat: Option<&str>) -> Result<Vec<PendingTimer>, Error> {
    wit::pending(chat)
}
