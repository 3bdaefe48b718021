//! Live pages: push to your own pages open in a chat. Needs the `pages`
//! capability.
//!
//! Publish from a bot handler or a web request; the app's pages open in
//! that chat receive it at once, as server-sent events on the app's own
//! origin. A page listens with the browser's `EventSource` (same origin, so
//! its session cookie goes along):
//!
//! ```js
//! const events = new EventSource('/.miniapp/events');
//! events.onmessage = (e) => render(JSON.parse(e.data)); // one per publish
//! events.addEventListener('reset', () => reload());     // missed too much: reload the state
//! events.addEventListener('end', () => events.close()); // the session is over
//! ```
//!
//! A publish is part of the invocation's transaction: pages get it only
//! once the handler returns `Ok` (a web request: once it answered), and a
//! handler that fails publishes nothing. Pages get pushes in commit order,
//! at most once each; a page that reconnects (the browser does it by
//! itself) is sent what it missed, or a `reset` event when that is more
//! than 1,000 pushes or older than an hour. Only the app's own pages in
//! that chat see a push, never the chat's members or another app.
//!
//! # Errors
//!
//! [`Error::Denied`] without the grant or for a chat where the app is not
//! installed, [`Error::TooLarge`] for data over 16 KiB, [`Error::Invalid`]
//! for empty data, [`Error::RateLimited`] past 20 publishes in one
//! invocation or 300 per minute in one chat.
//!
//! ```no_run
//! use miniapp_sdk::web::{Request, Response, WebApp};
//! use miniapp_sdk::{identity, pages};
//!
//! struct Board;
//!
//! impl WebApp for Board {
//!     fn serve(request: Request) -> Response {
//!         if request.method == "POST" {
//!             let chat = identity::current_chat().unwrap_or_default();
//!             let _ = pages::publish(&chat, r#"{"changed":true}"#);
//!         }
//!         Response::text("ok")
//!     }
//! }
//! # miniapp_sdk::web_app!(Board);
//! ```

use crate::Error;
use crate::sys::pages as wit;

/// The path a page's `EventSource` opens on the app's origin.
///
/// ```
/// assert_eq!(miniapp_sdk::pages::EVENTS_PATH, "/.miniapp/events");
/// ```
pub const EVENTS_PATH: &str = "/.miniapp/events";

/// Largest `data` of one publish, in bytes.
///
/// ```
/// assert_eq!(miniapp_sdk::pages::MAX_DATA_BYTES, 16 * 1024);
/// ```
pub const MAX_DATA_BYTES: usize = 16 << 10;

/// Publishes `data` to the app's pages open in `chat` (a chat where the app
/// is installed), once the invocation commits.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("pages");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// miniapp_sdk::pages::publish("chat-1", r#"{"count":3}"#)?;
/// # Ok(()) }).unwrap();
/// ```
pub fn publish(chat: &str, data: &str) -> Result<(), Error> {
    wit::publish(chat, data)
}
