//! [`Harness`]: the in-memory host a test drives.

use std::time::Duration;

use super::state::{self, Cx, HttpStub, Post, World};
use super::text;
use super::view::{
    Bucket, File, Invoice, InvoiceStatus, Limits, LogLine, Payout, Publish, Sent, SentKind, SignatureRequest,
    SignatureState, StorageView,
};
use crate::bindings::miniapp::platform::schedule::Timer as PendingTimer;
use crate::web::{Request, Response, WebApp};
use crate::{
    AppInstalled, AppRemoved, Bot, ButtonPress, FileInfo, HandlerError, MemberJoined, MemberLeft, Message,
    PaymentReceived, SignatureResult, SignatureStatus, Timer, Webhook,
};

/// Where the harness's clock starts: 2026-01-05 08:00 UTC, a Monday, in
/// unix milliseconds.
///
/// ```
/// assert_eq!(miniapp_sdk::testing::Harness::new().now_ms(), miniapp_sdk::testing::START_MS);
/// ```
pub const START_MS: u64 = 1_767_600_000_000;

/// Every grant the host knows, besides `http:<host[:port]>`.
const GRANTS: &[&str] = &[
    "messaging.send",
    "messaging.read",
    "identity.basic",
    "identity.profile",
    "identity.phone",
    "identity.sign",
    "storage",
    "payments",
    "payments.payout",
    "schedule",
    "notify",
    "pages",
    "files",
    "config",
    "webhook",
];

/// An event as delivered, kept to deliver it again ([`Harness::retry`]).
#[derive(Debug, Clone)]
enum Delivered {
    Message(Message),
    Button(ButtonPress),
    Payment(PaymentReceived),
    Signature(SignatureResult),
    Timer(Timer),
    Webhook(Webhook),
    MemberJoined(MemberJoined),
    MemberLeft(MemberLeft),
    AppInstalled(AppInstalled),
    AppRemoved(AppRemoved),
}

impl Delivered {
    fn dispatch<B: Bot>(self) -> crate::Result {
        match self {
            Delivered::Message(m) => B::on_message(m),
            Delivered::Button(b) => B::on_button(b),
            Delivered::Payment(p) => B::on_payment(p),
            Delivered::Signature(s) => B::on_signature(s),
            Delivered::Timer(t) => B::on_timer(t),
            Delivered::Webhook(w) => B::on_webhook(w),
            Delivered::MemberJoined(j) => B::on_member_joined(j),
            Delivered::MemberLeft(l) => B::on_member_left(l),
            Delivered::AppInstalled(a) => B::on_app_installed(a),
            Delivered::AppRemoved(r) => B::on_app_removed(r),
        }
    }
}

/// An in-memory host for one app: deliver events and requests, then
/// assert on what the app did. See [the module](super) for the rules.
///
/// Setting up takes `self` and returns it (`Harness::new().grant(…)`);
/// events take `&mut self` and return the handler's result.
///
/// ```
/// use miniapp_sdk::{Bot, Message, messaging};
/// use miniapp_sdk::testing::Harness;
///
/// struct Echo;
/// impl Bot for Echo {
///     fn on_message(msg: Message) -> miniapp_sdk::Result {
///         if let Some(text) = msg.command("/echo") {
///             messaging::send(&msg.chat, text)?;
///         }
///         Ok(())
///     }
/// }
///
/// let mut t = Harness::new().grant("messaging.send");
/// t.message::<Echo>("chat-1", "alice", "/echo hi").unwrap();
/// assert_eq!(t.sent()[0].text, "hi");
/// ```
#[derive(Debug)]
pub struct Harness {
    world: World,
    next_event: u64,
    last: Option<(Delivered, Cx)>,
}

impl Default for Harness {
    fn default() -> Harness {
        Harness::new()
    }
}

impl Harness {
    /// A host with nothing granted, the app named `test-app`, the default
    /// [`Limits`], and the clock at [`START_MS`].
    ///
    /// ```
    /// let t = miniapp_sdk::testing::Harness::new();
    /// assert!(t.sent().is_empty());
    /// ```
    pub fn new() -> Harness {
        Harness {
            world: World {
                app: "test-app".into(),
                now_ms: START_MS,
                ..World::default()
            },
            next_event: 0,
            last: None,
        }
    }

    /// Names the app (its id in `history` and app events, and the
    /// `@name` a message mentions in privacy mode).
    ///
    /// ```
    /// let t = miniapp_sdk::testing::Harness::new().named("echo-bot");
    /// ```
    pub fn named(mut self, app: &str) -> Harness {
        self.world.app = app.to_string();
        self
    }

    /// Grants a capability: `messaging.send`, `messaging.read`,
    /// `identity.basic`, `identity.profile`, `identity.phone`,
    /// `identity.sign`, `storage`, `payments`, `payments.payout`,
    /// `schedule`, `notify`, `pages`, `files`, `config`, `webhook` or
    /// `http:<host[:port]>`.
    ///
    /// # Panics
    ///
    /// For a grant the host does not know (the host refuses it too).
    ///
    /// ```
    /// let t = miniapp_sdk::testing::Harness::new().grant("storage").grant("http:api.example.com");
    /// ```
    pub fn grant(mut self, grant: &str) -> Harness {
        let known = GRANTS.contains(&grant) || grant.strip_prefix("http:").is_some_and(|h| !h.is_empty());
        assert!(
            known,
            "unknown grant {grant:?}; the host knows {GRANTS:?} and http:<host[:port]>"
        );
        self.world.grants.insert(grant.to_string());
        self
    }

