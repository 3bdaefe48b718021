//! Who the current user is. Needs `identity.basic`.

use crate::Error;
use crate::sys::identity as wit;

/// The app-scoped id of the user who caused the current event: stable for
/// this app, different in every other app.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("identity.basic");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// let me = miniapp_sdk::identity::current_user()?;
/// assert_eq!(me, "alice");
/// # Ok(()) }).unwrap();
/// ```
pub fn current_user() -> Result<String, Error> {
    wit::current_user()
}

/// The chat of the current event, or the chat a web app was launched from.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("identity.basic");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// assert_eq!(miniapp_sdk::identity::current_chat()?, "chat-1");
/// # Ok(()) }).unwrap();
/// ```
pub fn current_chat() -> Result<String, Error> {
    wit::current_chat()
}

/// The id of the event being handled (Telegram's `update_id`): unique per
/// event and app, the same on every retry, so handlers can de-duplicate;
/// `None` in a web request.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new();
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// let id = miniapp_sdk::identity::current_event_id().ok_or("not an event")?;
/// miniapp_sdk::log::info(&format!("handling event {id}"));
/// # Ok(()) }).unwrap();
/// ```
pub fn current_event_id() -> Option<u64> {
    wit::current_event_id()
}

/// Which delivery of the current event this is: 1 the first time, 2 on
/// the first retry after a failure, … (`None` outside an event). A failed
/// run stores nothing, so this is how a handler tells a retry.
///
/// ```no_run
/// if miniapp_sdk::identity::current_event_attempt() > Some(1) {
///     // a retry: the earlier attempt failed and stored nothing
/// }
/// ```
pub fn current_event_attempt() -> Option<u32> {
    wit::current_event_attempt()
}

/// The current user's display name. Needs `identity.profile` and the
/// user's consent (else [`Error::ConsentRequired`]).
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("identity.profile");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// use miniapp_sdk::{Error, identity};
/// let name = match identity::display_name() {
///     Ok(name) => name,
///     Err(Error::ConsentRequired) => "friend".to_string(),
///     Err(e) => return Err(e.into()),
/// };
/// assert_eq!(name, "friend");
/// # Ok(()) }).unwrap();
/// ```
pub fn display_name() -> Result<String, Error> {
    wit::display_name()
}

/// The current user's phone number. Needs `identity.phone` and consent.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("identity.phone").consent("alice", "identity.phone").profile("alice", "Alice", Some("+79990001122"));
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// let phone = miniapp_sdk::identity::phone()?;
/// assert_eq!(phone, "+79990001122");
/// # Ok(()) }).unwrap();
/// ```
pub fn phone() -> Result<String, Error> {
    wit::phone()
}

/// Asks the current user to sign `document` (shown with `title`); returns
/// the request id. The answer arrives as [`crate::Bot::on_signature`].
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("identity.sign");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// let id = miniapp_sdk::identity::request_signature("Rental agreement", b"I rent flat 4 from 1 May.")?;
/// # Ok(()) }).unwrap();
/// ```
pub fn request_signature(title: &str, document: &[u8]) -> Result<String, Error> {
    wit::request_signature(title, document)
}

/// Asks the current user to sign the file `file` (a PDF or a scan the app
/// made with [`crate::files::create`], or one it may read), shown with
/// `title`; returns the request id. The request's `document_sha256` is
/// the file's sha256; the user reads the file in the client before
/// confirming, and the answer arrives as [`crate::Bot::on_signature`].
/// Needs `identity.sign`.
///
/// # Errors
///
/// [`Error::Denied`] without the grant; [`Error::NotFound`] without a
/// current user, or for a file this app may not read or in a chat the
/// user is not a member of; [`Error::Invalid`] / [`Error::TooLarge`] for
/// a bad title (at most 200 bytes, one line); [`Error::RateLimited`] past
/// the signature requests allowed.
///
/// ```no_run
/// use miniapp_sdk::{files, identity};
///
/// fn sign_scan(chat: &str, pdf: &[u8]) -> Result<String, miniapp_sdk::Error> {
///     let file = files::create(chat, "application.pdf", pdf)?;
///     identity::request_file_signature("Application (scan)", &file.id)
/// }
/// ```
pub fn request_file_signature(title: &str, file: &str) -> Result<String, Error> {
    wit::request_file_signature(title, file)
}
