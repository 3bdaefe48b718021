//! Errors: [`Error`], what a host call answers, and [`HandlerError`], what
//! a handler returns.

use std::fmt;

/// What a capability call answers when it did not do what was asked: a
/// value to handle, never a trap. [`Error::code`] lists every code with
/// what it means and how to handle it; [`Error::describe`] is what the
/// app's log shows. `?` turns it into a [`HandlerError`].
///
/// ```
/// use miniapp_sdk::{Error, messaging};
///
/// fn greet(chat: &str) -> miniapp_sdk::Result {
///     match messaging::send(chat, "Hello!") {
///         Ok(_) => Ok(()),
///         Err(Error::Denied) => Ok(()), // not granted: stay quiet
///         Err(e @ Error::RateLimited) => Err(e.into()), // try again later
///         Err(e) => Err(e.into()),
///     }
/// }
/// ```
pub use crate::bindings::miniapp::platform::types::Error;

impl Error {
    /// A short, stable code for the error: `denied`, `consent-required`,
    /// `rate-limited`, `quota-exceeded`, `too-large`, `invalid`, `not-found`
    /// or `unavailable`.
    ///
    /// | code | means | what to do |
    /// |---|---|---|
    /// | `denied` | the operator did not grant the capability the call needs (or, for `schedule` and `pages`, the chat is not open to the app) | degrade: do without it, or tell the user the app lacks the permission; retrying does not help |
    /// | `consent-required` | the user has not consented to the scope (`identity.profile`, `identity.phone`, `notify`) | ask them to allow it in the client, fall back (e.g. write in the chat instead of privately) |
    /// | `rate-limited` | too many calls of this kind (messages per invocation or per chat per minute, timers, files, publishes, signature requests, notifications) | send fewer; the event's next run starts a fresh budget |
    /// | `quota-exceeded` | a stored quota is used up (storage keys/bytes, pending timers, file bytes) | delete something, or ask the operator for a larger quota |
    /// | `too-large` | an argument is over a limit; the text says which and the limit (see [`crate::limits`]) | cut it down before calling |
    /// | `invalid` | an argument is malformed; the text says why | fix the argument; retrying the same call fails again |
    /// | `not-found` | the chat, message, user, key, file or invoice does not exist or is not visible to the app; also no current user/chat | treat as absent |
    /// | `unavailable` | the host could not do it now | return the error: the event is delivered again later |
    ///
    /// ```
    /// use miniapp_sdk::Error;
    ///
    /// assert_eq!(Error::Denied.code(), "denied");
    /// assert_eq!(Error::TooLarge("message text is 20000 bytes; the limit is 16384".into()).code(), "too-large");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Error::Denied => "denied",
            Error::ConsentRequired => "consent-required",
            Error::RateLimited => "rate-limited",
            Error::QuotaExceeded => "quota-exceeded",
            Error::TooLarge(_) => "too-large",
            Error::Invalid(_) => "invalid",
            Error::NotFound => "not-found",
            Error::Unavailable(_) => "unavailable",
        }
    }

    /// The host's explanation, for the errors that carry one
    /// (`too-large`, `invalid`, `unavailable`).
    ///
    /// ```
    /// use miniapp_sdk::Error;
    ///
    /// let e = Error::Invalid("storage key is empty".into());
    /// assert_eq!(e.detail(), Some("storage key is empty"));
    /// assert_eq!(Error::NotFound.detail(), None);
    /// ```
    pub fn detail(&self) -> Option<&str> {
        match self {
            Error::TooLarge(d) | Error::Invalid(d) | Error::Unavailable(d) => Some(d),
            _ => None,
        }
    }

    /// The code and the host's explanation, as the app's log shows them:
    /// `too-large: message text is 20000 bytes; the limit is 16384`, or
    /// just `denied`.
    ///
    /// ```
    /// use miniapp_sdk::Error;
    ///
    /// assert_eq!(Error::TooLarge("storage key is 300 bytes; the limit is 256".into()).describe(),
    ///            "too-large: storage key is 300 bytes; the limit is 256");
    /// assert_eq!(Error::Denied.describe(), "denied");
    /// ```
    pub fn describe(&self) -> String {
        match self.detail() {
            Some(detail) => format!("{}: {detail}", self.code()),
            None => self.code().to_string(),
        }
    }
}