    /// Takes a grant back (the operator approves a new version with fewer).
    ///
    /// ```
    /// let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// t.revoke("storage");
    /// ```
    pub fn revoke(&mut self, grant: &str) {
        self.world.grants.remove(grant);
    }

    /// `user` consents to `scope` (`identity.profile`, `identity.phone`,
    /// or `notify`: allows the app to write to them).
    ///
    /// ```
    /// let t = miniapp_sdk::testing::Harness::new().grant("notify").consent("alice", "notify");
    /// ```
    pub fn consent(mut self, user: &str, scope: &str) -> Harness {
        self.give_consent(user, scope);
        self
    }

    /// As [`Harness::consent`], in the middle of a test.
    ///
    /// ```
    /// let mut t = miniapp_sdk::testing::Harness::new();
    /// t.give_consent("alice", "identity.profile");
    /// ```
    pub fn give_consent(&mut self, user: &str, scope: &str) {
        self.world.consents.insert((user.to_string(), scope.to_string()));
    }

    /// `user` takes a consent back.
    ///
    /// ```
    /// let mut t = miniapp_sdk::testing::Harness::new().consent("alice", "notify");
    /// t.withdraw_consent("alice", "notify");
    /// ```
    pub fn withdraw_consent(&mut self, user: &str, scope: &str) {
        self.world.consents.remove(&(user.to_string(), scope.to_string()));
    }

    /// `user`'s display name and phone number (the name defaults to the
    /// user's id; no phone: `not-found`).
    ///
    /// ```
    /// let t = miniapp_sdk::testing::Harness::new().profile("alice", "Alice", Some("+79990000000"));
    /// ```
    pub fn profile(mut self, user: &str, name: &str, phone: Option<&str>) -> Harness {
        self.world
            .profiles
            .insert(user.to_string(), (name.to_string(), phone.map(str::to_string)));
        self
    }

    /// Sets a config value (`miniapp config set`).
    ///
    /// ```
    /// let t = miniapp_sdk::testing::Harness::new().grant("config").config("api-key", "s3cret");
    /// ```
    pub fn config(mut self, key: &str, value: &str) -> Harness {
        self.world.config.insert(key.to_string(), value.to_string());
        self
    }

    /// Runs with other limits (an operator's per-app limits).
    ///
    /// ```
    /// use miniapp_sdk::testing::{Harness, Limits};
    /// let t = Harness::new().limits(Limits { messages_per_invocation: 2, ..Limits::default() });
    /// ```
    pub fn limits(mut self, limits: Limits) -> Harness {
        self.world.limits = limits;
        self
    }

    /// Installs the app in `chat` with `members`, without an event.
    ///
    /// ```
    /// let t = miniapp_sdk::testing::Harness::new().install("chat-1", &["alice", "bob"]);
    /// ```
    pub fn install(mut self, chat: &str, members: &[&str]) -> Harness {
        self.world.join(chat, None);
        for m in members {
            self.world.join(chat, Some(m));
        }
        self
    }

    /// Makes `user` a member of `chat` (where the app is installed),
    /// without an event.
    ///
    /// ```
    /// let mut t = miniapp_sdk::testing::Harness::new();
    /// t.member("chat-1", "carol");
    /// ```
    pub fn member(&mut self, chat: &str, user: &str) {
        self.world.join(chat, Some(user));
    }

    /// Answers `method url` (exactly that URL; `method` `None`: any) with
    /// `response` from now on; the last stub for a URL wins. Requests the
    /// app makes are in [`Harness::http_requests`]; one without a stub
    /// fails with `http failed: no response stubbed …`.
    ///
    /// ```
    /// use miniapp_sdk::http::Response;
    /// let t = miniapp_sdk::testing::Harness::new()
    ///     .grant("http:api.example.com")
    ///     .http(Some("GET"), "https://api.example.com/rate", Response::new(200, "92.5"));
    /// ```
    pub fn http(mut self, method: Option<&str>, url: &str, response: crate::http::Response) -> Harness {
        self.world.http.push(HttpStub {
            method: method.map(str::to_string),
            url: url.to_string(),
            response,
        });
        self
    }

