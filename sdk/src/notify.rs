//! Writing to a user outside an event — from a timer, a webhook or
//! another chat — once they allowed it (Telegram's `allows_write_to_pm`,
//! WeChat's subscription messages). Needs the `notify` capability; the
//! user allows it (or takes it back) in the client. Messages go to the
//! user's direct chat with the app.
//!
//! # Errors
//!
//! [`Error::Denied`] without the grant; [`Error::ConsentRequired`] when the
//! user has not allowed it (ask them to, and fall back to the chat);
//! [`Error::RateLimited`] past the app's notifications per user per hour
//! (10 unless the operator set another) or its message budgets;
//! [`Error::Invalid`] / [`Error::TooLarge`] as [`crate::messaging::send`].
//!
//! ```no_run
//! use miniapp_sdk::{Error, notify, messaging};
//!
//! fn remind(user: &str, chat: &str, text: &str) -> Result<(), Error> {
//!     match notify::send(user, text) {
//!         Err(Error::ConsentRequired) => messaging::send(chat, text).map(|_| ()),
//!         other => other.map(|_| ()),
//!     }
//! }
//! ```

use crate::sys::notify as wit;
use crate::{Error, OutgoingMessage};

/// Sends `text` to `user` (an app-scoped id) in their direct chat with
/// this app; returns the message's id.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("notify").consent("bob", "notify");
/// # t.run(None, None, || -> miniapp_sdk::Result {
/// miniapp_sdk::notify::send("bob", "Your parcel arrived")?;
/// # Ok(()) }).unwrap();
/// ```
pub fn send(user: &str, text: &str) -> Result<String, Error> {
    wit::send(
        user,
        &OutgoingMessage {
            text: text.to_string(),
            buttons: Vec::new(),
        },
    )
}

/// Sends `message` (text and buttons) to `user`; as [`send`].
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("notify").consent("bob", "notify");
/// # t.run(None, None, || -> miniapp_sdk::Result {
/// use miniapp_sdk::{messaging, notify};
/// notify::send_message("bob", &messaging::with_buttons("Rate us", &[vec![("👍".into(), "up".into())]]))?;
/// # Ok(()) }).unwrap();
/// ```
pub fn send_message(user: &str, message: &OutgoingMessage) -> Result<String, Error> {
    wit::send(user, message)
}

/// Whether `user` allows this app to write to them now.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("notify");
/// # t.run(None, None, || -> miniapp_sdk::Result {
/// if !miniapp_sdk::notify::allowed("bob")? {
///     // ask in the chat instead
/// }
/// # Ok(()) }).unwrap();
/// ```
pub fn allowed(user: &str) -> Result<bool, Error> {
    wit::allowed(user)
}