/// What a handler returns when it fails: a message for the app's log,
/// and the platform [`Error`] behind it, if one was.
///
/// Made with `?` from an [`Error`] (keeping the host's detail, so the log
/// says `too-large: message text is 20000 bytes; the limit is 16384`),
/// from a `String` or `&str`, from a config or HTTP error, or with
/// [`HandlerError::new`]. The host writes
/// `handler returned an error: <message>` in the app's log, stores
/// nothing the invocation changed, and delivers the event again later.
///
/// ```
/// use miniapp_sdk::{Bot, Message, messaging, storage};
///
/// struct Counter;
///
/// impl Bot for Counter {
///     fn on_message(msg: Message) -> miniapp_sdk::Result {
///         let n = storage::chat().increment("messages", 1)?;
///         if msg.command("/count").is_some() {
///             messaging::send(&msg.chat, &n.to_string())?;
///         }
///         if n < 0 {
///             return Err("the counter went negative".into());
///         }
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    message: String,
    error: Option<Error>,
}

impl HandlerError {
    /// An error with `message` and no platform error behind it.
    ///
    /// ```
    /// let e = miniapp_sdk::HandlerError::new("unknown poll");
    /// assert_eq!(e.to_string(), "unknown poll");
    /// ```
    pub fn new(message: impl Into<String>) -> HandlerError {
        HandlerError {
            message: message.into(),
            error: None,
        }
    }

    /// The message, as the app's log shows it.
    ///
    /// ```
    /// let e = miniapp_sdk::HandlerError::from(miniapp_sdk::Error::Denied);
    /// assert_eq!(e.message(), "denied");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The platform error behind it, if it came from a host call.
    ///
    /// ```
    /// use miniapp_sdk::{Error, HandlerError};
    ///
    /// let e = HandlerError::from(Error::RateLimited);
    /// assert_eq!(e.error(), Some(&Error::RateLimited));
    /// assert_eq!(HandlerError::from("no such option").error(), None);
    /// ```
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// The same error with `context` in front of its message
    /// (`context: message`), keeping the platform error.
    ///
    /// ```
    /// use miniapp_sdk::{Error, HandlerError};
    ///
    /// let e = HandlerError::from(Error::QuotaExceeded).context("cannot save the poll");
    /// assert_eq!(e.to_string(), "cannot save the poll: quota-exceeded");
    /// ```
    pub fn context(mut self, context: impl fmt::Display) -> HandlerError {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandlerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.as_ref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<Error> for HandlerError {
    fn from(error: Error) -> HandlerError {
        HandlerError {
            message: error.describe(),
            error: Some(error),
        }
    }
}

impl From<String> for HandlerError {
    fn from(message: String) -> HandlerError {
        HandlerError::new(message)
    }
}

impl From<&str> for HandlerError {
    fn from(message: &str) -> HandlerError {
        HandlerError::new(message)
    }
}

impl From<HandlerError> for String {
    fn from(error: HandlerError) -> String {
        error.message
    }
}

/// Adds context to a failed host call before `?` turns it into a
/// [`HandlerError`].
///
/// ```
/// use miniapp_sdk::{Context, Error};
///
/// fn save() -> miniapp_sdk::Result {
///     Err(Error::QuotaExceeded).context("cannot save the list")?;
///     Ok(())
/// }
/// assert_eq!(save().unwrap_err().to_string(), "cannot save the list: quota-exceeded");
/// ```
pub trait Context<T> {
    /// On `Err`, a [`HandlerError`] whose message starts with `context`.
    fn context(self, context: impl fmt::Display) -> Result<T, HandlerError>;
}

impl<T, E: Into<HandlerError>> Context<T> for Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T, HandlerError> {
        self.map_err(|e| e.into().context(context))
    }
}

/// What a handler returns: `Ok(())`, or a [`HandlerError`]. The second
/// parameter lets it stand for any result (`miniapp_sdk::Result<u64, Error>`).
///
/// ```
/// fn reply(chat: &str) -> miniapp_sdk::Result {
///     miniapp_sdk::messaging::send(chat, "hi")?;
///     Ok(())
/// }
/// ```
pub type Result<T = (), E = HandlerError> = std::result::Result<T, E>;