    /// Moves the clock on: TTLs expire, per-minute budgets refill, unpaid
    /// invoices past [`crate::limits::INVOICE_TTL_MS`] become `expired`,
    /// timers fall due (fire them with [`Harness::fire_due_timers`]).
    ///
    /// ```
    /// let mut t = miniapp_sdk::testing::Harness::new();
    /// t.advance(std::time::Duration::from_secs(60));
    /// assert_eq!(t.now_ms(), miniapp_sdk::testing::START_MS + 60_000);
    /// ```
    pub fn advance(&mut self, by: Duration) {
        let now = self
            .world
            .now_ms
            .saturating_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX));
        self.world.now_ms = now;
        for invoice in &mut self.world.state.invoices {
            if invoice.status == InvoiceStatus::Open && invoice.expires_at <= now {
                invoice.status = InvoiceStatus::Expired;
            }
        }
    }

    /// The clock, unix milliseconds.
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::testing::Harness::new().now_ms(), miniapp_sdk::testing::START_MS);
    /// ```
    pub fn now_ms(&self) -> u64 {
        self.world.now_ms
    }

    /// Credits the app's balance (as payments would), without an event.
    ///
    /// ```
    /// let mut t = miniapp_sdk::testing::Harness::new();
    /// t.credit(10_000);
    /// assert_eq!(t.balance(), 10_000);
    /// ```
    pub fn credit(&mut self, amount: u64) {
        self.world.state.balance += amount;
    }

    // ---- running handlers -------------------------------------------------

    fn run_event<B: Bot>(&mut self, event: Delivered, cx: Cx) -> crate::Result {
        self.last = Some((event.clone(), cx.clone()));
        let world = std::mem::take(&mut self.world);
        let (world, result) = state::invoke(world, cx, || event.dispatch::<B>());
        self.world = world;
        result
    }

    fn event_cx(&mut self, chat: Option<&str>, user: Option<&str>) -> Cx {
        self.next_event += 1;
        Cx {
            user: user.map(str::to_string),
            chat: chat.map(str::to_string),
            event_id: Some(self.next_event),
            attempt: Some(1),
            web: false,
        }
    }

    /// Runs `f` as one invocation in `chat` (if any) caused by `user` (if
    /// any): a transaction like any handler's. For testing a helper
    /// function, or code that is neither a bot nor a web app.
    ///
    /// ```
    /// use miniapp_sdk::{storage, testing::{Bucket, Harness}};
    ///
    /// let mut t = Harness::new().grant("storage");
    /// let n = t.run(Some("chat-1"), Some("alice"), || Ok(storage::chat().increment("n", 5)?)).unwrap();
    /// assert_eq!(n, 5);
    /// let failed = t.run(Some("chat-1"), None, || -> miniapp_sdk::Result {
    ///     storage::chat().increment("n", 1)?;
    ///     Err("changed my mind".into())
    /// });
    /// assert!(failed.is_err());
    /// assert_eq!(t.storage(Bucket::chat("chat-1")).get_str("n").as_deref(), Some("5"));
    /// ```
    pub fn run<R>(
        &mut self,
        chat: Option<&str>,
        user: Option<&str>,
        f: impl FnOnce() -> crate::Result<R>,
    ) -> crate::Result<R> {
        if let Some(chat) = chat {
            self.world.join(chat, user);
        }
        let cx = self.event_cx(chat, user);
        let world = std::mem::take(&mut self.world);
        let (world, result) = state::invoke(world, cx, f);
        self.world = world;
        result
    }

    /// `user` posts `text` in `chat` (the app installed there, `user` a
    /// member); the bot's `on_message` runs unless the host would hold it
    /// back, and then this answers `Ok` without running it: without
    /// `messaging.read` a bot gets only commands (`/…`) and mentions
    /// (`@name`), and a command addressed to another app (`/cmd@other …`)
    /// reaches only that app.
    ///
    /// ```
    /// # use miniapp_sdk::{Bot, Message, messaging};
    /// # struct Echo;
    /// # impl Bot for Echo { fn on_message(m: Message) -> miniapp_sdk::Result {
    /// #     if let Some(t) = m.command("/echo") { messaging::send(&m.chat, t)?; } Ok(()) } }
    /// let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send");
    /// t.message::<Echo>("chat-1", "alice", "/echo hi").unwrap();
    /// assert_eq!(t.sent()[0].text, "hi");
    /// ```
    pub fn message<B: Bot>(&mut self, chat: &str, user: &str, text: &str) -> crate::Result {
        self.message_with_files::<B>(chat, user, text, &[])
    }

    /// As [`Harness::message`], with files attached (`(name, bytes)`),
    /// which the app reads with [`crate::files`].
    ///
    /// ```
    /// # use miniapp_sdk::{Bot, Message, files, messaging};
    /// # struct Sizes;
    /// # impl Bot for Sizes { fn on_message(m: Message) -> miniapp_sdk::Result {
    /// #     for f in &m.files { let n = files::read_all(&f.id)?.len(); messaging::send(&m.chat, &format!("{}: {n}", f.name))?; } Ok(()) } }
    /// let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send").grant("files");
    /// t.message_with_files::<Sizes>("chat-1", "alice", "/size", &[("a.txt", b"hello")]).unwrap();
    /// assert_eq!(t.sent()[0].text, "a.txt: 5");
    /// ```
    pub fn message_with_files<B: Bot>(
        &mut self,
        chat: &str,
        user: &str,
        text: &str,
        files: &[(&str, &[u8])],
    ) -> crate::Result {
        self.world.join(chat, Some(user));
        let id = self.world.new_id("msg");
        let infos: Vec<FileInfo> = files
            .iter()
            .map(|(name, bytes)| {
                let info = FileInfo {
                    id: self.world.new_id("file"),
                    name: name.to_string(),
                    media_type: text::media_type(bytes).to_string(),
                    size: bytes.len() as u64,
                    sha256: text::sha256_hex(bytes),
                };
                self.world.state.files.push(File {
                    info: info.clone(),
                    chat: chat.to_string(),
                    bytes: bytes.to_vec(),
                    made_by_app: false,
                    message: Some(id.clone()),
                });
                info
            })
            .collect();
        self.world.state.posts.push(Post {
            sender: Some(user.to_string()),
            message: Sent {
                id: id.clone(),
                chat: chat.to_string(),
                text: text.to_string(),
                buttons: Vec::new(),
                files: infos.clone(),
                kind: SentKind::Chat,
                edited: false,
                deleted: false,
            },
            created_at: self.world.now_ms,
        });
        let app = self.world.app.as_bytes();
        let mentioned = text.match_indices('@').any(|(i, _)| {
            let rest = &text.as_bytes()[i + 1..];
            rest.len() >= app.len()
                && rest[..app.len()].eq_ignore_ascii_case(app)
                && !rest[app.len()..]
                    .first()
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'-')
        });
        if !self.world.grants.contains("messaging.read") && !text.starts_with('/') && !mentioned {
            return Ok(());
        }
        if addressed_to_another(text, &self.world.app) {
            return Ok(());
        }
        let cx = self.event_cx(Some(chat), Some(user));
        let message = Message {
            chat: chat.to_string(),
            id,
            text: text.to_string(),
            files: infos,
        };
        self.run_event::<B>(Delivered::Message(message), cx)
    }

    /// `user` presses the button with `data` under message `message`.
    ///
    /// # Panics
    ///
    /// When `message` is no live message of the app.
    ///
    /// ```
    /// # use miniapp_sdk::{Bot, ButtonPress, messaging};
    /// # struct B;
    /// # impl Bot for B { fn on_button(p: ButtonPress) -> miniapp_sdk::Result { messaging::send(&p.chat, &p.data)?; Ok(()) } }
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send");
    /// # t.run(Some("chat-1"), Some("alice"), || Ok(messaging::send_with_buttons("chat-1", "?", &[&[("Yes", "y")]])?)).unwrap();
    /// let id = t.sent()[0].id.clone();
    /// t.button::<B>(&id, "bob", "y").unwrap();
    /// ```
    pub fn button<B: Bot>(&mut self, message: &str, user: &str, data: &str) -> crate::Result {
        let sent = self.find_sent(message);
        self.world.join(&sent.chat, Some(user));
        let cx = self.event_cx(Some(&sent.chat), Some(user));
        let press = ButtonPress {
            chat: sent.chat,
            message: message.to_string(),
            user: user.to_string(),
            data: data.to_string(),
        };
        self.run_event::<B>(Delivered::Button(press), cx)
    }

    /// `user` presses the button labelled `label` under message `message`.
    ///
    /// # Panics
    ///
    /// When the message has no such button.
    ///
    /// ```
    /// # use miniapp_sdk::{Bot, ButtonPress, messaging};
    /// # struct B;
    /// # impl Bot for B { fn on_button(p: ButtonPress) -> miniapp_sdk::Result { messaging::send(&p.chat, &p.data)?; Ok(()) } }
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send");
    /// # t.run(Some("chat-1"), Some("alice"), || Ok(messaging::send_with_buttons("chat-1", "?", &[&[("Yes", "y")]])?)).unwrap();
    /// let id = t.sent()[0].id.clone();
    /// t.press::<B>(&id, "bob", "Yes").unwrap();
    /// assert_eq!(t.last_sent().unwrap().text, "y");
    /// ```
    pub fn press<B: Bot>(&mut self, message: &str, user: &str, label: &str) -> crate::Result {
        let sent = self.find_sent(message);
        let Some(button) = sent.button(label) else {
            panic!("message {message} has no button {label:?}; it has {:?}", sent.labels());
        };
        let data = button.data.clone();
        self.button::<B>(message, user, &data)
    }

    fn find_sent(&self, message: &str) -> Sent {
        self.world
            .state
            .posts
            .iter()
            .find(|p| p.sender.is_none() && p.message.id == message && !p.message.deleted)
            .map(|p| p.message.clone())
            .unwrap_or_else(|| panic!("no live message {message} of the app"))
    }

    /// The invoiced user pays invoice `invoice`: it is marked paid, the
    /// app's balance credited, and the bot's `on_payment` runs (in the
    /// invoice's chat, the payer as current user).
    ///
    /// # Panics
    ///
    /// When the invoice is not open.
    ///
    /// ```
    /// # use miniapp_sdk::{Bot, Message, PaymentReceived, identity, messaging, payments};
    /// # struct Shop;
    /// # impl Bot for Shop {
    /// #     fn on_message(m: Message) -> miniapp_sdk::Result { payments::create_invoice(&identity::current_user()?, 500, "Tea", &m.id)?; Ok(()) }
    /// #     fn on_payment(p: PaymentReceived) -> miniapp_sdk::Result { messaging::send(&p.chat, "thanks")?; Ok(()) }
    /// # }
    /// let mut t = miniapp_sdk::testing::Harness::new().grant("payments").grant("identity.basic").grant("messaging.send");
    /// t.message::<Shop>("chat-1", "alice", "/buy").unwrap();
    /// let invoice = t.invoices()[0].id.clone();
    /// t.pay::<Shop>(&invoice).unwrap();
    /// assert_eq!(t.balance(), 500);
    /// assert_eq!(t.last_sent().unwrap().text, "thanks");
    /// ```
    pub fn pay<B: Bot>(&mut self, invoice: &str) -> crate::Result {
        let found = self
            .world
            .state
            .invoices
            .iter_mut()
            .find(|i| i.id == invoice)
            .unwrap_or_else(|| panic!("no invoice {invoice}"));
        assert_eq!(found.status, InvoiceStatus::Open, "invoice {invoice} is not open");
        found.status = InvoiceStatus::Paid;
        let found = found.clone();
        self.world.state.balance += found.amount;
        let payment = PaymentReceived {
            id: self.world.new_id("pay"),
            invoice: found.id,
            chat: found.chat.clone(),
            amount: found.amount,
            currency: "RUB".into(),
        };
        let cx = self.event_cx(Some(&found.chat), Some(&found.user));
        self.run_event::<B>(Delivered::Payment(payment), cx)
    }

    /// The asked user answers signature request `id` (signs or declines);
    /// the bot's `on_signature` runs (the signer as current user).
    ///
    /// # Panics
    ///
    /// When the request is not pending.
    ///
    /// ```
    /// # use miniapp_sdk::{Bot, Message, SignatureResult, SignatureStatus, identity, messaging};
    /// # struct Notary;
    /// # impl Bot for Notary {
    /// #     fn on_message(m: Message) -> miniapp_sdk::Result { identity::request_signature("Deal", m.text.as_bytes())?; Ok(()) }
    /// #     fn on_signature(r: SignatureResult) -> miniapp_sdk::Result { messaging::send(&r.chat, &format!("{:?}", r.status))?; Ok(()) }
    /// # }
    /// let mut t = miniapp_sdk::testing::Harness::new().grant("identity.sign").grant("messaging.send");
    /// t.message::<Notary>("chat-1", "alice", "/sign I agree").unwrap();
    /// let id = t.signature_requests()[0].id.clone();
    /// t.sign::<Notary>(&id, SignatureStatus::Signed).unwrap();
    /// assert_eq!(t.last_sent().unwrap().text, "Signed");
    /// ```
    pub fn sign<B: Bot>(&mut self, id: &str, status: SignatureStatus) -> crate::Result {
        let found = self
            .world
            .state
            .signatures
            .iter_mut()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no signature request {id}"));
        assert_eq!(
            found.status,
            SignatureState::Pending,
            "signature request {id} was answered"
        );
        found.status = match status {
            SignatureStatus::Signed => SignatureState::Signed,
            SignatureStatus::Declined => SignatureState::Declined,
        };
        let found = found.clone();
        let chat = found.chat.clone().unwrap_or_default();
        let result = SignatureResult {
            id: found.id,
            chat: chat.clone(),
            user: found.user.clone(),
            status,
        };
        let cx = self.event_cx(found.chat.as_deref(), Some(&found.user));
        self.run_event::<B>(Delivered::Signature(result), cx)
    }

    /// Fires pending timer `id` now (whether due or not): the bot's
    /// `on_timer` runs in the timer's chat with no current user; a
    /// one-shot timer is gone, a cron timer moves to its next slot.
    ///
    /// # Panics
    ///
    /// When no such timer is pending.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use miniapp_sdk::{Bot, Message, Timer, messaging, schedule};
    /// # struct Remind;
    /// # impl Bot for Remind {
    /// #     fn on_message(m: Message) -> miniapp_sdk::Result { schedule::after(&m.chat, Duration::from_secs(60), "stretch", false)?; Ok(()) }
    /// #     fn on_timer(t: Timer) -> miniapp_sdk::Result { messaging::send(t.chat.as_deref().unwrap_or_default(), &t.payload)?; Ok(()) }
    /// # }
    /// let mut t = miniapp_sdk::testing::Harness::new().grant("schedule").grant("messaging.send");
    /// t.message::<Remind>("chat-1", "alice", "/remind").unwrap();
    /// let id = t.timers()[0].id.clone();
    /// t.fire_timer::<Remind>(&id).unwrap();
    /// assert_eq!(t.last_sent().unwrap().text, "stretch");
    /// assert!(t.timers().is_empty());
    /// ```
    pub fn fire_timer<B: Bot>(&mut self, id: &str) -> crate::Result {
        let at = self
            .world
            .state
            .timers
            .iter()
            .position(|t| t.id == id)
            .unwrap_or_else(|| panic!("no pending timer {id}"));
        let timer = self.world.state.timers[at].clone();
        let next = timer
            .cron
            .as_deref()
            .and_then(|c| super::fake::schedule::Cron::parse(c).ok())
            .and_then(|c| c.next_after(timer.due_at.max(self.world.now_ms)));
        match next {
            Some(due) => self.world.state.timers[at].due_at = due,
            None => {
                self.world.state.timers.remove(at);
            }
        }
        let event = Timer {
            id: timer.id.clone(),
            chat: timer.chat.clone(),
            user: timer.user.clone(),
            payload: timer.payload.clone(),
            scheduled_at: timer.due_at,
            recurring: timer.cron.is_some(),
        };
        let cx = self.event_cx(timer.chat.as_deref(), None);
        self.run_event::<B>(Delivered::Timer(event), cx)
    }

    /// Fires every timer due by the clock, soonest first; the handlers'
    /// results in order.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use miniapp_sdk::{Bot, Message, Timer, messaging, schedule};
    /// # struct Remind;
    /// # impl Bot for Remind {
    /// #     fn on_message(m: Message) -> miniapp_sdk::Result { schedule::after(&m.chat, Duration::from_secs(60), "stretch", false)?; Ok(()) }
    /// #     fn on_timer(t: Timer) -> miniapp_sdk::Result { messaging::send(t.chat.as_deref().unwrap_or_default(), &t.payload)?; Ok(()) }
    /// # }
    /// let mut t = miniapp_sdk::testing::Harness::new().grant("schedule").grant("messaging.send");
    /// t.message::<Remind>("chat-1", "alice", "/remind").unwrap();
    /// assert!(t.fire_due_timers::<Remind>().is_empty());
    /// t.advance(Duration::from_secs(60));
    /// assert_eq!(t.fire_due_timers::<Remind>().len(), 1);
    /// ```
    pub fn fire_due_timers<B: Bot>(&mut self) -> Vec<crate::Result> {
        let mut due: Vec<(u64, String)> = self
            .world
            .state
            .timers
            .iter()
            .filter(|t| t.due_at <= self.world.now_ms)
            .map(|t| (t.due_at, t.id.clone()))
            .collect();
        due.sort();
        due.into_iter().map(|(_, id)| self.fire_timer::<B>(&id)).collect()
    }

    /// A signed request reaches webhook `hook.name` (the app needs the
    /// `webhook` grant to have one); no chat, no current user.
    ///
    /// ```
    /// use miniapp_sdk::Webhook;
    /// # use miniapp_sdk::{Bot, messaging};
    /// # struct Hook;
    /// # impl Bot for Hook { fn on_webhook(h: Webhook) -> miniapp_sdk::Result { messaging::send("chat-1", h.text().unwrap_or("?"))?; Ok(()) } }
    /// let mut t = miniapp_sdk::testing::Harness::new().grant("webhook").grant("messaging.send").install("chat-1", &[]);
    /// t.webhook::<Hook>(Webhook {
    ///     name: "carrier".into(),
    ///     method: "POST".into(),
    ///     path: String::new(),
    ///     headers: vec![("content-type".into(), "text/plain".into())],
    ///     body: b"delivered".to_vec(),
    ///     received_at: 0,
    /// }).unwrap();
    /// assert_eq!(t.last_sent().unwrap().text, "delivered");
    /// ```
    pub fn webhook<B: Bot>(&mut self, hook: Webhook) -> crate::Result {
        let cx = self.event_cx(None, None);
        self.run_event::<B>(Delivered::Webhook(hook), cx)
    }

    /// `user` joins `chat` (added or invited by `by`); no current user.
    ///
    /// ```
    /// # use miniapp_sdk::{Bot, MemberJoined, messaging};
    /// # struct Greeter;
    /// # impl Bot for Greeter { fn on_member_joined(j: MemberJoined) -> miniapp_sdk::Result { messaging::send(&j.chat, "Welcome!")?; Ok(()) } }
    /// let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send").install("chat-1", &["alice"]);
    /// t.member_joined::<Greeter>("chat-1", "bob", Some("alice")).unwrap();
    /// assert_eq!(t.last_sent().unwrap().text, "Welcome!");
    /// ```
    pub fn member_joined<B: Bot>(&mut self, chat: &str, user: &str, by: Option<&str>) -> crate::Result {
        self.world.join(chat, Some(user));
        let cx = self.event_cx(Some(chat), None);
        let joined = MemberJoined {
            chat: chat.to_string(),
            user: user.to_string(),
            added_by: by.map(str::to_string),
        };
        self.run_event::<B>(Delivered::MemberJoined(joined), cx)
    }

    /// `user` leaves `chat` (removed by `by`, or on their own); no
    /// current user.
    ///
    /// ```
    /// # use miniapp_sdk::{Bot, MemberLeft};
    /// # struct B;
    /// # impl Bot for B {}
    /// let mut t = miniapp_sdk::testing::Harness::new().install("chat-1", &["alice", "bob"]);
    /// t.member_left::<B>("chat-1", "bob", None).unwrap();
    /// ```
    pub fn member_left<B: Bot>(&mut self, chat: &str, user: &str, by: Option<&str>) -> crate::Result {
        if let Some(info) = self.world.chats.get_mut(chat) {
            info.members.retain(|m| m != user);
        }
        let cx = self.event_cx(Some(chat), None);
        let left = MemberLeft {
            chat: chat.to_string(),
            user: user.to_string(),
            removed_by: by.map(str::to_string),
        };
        self.run_event::<B>(Delivered::MemberLeft(left), cx)
    }

    /// `by` installs this app in `chat` (`this_app` set); no current user.
    ///
    /// ```
    /// # use miniapp_sdk::{AppInstalled, Bot, messaging};
    /// # struct B;
    /// # impl Bot for B { fn on_app_installed(a: AppInstalled) -> miniapp_sdk::Result { if a.this_app { messaging::send(&a.chat, "Hello!")?; } Ok(()) } }
    /// let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send");
    /// t.app_installed::<B>("chat-1", "alice").unwrap();
    /// assert_eq!(t.last_sent().unwrap().text, "Hello!");
    /// ```
    pub fn app_installed<B: Bot>(&mut self, chat: &str, by: &str) -> crate::Result {
        self.world.join(chat, Some(by));
        let cx = self.event_cx(Some(chat), None);
        let installed = AppInstalled {
            chat: chat.to_string(),
            app: self.world.app.clone(),
            this_app: true,
            by: by.to_string(),
        };
        self.run_event::<B>(Delivered::AppInstalled(installed), cx)
    }

    /// `by` installs another app, `app`, in `chat`.
    ///
    /// ```
    /// # use miniapp_sdk::Bot;
    /// # struct B;
    /// # impl Bot for B {}
    /// let mut t = miniapp_sdk::testing::Harness::new().install("chat-1", &["alice"]);
    /// t.other_app_installed::<B>("chat-1", "poll-bot", "alice").unwrap();
    /// ```
    pub fn other_app_installed<B: Bot>(&mut self, chat: &str, app: &str, by: &str) -> crate::Result {
        self.world.join(chat, Some(by));
        let cx = self.event_cx(Some(chat), None);
        let installed = AppInstalled {
            chat: chat.to_string(),
            app: app.to_string(),
            this_app: false,
            by: by.to_string(),
        };
        self.run_event::<B>(Delivered::AppInstalled(installed), cx)
    }

    /// `by` uninstalls another app, `app`, from `chat`.
    ///
    /// ```
    /// # use miniapp_sdk::Bot;
    /// # struct B;
    /// # impl Bot for B {}
    /// let mut t = miniapp_sdk::testing::Harness::new().install("chat-1", &["alice"]);
    /// t.app_removed::<B>("chat-1", "poll-bot", "alice").unwrap();
    /// ```
    pub fn app_removed<B: Bot>(&mut self, chat: &str, app: &str, by: &str) -> crate::Result {
        let cx = self.event_cx(Some(chat), None);
        let removed = AppRemoved {
            chat: chat.to_string(),
            app: app.to_string(),
            by: by.to_string(),
        };
        self.run_event::<B>(Delivered::AppRemoved(removed), cx)
    }

    /// Delivers the last event again, as the host does after a failure:
    /// the same event id, the next attempt
    /// ([`crate::identity::current_event_attempt`]).
    ///
    /// # Panics
    ///
    /// When no event was delivered yet.
    ///
    /// ```
    /// # use miniapp_sdk::{Bot, Message, identity, messaging};
    /// # struct Flaky;
    /// # impl Bot for Flaky { fn on_message(m: Message) -> miniapp_sdk::Result {
    /// #     if identity::current_event_attempt() == Some(1) { return Err("first try fails".into()); }
    /// #     messaging::send(&m.chat, "done")?; Ok(()) } }
    /// let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send");
    /// assert!(t.message::<Flaky>("chat-1", "alice", "/go").is_err());
    /// t.retry::<Flaky>().unwrap();
    /// assert_eq!(t.last_sent().unwrap().text, "done");
    /// ```
    pub fn retry<B: Bot>(&mut self) -> crate::Result {
        let (event, mut cx) = self.last.clone().expect("no event was delivered yet");
        cx.attempt = cx.attempt.map(|a| a + 1);
        self.run_event::<B>(event, cx)
    }

    /// `user`, who launched the app from `chat`, sends `request` to the
    /// web app; its answer. A request commits whatever the status (as on
    /// the host); a panic stores nothing and answers 500.
    ///
    /// ```
    /// use miniapp_sdk::web::{Request, Response, WebApp};
    /// # use miniapp_sdk::{identity, storage};
    /// struct Hits;
    /// impl WebApp for Hits {
    ///     fn serve(_: Request) -> Response {
    ///         match storage::chat().increment("hits", 1) {
    ///             Ok(n) => Response::text(n.to_string()),
    ///             Err(e) => Response::text(e.describe()).with_status(500),
    ///         }
    ///     }
    /// }
    /// let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// assert_eq!(t.request::<Hits>("chat-1", "alice", Request::get("/")).body_text(), Some("1"));
    /// assert_eq!(t.request::<Hits>("chat-1", "bob", Request::get("/")).body_text(), Some("2"));
    /// ```
    pub fn request<A: WebApp>(&mut self, chat: &str, user: &str, request: Request) -> Response {
        self.world.join(chat, Some(user));
        let cx = Cx {
            user: Some(user.to_string()),
            chat: Some(chat.to_string()),
            event_id: None,
            attempt: None,
            web: true,
        };
        let world = std::mem::take(&mut self.world);
        let (world, result) = state::invoke(world, cx, || Ok(A::serve(request)));
        self.world = world;
        result.unwrap_or_else(|e: HandlerError| Response::text(e.to_string()).with_status(500))
    }

    // ---- what the app did ---------------------------------------------------

    /// The app's live messages (sent, direct, notifications, invoices),
    /// oldest first, as they stand (edits applied, deleted ones left out).
    ///
    /// ```
    /// assert!(miniapp_sdk::testing::Harness::new().sent().is_empty());
    /// ```
    pub fn sent(&self) -> Vec<Sent> {
        self.all_sent().into_iter().filter(|m| !m.deleted).collect()
    }

    /// Every message the app sent, deleted ones included.
    ///
    /// ```
    /// assert!(miniapp_sdk::testing::Harness::new().all_sent().is_empty());
    /// ```
    pub fn all_sent(&self) -> Vec<Sent> {
        self.world
            .state
            .posts
            .iter()
            .filter(|p| p.sender.is_none())
            .map(|p| p.message.clone())
            .collect()
    }

    /// The app's live messages in `chat`.
    ///
    /// ```
    /// assert!(miniapp_sdk::testing::Harness::new().sent_in("chat-1").is_empty());
    /// ```
    pub fn sent_in(&self, chat: &str) -> Vec<Sent> {
        self.sent().into_iter().filter(|m| m.chat == chat).collect()
    }

    /// The app's latest live message.
    ///
    /// ```
    /// assert!(miniapp_sdk::testing::Harness::new().last_sent().is_none());
    /// ```
    pub fn last_sent(&self) -> Option<Sent> {
        self.sent().pop()
    }

    /// A bucket of the committed storage, to read or seed.
    ///
    /// ```
    /// use miniapp_sdk::testing::{Bucket, Harness};
    /// let mut t = Harness::new();
    /// assert!(t.storage(Bucket::App).keys().is_empty());
    /// ```
    pub fn storage(&mut self, bucket: Bucket) -> StorageView<'_> {
        StorageView {
            prefix: bucket.prefix(),
            world: &mut self.world,
        }
    }

    /// The app's invoices, oldest first.
    ///
    /// ```
    /// assert!(miniapp_sdk::testing::Harness::new().invoices().is_empty());
    /// ```
    pub fn invoices(&self) -> Vec<Invoice> {
        self.world.state.invoices.clone()
    }

    /// The app's refunds and transfers, oldest first.
    ///
    /// ```
    /// assert!(miniapp_sdk::testing::Harness::new().payouts().is_empty());
    /// ```
    pub fn payouts(&self) -> Vec<Payout> {
        self.world.state.payouts.clone()
    }

    /// The app's balance: payments in, payouts out, plus [`Harness::credit`].
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::testing::Harness::new().balance(), 0);
    /// ```
    pub fn balance(&self) -> u64 {
        self.world.state.balance
    }

    /// The app's signature requests, oldest first.
    ///
    /// ```
    /// assert!(miniapp_sdk::testing::Harness::new().signature_requests().is_empty());
    /// ```
    pub fn signature_requests(&self) -> Vec<SignatureRequest> {
        self.world.state.signatures.clone()
    }

    /// The app's pending timers, soonest first.
    ///
    /// ```
    /// assert!(miniapp_sdk::testing::Harness::new().timers().is_empty());
    /// ```
    pub fn timers(&self) -> Vec<PendingTimer> {
        let mut timers = self.world.state.timers.clone();
        timers.sort_by_key(|t| t.due_at);
        timers
    }

    /// Files in the chats: those users sent and those the app made.
    ///
    /// ```
    /// assert!(miniapp_sdk::testing::Harness::new().files().is_empty());
    /// ```
    pub fn files(&self) -> Vec<File> {
        self.world.state.files.clone()
    }

    /// The app's live-page publishes, in order.
    ///
    /// ```
    /// assert!(miniapp_sdk::testing::Harness::new().publishes().is_empty());
    /// ```
    pub fn publishes(&self) -> Vec<Publish> {
        self.world.state.publishes.clone()
    }

    /// The app's log: its own lines, denials, refusals, and a line per
    /// failed invocation. Kept whether the invocation committed or not.
    ///
    /// ```
    /// assert!(miniapp_sdk::testing::Harness::new().logs().is_empty());
    /// ```
    pub fn logs(&self) -> &[LogLine] {
        &self.world.logs
    }

    /// The outbound HTTP requests the app made (whether or not granted or
    /// committed), in order.
    ///
    /// ```
    /// assert!(miniapp_sdk::testing::Harness::new().http_requests().is_empty());
    /// ```
    pub fn http_requests(&self) -> &[crate::http::Request] {
        &self.world.http_requests
    }
}

/// Whether `text` is a command addressed to an app other than `app`: its
/// first word is `/cmd@name` with a name that is not `app`. The host
/// delivers such a message only to the app so named, whatever the name's
/// case ([`Message::command`] reads both forms).
fn addressed_to_another(text: &str, app: &str) -> bool {
    let Some(command) = text.strip_prefix('/') else {
        return false;
    };
    let word = &command[..command.find(char::is_whitespace).unwrap_or(command.len())];
    match word.split_once('@') {
        Some((_, name)) => !name.is_empty() && !name.eq_ignore_ascii_case(app),
        None => false,
    }
}
