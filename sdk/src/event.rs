//! Chat events as the SDK hands them to a [`Bot`].

use crate::bindings::exports::miniapp::platform::handler::{self as wit, Event};

/// A message posted in a chat where the app is installed.
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
    pub fn command(&self, name: &str) -> Option<&str> {
        let rest = self.text.strip_prefix(name)?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix(' ')
        }
    }
}

/// A user pressed an inline button under one of this app's messages.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureStatus {
    /// The document was signed.
    Signed,
    /// The user declined.
    Declined,
}

/// A user answered one of this app's signature requests.
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
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text, if it is.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
}

/// Someone became a member of a chat where the app is installed: added by
/// a member, or accepting an invitation.
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
    pub fn was_removed(&self) -> bool {
        self.removed_by.is_some()
    }
}

/// An app was installed in a chat where the app is installed — possibly
/// this app itself, just installed ([`AppInstalled::this_app`]).
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
