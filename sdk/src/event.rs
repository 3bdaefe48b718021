//! Chat events as the SDK hands them to a [`Bot`].

use crate::bindings::exports::miniapp::platform::handler::{self as wit, Event};

/// A message posted in a chat where the app is installed.
///
/// ```
/// use miniapp_sdk::Message;
/// let msg = Message { chat: "chat-1".into(), id: "msg-1".into(), text: "/echo hi".into(), files: Vec::new() };
/// assert_eq!(msg.command("/echo"), Some("hi"));
/// ```
#[derive(Debug, Clone)]
pub struct Message {
    /// The chat it was posted in.
    pub chat: String,
    /// Its id.
    pub id: String,
    /// Its text (the caption, when it carries files).
    pub text: String,
    /// The files it carries, in order; read them with
    /// [`crate::files::read_all`] (needs the `files` capability).
    pub files: Vec<crate::FileInfo>,
}

impl Message {
    /// If the text is the command `name` (e.g. `"/echo"`), its argument text
    /// (possibly empty); otherwise `None`. `"/echo hi"` gives `Some("hi")`.
    ///
    /// The addressed form `/echo@bot-name hi` matches too, whatever the
    /// name, and gives the same argument. As in Telegram's Bot API
    /// ("Commands": `/command@botname` in groups), it picks one app in a
    /// chat with several: the host delivers it only to the app so named.
    /// The name runs to the first whitespace; end or a space must follow.
    ///
    /// ```
    /// # let msg = miniapp_sdk::Message { chat: "c".into(), id: "m".into(), text: "/echo hi".into(), files: Vec::new() };
    /// assert_eq!(msg.command("/echo"), Some("hi"));
    /// assert_eq!(msg.command("/ech"), None);
    /// # let msg = miniapp_sdk::Message { text: "/echo@echo-bot hi".into(), ..msg };
    /// // Sent as "/echo@echo-bot hi":
    /// assert_eq!(msg.command("/echo"), Some("hi"));
    /// ```
    pub fn command(&self, name: &str) -> Option<&str> {
        let mut rest = self.text.strip_prefix(name)?;
        if let Some(addressed) = rest.strip_prefix('@') {
            let end = addressed.find(char::is_whitespace).unwrap_or(addressed.len());
            if end == 0 {
                return None;
            }
            rest = &addressed[end..];
        }
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix(' ')
        }
    }
}

/// A user pressed an inline button under one of this app's messages.
///
/// ```no_run
/// use miniapp_sdk::{Bot, ButtonPress, messaging};
/// struct Votes;
/// impl Bot for Votes {
///     fn on_button(press: ButtonPress) -> miniapp_sdk::Result {
///         messaging::send(&press.chat, &format!("{} chose {}", press.user, press.data))?;
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ButtonPress {
    /// The chat the message is in.
    pub chat: String,
    /// The message the button belongs to.
    pub message: String,
    /// App-scoped id of the user who pressed it.
    pub user: String,
    /// The button's `data`, exactly as the app set it.
    pub data: String,
}

/// An invoice of this app was paid.
///
/// ```no_run
/// use miniapp_sdk::{Bot, PaymentReceived, messaging, storage};
/// struct Shop;
/// impl Bot for Shop {
///     fn on_payment(p: PaymentReceived) -> miniapp_sdk::Result {
///         // De-duplicate on the payment id: a retried event comes again.
///         if storage::app().compare_and_swap(&format!("paid:{}", p.id), None, b"1")? {
///             messaging::send(&p.chat, &format!("Thanks for {} {}", p.amount, p.currency))?;
///         }
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct PaymentReceived {
    /// Unique per payment: de-duplicate on it.
    pub id: String,
    /// The paid invoice.
    pub invoice: String,
    /// The chat the invoice was created in.
    pub chat: String,
    /// Amount in minor units.
    pub amount: u64,
    /// ISO currency code.
    pub currency: String,
}

/// How a user answered a signature request.
///
/// ```
/// use miniapp_sdk::SignatureStatus;
/// assert_ne!(SignatureStatus::Signed, SignatureStatus::Declined);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureStatus {
    /// The document was signed.
    Signed,
    /// The user declined.
    Declined,
}

