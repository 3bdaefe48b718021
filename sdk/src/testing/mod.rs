//! Run a mini-app's handlers natively, with plain `cargo test`: no host,
//! no wasm. (On every target but `wasm32`; on `wasm32` the SDK calls the
//! host and this module does not exist.)
//!
//! A [`Harness`] is an in-memory host for one app: it delivers events to
//! a [`Bot`] (and requests to a [`WebApp`]), and every capability call
//! the handler makes goes to a fake with the host's rules, taken from
//! `runtime/src/capabilities/*/`:
//!
//! - **Grants.** A call without its grant answers [`Error::Denied`] (a
//!   line `denied: <grant> (not granted)` in [`Harness::logs`]), never a
//!   panic. Grant with [`Harness::grant`].
//! - **Consent.** `identity.profile`, `identity.phone` and `notify` also
//!   need the user's consent ([`Harness::consent`]); without it
//!   [`Error::ConsentRequired`].
//! - **Limits and quotas.** Message text, buttons, keys and values,
//!   batches, titles, payloads, timers, files, publishes, signature
//!   requests, the message budgets (20 per invocation, 60 per chat per
//!   minute) and the storage, timer and file quotas, with the host's
//!   error and detail (`too-large: storage key is 300 bytes; the limit is
//!   256`). See [`crate::limits`]; change the per-app ones with
//!   [`Harness::limits`].
//! - **One transaction per invocation.** The handler works on a copy of
//!   the state (storage, messages, invoices, payouts, signature requests,
//!   timers, files, publishes) and reads its own writes; the copy is kept
//!   when it returns `Ok` and dropped when it returns `Err` or panics
//!   (a panic is the host's trap: the harness catches it and answers
//!   `Err("guest trapped: …")`). Logs, outbound HTTP requests and rate
//!   windows stay either way, as on the host.
//! - **Chats.** The chat of an event is a chat the app is installed in,
//!   with the event's user as a member ([`Harness::member`] adds more);
//!   the app may act there, in chats it was installed in
//!   ([`Harness::install`]), and in the current user's direct chat
//!   ([`direct_chat`]); anything else is `not-found` (or `denied` for
//!   `schedule` and `pages`).
//! - **No current user** in timer, webhook and chat lifecycle events, as
//!   on the host.
//!
//! Users are named by the test (`"alice"`): the name is the app-scoped id
//! the app sees. Ids the fakes make are `msg-1`, `inv-2`, `sig-3`, … The
//! clock starts at [`START_MS`] and moves only with [`Harness::advance`].
//!
//! ```
//! use miniapp_sdk::testing::{Bucket, Harness};
//! use miniapp_sdk::{Bot, ButtonPress, Error, Message, messaging, storage};
//!
//! struct Counter;
//!
//! impl Bot for Counter {
//!     fn on_message(msg: Message) -> miniapp_sdk::Result {
//!         if msg.command("/counter").is_some() {
//!             messaging::send_with_buttons(&msg.chat, "0", &[&[("+1", "inc")]])?;
//!         }
//!         Ok(())
//!     }
//!     fn on_button(press: ButtonPress) -> miniapp_sdk::Result {
//!         let n = storage::chat().increment("n", 1)?;
//!         messaging::edit_message(&press.message, &messaging::with_buttons(&n.to_string(), &[vec![("+1".into(), "inc".into())]]))?;
//!         Ok(())
//!     }
//! }
//!
//! // Without `storage`, a press fails with `denied`, and nothing is stored.
//! let mut t = Harness::new().grant("messaging.send");
//! t.message::<Counter>("chat-1", "alice", "/counter").unwrap();
//! let counter = t.last_sent().unwrap();
//! assert_eq!(counter.labels(), ["+1"]);
//! let err = t.press::<Counter>(&counter.id, "bob", "+1").unwrap_err();
//! assert_eq!(err.error(), Some(&Error::Denied));
//!
//! let mut t = t.grant("storage");
//! t.press::<Counter>(&counter.id, "bob", "+1").unwrap();
//! t.press::<Counter>(&counter.id, "alice", "+1").unwrap();
//! assert_eq!(t.sent()[0].text, "2");
//! assert!(t.sent()[0].edited);
//! assert_eq!(t.storage(Bucket::chat("chat-1")).get_str("n").as_deref(), Some("2"));
//! ```
//!
//! [`Bot`]: crate::Bot
//! [`WebApp`]: crate::WebApp
//! [`Error::Denied`]: crate::Error::Denied
//! [`Error::ConsentRequired`]: crate::Error::ConsentRequired

pub(crate) mod fake;
mod harness;
mod state;
mod text;
mod view;

pub use harness::{Harness, START_MS};
pub use view::{
    Bucket, File, Invoice, InvoiceStatus, Limits, LogLine, Payout, PayoutKind, Publish, Sent, SentKind,
    SignatureRequest, SignatureState, StorageView,
};

/// The id of `user`'s direct chat with the app in the harness, where
/// [`crate::messaging::send_direct`] and [`crate::notify::send`] write.
///
/// ```
/// assert_eq!(miniapp_sdk::testing::direct_chat("alice"), "direct:alice");
/// ```
pub fn direct_chat(user: &str) -> String {
    format!("direct:{user}")
}

/// The fake behind [`crate::http::Request::send`]: the grant
/// `http:<host[:port]>`, then the harness's stubbed response.
pub(crate) fn fake_http(
    request: &crate::http::Request,
    target: &crate::http::Target,
) -> Result<crate::http::Response, crate::http::Error> {
    use crate::http::Error;
    state::with_current(|inv| {
        inv.count_host_call();
        inv.world.http_requests.push(request.clone());
        if !inv.world.grants.iter().any(|g| target.granted_by(g)) {
            inv.deny(&format!("http:{}", target.host), "not granted");
            return Err(Error::Denied("HTTP-request-denied".into()));
        }
        let stub = inv.world.http.iter().rev().find(|s| {
            s.url == request.url
                && s.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(&request.method))
        });
        match stub {
            Some(s) if s.response.body.len() > crate::limits::MAX_HTTP_RESPONSE_BYTES => Err(Error::TooLarge(format!(
                "the response body is over {} bytes",
                crate::limits::MAX_HTTP_RESPONSE_BYTES
            ))),
            Some(s) => Ok(s.response.clone()),
            None => Err(Error::Failed(format!(
                "no response stubbed for {} {} (miniapp_sdk::testing::Harness::http)",
                request.method, request.url
            ))),
        }
    })
    .unwrap_or_else(|| Err(Error::Failed(state::NO_INVOCATION.into())))
}