/// A user answered one of this app's signature requests.
///
/// ```no_run
/// use miniapp_sdk::{Bot, SignatureResult, SignatureStatus, messaging};
/// struct Notary;
/// impl Bot for Notary {
///     fn on_signature(r: SignatureResult) -> miniapp_sdk::Result {
///         if r.status == SignatureStatus::Signed {
///             messaging::send(&r.chat, &format!("signed {}", r.id))?;
///         }
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SignatureResult {
    /// The signature request's id.
    pub id: String,
    /// The chat it was requested in.
    pub chat: String,
    /// App-scoped id of the signer.
    pub user: String,
    /// The answer.
    pub status: SignatureStatus,
}

/// A timer of this app fell due (see [`crate::schedule`]). It runs on the
/// app's own initiative: there is no current user (no
/// [`crate::messaging::send_direct`]); to write to [`Timer::user`], use
/// [`crate::notify`], which needs their consent.
///
/// ```no_run
/// use miniapp_sdk::{Bot, Timer, messaging};
/// struct Reminder;
/// impl Bot for Reminder {
///     fn on_timer(t: Timer) -> miniapp_sdk::Result {
///         if let Some(chat) = &t.chat {
///             messaging::send(chat, &t.payload)?;
///         }
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Timer {
    /// The timer's id (a recurring timer keeps it across firings), or the
    /// schedule's name for a schedule of the manifest's `[schedules]`.
    pub id: String,
    /// Its chat; `None` for a manifest schedule.
    pub chat: Option<String>,
    /// App-scoped id of the user it was set for, if any.
    pub user: Option<String>,
    /// The payload it was set with (empty for a manifest schedule).
    pub payload: String,
    /// When it was due, unix milliseconds (in the past when it fires late).
    pub scheduled_at: u64,
    /// Whether it fires again.
    pub recurring: bool,
}

/// A signed request reached one of this app's webhooks
/// (`/hooks/{app}/{name}`, declared in the manifest's `[webhooks]`). The
/// host checked its signature and timestamp and refused replays before
/// handing it over.
///
/// ```no_run
/// use miniapp_sdk::{Bot, Webhook, log};
/// struct Tracker;
/// impl Bot for Tracker {
///     fn on_webhook(hook: Webhook) -> miniapp_sdk::Result {
///         let body = hook.text().ok_or("the body is not text")?;
///         log::info(&format!("{} {}: {body}", hook.name, hook.header("content-type").unwrap_or("?")));
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The webhook's name.
    pub name: String,
    /// The HTTP method, upper case.
    pub method: String,
    /// The path after `/hooks/{app}/{name}` (`""` or `/…`), with the query.
    pub path: String,
    /// `content-type`, `user-agent` and `x-*` headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body (at most 256 KiB).
    pub body: Vec<u8>,
    /// When the host accepted it, unix milliseconds.
    pub received_at: u64,
}

impl Webhook {
    /// The first value of header `name` (lower case), if sent.
    ///
    /// ```
    /// let hook = miniapp_sdk::Webhook { name: "carrier".into(), method: "POST".into(), path: String::new(), headers: vec![("x-id".into(), "7".into())], body: b"ok".to_vec(), received_at: 0 };
    /// assert_eq!(hook.header("x-id"), Some("7"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text, if it is.
    ///
    /// ```
    /// let hook = miniapp_sdk::Webhook { name: "carrier".into(), method: "POST".into(), path: String::new(), headers: vec![("x-id".into(), "7".into())], body: b"ok".to_vec(), received_at: 0 };
    /// assert_eq!(hook.text(), Some("ok"));
    /// ```
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
}

/// Someone became a member of a chat where the app is installed: added by
/// a member, or accepting an invitation.
///
/// ```no_run
/// use miniapp_sdk::{Bot, MemberJoined, messaging};
/// struct Greeter;
/// impl Bot for Greeter {
///     fn on_member_joined(j: MemberJoined) -> miniapp_sdk::Result {
///         messaging::send(&j.chat, "Welcome!")?;
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct MemberJoined {
    /// The chat.
    pub chat: String,
    /// App-scoped id of the new member.
    pub user: String,
    /// App-scoped id of the member who added or invited them.
    pub added_by: Option<String>,
}

/// A member left a chat where the app is installed, or was removed from it
/// by the chat's creator.
///
/// ```
/// let left = miniapp_sdk::MemberLeft { chat: "c".into(), user: "bob".into(), removed_by: None };
/// assert!(!left.was_removed());
/// ```
#[derive(Debug, Clone)]
pub struct MemberLeft {
    /// The chat.
    pub chat: String,
    /// App-scoped id of the former member.
    pub user: String,
    /// App-scoped id of the member who removed them; `None` when they left
    /// on their own.
    pub removed_by: Option<String>,
}

impl MemberLeft {
    /// Whether they were removed (rather than leaving on their own).
    ///
    /// ```
    /// let left = miniapp_sdk::MemberLeft { chat: "c".into(), user: "bob".into(), removed_by: Some("alice".into()) };
    /// assert!(left.was_removed());
    /// ```
    pub fn was_removed(&self) -> bool {
        self.removed_by.is_some()
    }
}

/// An app was installed in a chat where the app is installed — possibly
/// this app itself, just installed ([`AppInstalled::this_app`]).
///
/// ```no_run
/// use miniapp_sdk::{AppInstalled, Bot, messaging};
/// struct Hello;
/// impl Bot for Hello {
///     fn on_app_installed(a: AppInstalled) -> miniapp_sdk::Result {
///         if a.this_app {
///             messaging::send(&a.chat, "Hi! Try /help.")?;
///         }
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct AppInstalled {
    /// The chat.
    pub chat: String,
    /// The installed app's id.
    pub app: String,
    /// Whether the installed app is this one.
    pub this_app: bool,
    /// App-scoped id of the member who installed it.
    pub by: String,
}

/// Another app was uninstalled from a chat where this app is installed.
/// (An app uninstalled itself hears nothing more of the chat.)
///
/// ```no_run
/// use miniapp_sdk::{AppRemoved, Bot, log};
/// struct Watcher;
/// impl Bot for Watcher {
///     fn on_app_removed(r: AppRemoved) -> miniapp_sdk::Result {
///         log::info(&format!("{} left {}", r.app, r.chat));
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct AppRemoved {
    /// The chat.
    pub chat: String,
    /// The uninstalled app's id.
    pub app: String,
    /// App-scoped id of the member who uninstalled it.
    pub by: String,
}

/// A chat bot. Every method has a default that ignores the event, so a bot
/// implements only what it handles. An `Err` ends up in the app's log as
/// `handler returned an error: <message>` (a [`crate::HandlerError`] made
/// from an [`crate::Error`] keeps the host's detail, e.g. `too-large:
/// message text is 20000 bytes; the limit is 16384`).
///
/// The host hands a bot one event at a time per (chat, app): the next
/// event of the same chat waits until this one has committed or failed,
/// so a handler never races itself within a chat (it may run beside the
/// same app's handlers for other chats, timers and webhooks).
///
/// Each call is one transaction: what the handler changes through the host
/// (storage, messages, invoices, refunds, payouts, signature requests) is
/// stored all at once when it returns `Ok`, and dropped when it returns
/// `Err`, panics or runs out of time — then the event comes again later
/// ([`crate::identity::current_event_attempt`] tells). If storage it read
/// changed before it could be stored, the same event is handled again from
/// the start. See [`crate::storage`] for what that means for reads.
///
/// ```no_run
/// use miniapp_sdk::{Bot, Message, messaging};
/// struct Echo;
/// impl Bot for Echo {
///     fn on_message(msg: Message) -> miniapp_sdk::Result {
///         if let Some(text) = msg.command("/echo") {
///             messaging::send(&msg.chat, text)?;
///         }
///         Ok(())
///     }
/// }
/// miniapp_sdk::bot!(Echo);
/// ```
pub trait Bot {
    /// A message was posted in a chat where the app is installed.
    fn on_message(message: Message) -> crate::Result {
        let _ = message;
        Ok(())
    }
    /// A user pressed one of this app's inline buttons.
    fn on_button(press: ButtonPress) -> crate::Result {
        let _ = press;
        Ok(())
    }
    /// An invoice of this app was paid.
    fn on_payment(payment: PaymentReceived) -> crate::Result {
        let _ = payment;
        Ok(())
    }
    /// A user answered a signature request.
    fn on_signature(result: SignatureResult) -> crate::Result {
        let _ = result;
        Ok(())
    }
    /// A timer of this app fell due.
    fn on_timer(timer: Timer) -> crate::Result {
        let _ = timer;
        Ok(())
    }
    /// A signed request reached one of this app's webhooks. An `Err` (or a
    /// panic) has the event delivered again later, like any other.
    fn on_webhook(hook: Webhook) -> crate::Result {
        let _ = hook;
        Ok(())
    }
    /// Someone joined a chat where the app is installed. There is no
    /// current user in this event: nobody addressed the app.
    fn on_member_joined(joined: MemberJoined) -> crate::Result {
        let _ = joined;
        Ok(())
    }
    /// A member left, or was removed from, a chat where the app is
    /// installed. There is no current user in this event.
    fn on_member_left(left: MemberLeft) -> crate::Result {
        let _ = left;
        Ok(())
    }
    /// An app — this one included, when it has just been installed — was
    /// installed in a chat where the app is. There is no current user in
    /// this event.
    fn on_app_installed(installed: AppInstalled) -> crate::Result {
        let _ = installed;
        Ok(())
    }
    /// Another app was uninstalled from a chat where this one is. There is
    /// no current user in this event.
    fn on_app_removed(removed: AppRemoved) -> crate::Result {
        let _ = removed;
        Ok(())
    }
}

/// Routes a raw event to the right [`Bot`] method; used by [`crate::bot!`].
pub fn dispatch<B: Bot>(event: Event) -> Result<(), String> {
    let handled = match event {
        Event::Message(m) => B::on_message(Message {
            chat: m.chat,
            id: m.message,
            text: m.text,
            files: m.files,
        }),
        Event::Button(b) => B::on_button(ButtonPress {
            chat: b.chat,
            message: b.message,
            user: b.user,
            data: b.data,
        }),
        Event::Payment(p) => B::on_payment(PaymentReceived {
            id: p.id,
            invoice: p.invoice,
            chat: p.chat,
            amount: p.amount,
            currency: p.currency,
        }),
        Event::Signature(s) => B::on_signature(SignatureResult {
            id: s.id,
            chat: s.chat,
            user: s.user,
            status: match s.status {
                wit::SignatureStatus::Signed => SignatureStatus::Signed,
                wit::SignatureStatus::Declined => SignatureStatus::Declined,
            },
        }),
        Event::Timer(t) => B::on_timer(Timer {
            id: t.id,
            chat: t.chat,
            user: t.user,
            payload: t.payload,
            scheduled_at: t.scheduled_at,
            recurring: t.recurring,
        }),
        Event::Webhook(w) => B::on_webhook(Webhook {
            name: w.name,
            method: w.method,
            path: w.path,
            headers: w.headers,
            body: w.body,
            received_at: w.received_at,
        }),
        Event::MemberJoined(m) => B::on_member_joined(MemberJoined {
            chat: m.chat,
            user: m.user,
            added_by: m.by,
        }),
        Event::MemberLeft(m) => B::on_member_left(MemberLeft {
            chat: m.chat,
            user: m.user,
            removed_by: m.by,
        }),
        Event::AppInstalled(a) => B::on_app_installed(AppInstalled {
            chat: a.chat,
            app: a.app,
            this_app: a.this_app,
            by: a.by,
        }),
        Event::AppRemoved(a) => B::on_app_removed(AppRemoved {
            chat: a.chat,
            app: a.app,
            by: a.by,
        }),
    };
    // The host writes this text in the app's log.
    handled.map_err(String::from)
}

#[cfg(test)]
mod tests {
    use super::Message;

    fn message(text: &str) -> Message {
        Message {
            chat: "chat-1".into(),
            id: "msg-1".into(),
            text: text.into(),
            files: Vec::new(),
        }
    }

    #[test]
    fn a_command_gives_its_argument_text() {
        assert_eq!(message("/echo hi there").command("/echo"), Some("hi there"));
        assert_eq!(message("/echo").command("/echo"), Some(""));
        assert_eq!(message("/echo  hi").command("/echo"), Some(" hi"));
        assert_eq!(message("/echoes hi").command("/echo"), None);
        assert_eq!(message("/echo\nhi").command("/echo"), None);
        assert_eq!(message("echo hi").command("/echo"), None);
    }

    #[test]
    fn the_addressed_form_gives_the_same_argument() {
        let cancel = |text: &str| message(text).command("/cancel").map(str::to_string);
        assert_eq!(cancel("/cancel@reminder-bot abc").as_deref(), Some("abc"));
        assert_eq!(cancel("/cancel@reminder-bot").as_deref(), Some(""));
        assert_eq!(cancel("/cancel@any_Bot  two words").as_deref(), Some(" two words"));
        assert_eq!(cancel("/cancel@").as_deref(), None, "no name");
        assert_eq!(cancel("/cancel@ abc").as_deref(), None, "no name");
        assert_eq!(
            cancel("/cancel@bot\nabc").as_deref(),
            None,
            "a line break, as in the plain form"
        );
        assert_eq!(cancel("/cancelled@bot abc").as_deref(), None);
        assert_eq!(message("/cancel@bot abc").command("/cancel@bot"), Some("abc"));
    }
}
