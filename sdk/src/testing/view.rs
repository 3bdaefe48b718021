//! What a test reads back from a [`super::Harness`]: messages, invoices,
//! payouts, signature requests, files, publishes, log lines, storage; and
//! the limits it runs with.

use super::state::{Stored, World};
use crate::{Button, FileInfo};

/// A message the app sent (or the host sent for it: an invoice), as it
/// stands now.
///
/// ```
/// # use miniapp_sdk::{Bot, Message, messaging, payments, identity};
/// # struct Shop;
/// # impl Bot for Shop { fn on_message(m: Message) -> miniapp_sdk::Result {
/// #     payments::create_invoice(&identity::current_user()?, 500, "Tea", &m.id)?; messaging::send(&m.chat, "invoiced")?; Ok(()) } }
/// let mut t = miniapp_sdk::testing::Harness::new().grant("payments").grant("identity.basic").grant("messaging.send");
/// t.message::<Shop>("chat-1", "alice", "/buy").unwrap();
/// let sent = t.sent();
/// assert_eq!(sent[1].text, "invoiced");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Its id.
    pub id: String,
    /// Its chat ([`super::direct_chat`] for a direct message).
    pub chat: String,
    /// Its text (the caption of a file message).
    pub text: String,
    /// Rows of inline buttons.
    pub buttons: Vec<Vec<Button>>,
    /// The files it carries.
    pub files: Vec<FileInfo>,
    /// How it was sent.
    pub kind: SentKind,
    /// Whether the app edited it.
    pub edited: bool,
    /// Whether the app deleted it.
    pub deleted: bool,
}

impl Sent {
    /// The buttons' labels, in reading order.
    ///
    /// ```
    /// use miniapp_sdk::testing::{Harness, Sent};
    /// # use miniapp_sdk::{Bot, Message, messaging};
    /// # struct B;
    /// # impl Bot for B { fn on_message(m: Message) -> miniapp_sdk::Result {
    /// #     messaging::send_with_buttons(&m.chat, "pick", &[&[("A", "a"), ("B", "b")], &[("C", "c")]])?; Ok(()) } }
    /// let mut t = Harness::new().grant("messaging.send");
    /// t.message::<B>("chat-1", "alice", "/pick").unwrap();
    /// assert_eq!(t.sent()[0].labels(), ["A", "B", "C"]);
    /// ```
    pub fn labels(&self) -> Vec<&str> {
        self.buttons.iter().flatten().map(|b| b.label.as_str()).collect()
    }

    /// The first button labelled `label`.
    ///
    /// ```
    /// # use miniapp_sdk::testing::Harness;
    /// # use miniapp_sdk::{Bot, Message, messaging};
    /// # struct B;
    /// # impl Bot for B { fn on_message(m: Message) -> miniapp_sdk::Result {
    /// #     messaging::send_with_buttons(&m.chat, "pick", &[&[("A", "a")]])?; Ok(()) } }
    /// # let mut t = Harness::new().grant("messaging.send");
    /// # t.message::<B>("chat-1", "alice", "/pick").unwrap();
    /// assert_eq!(t.sent()[0].button("A").map(|b| b.data.as_str()), Some("a"));
    /// ```
    pub fn button(&self, label: &str) -> Option<&Button> {
        self.buttons.iter().flatten().find(|b| b.label == label)
    }
}

/// How a message came to be.
///
/// ```
/// # use miniapp_sdk::{Bot, Message, messaging, payments, identity};
/// # struct Shop;
/// # impl Bot for Shop { fn on_message(m: Message) -> miniapp_sdk::Result {
/// #     payments::create_invoice(&identity::current_user()?, 500, "Tea", &m.id)?; messaging::send(&m.chat, "invoiced")?; Ok(()) } }
/// let mut t = miniapp_sdk::testing::Harness::new().grant("payments").grant("identity.basic").grant("messaging.send");
/// t.message::<Shop>("chat-1", "alice", "/buy").unwrap();
/// use miniapp_sdk::testing::SentKind;
/// let invoice = t.invoices()[0].id.clone();
/// assert_eq!(t.sent()[0].kind, SentKind::Invoice(invoice));
/// assert_eq!(t.sent()[1].kind, SentKind::Chat);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentKind {
    /// [`crate::messaging::send`] (or [`crate::files::send`]) into a chat.
    Chat,
    /// [`crate::messaging::send_direct`] to this user.
    Direct(String),
    /// [`crate::notify::send`] to this user.
    Notify(String),
    /// The message the host rendered for this invoice (text
    /// `Invoice: <title> — <amount>`, one `Pay …` button).
    Invoice(String),
}

/// An invoice the app created.
///
/// ```
/// # use miniapp_sdk::{Bot, Message, messaging, payments, identity};
/// # struct Shop;
/// # impl Bot for Shop { fn on_message(m: Message) -> miniapp_sdk::Result {
/// #     payments::create_invoice(&identity::current_user()?, 500, "Tea", &m.id)?; messaging::send(&m.chat, "invoiced")?; Ok(()) } }
/// let mut t = miniapp_sdk::testing::Harness::new().grant("payments").grant("identity.basic").grant("messaging.send");
/// t.message::<Shop>("chat-1", "alice", "/buy").unwrap();
/// let invoice = &t.invoices()[0];
/// assert_eq!((invoice.user.as_str(), invoice.amount, invoice.title.as_str()), ("alice", 500, "Tea"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// Its id.
    pub id: String,
    /// The invoiced user.
    pub user: String,
    /// The chat it was created in.
    pub chat: String,
    /// Minor units.
    pub amount: u64,
    /// Its title.
    pub title: String,
    /// Its idempotency key.
    pub key: String,
    /// Open, paid, cancelled or expired.
    pub status: InvoiceStatus,
    /// When it stops being payable, unix ms: created +
    /// [`crate::limits::INVOICE_TTL_MS`].
    pub expires_at: u64,
    /// How much of it was refunded.
    pub refunded: u64,
    /// The id of the message that shows it.
    pub message: String,
}

/// Where an invoice stands.
///
/// ```
/// # use miniapp_sdk::{Bot, Message, messaging, payments, identity};
/// # struct Shop;
/// # impl Bot for Shop { fn on_message(m: Message) -> miniapp_sdk::Result {
/// #     payments::create_invoice(&identity::current_user()?, 500, "Tea", &m.id)?; messaging::send(&m.chat, "invoiced")?; Ok(()) } }
/// let mut t = miniapp_sdk::testing::Harness::new().grant("payments").grant("identity.basic").grant("messaging.send");
/// t.message::<Shop>("chat-1", "alice", "/buy").unwrap();
/// use miniapp_sdk::testing::InvoiceStatus;
/// assert_eq!(t.invoices()[0].status, InvoiceStatus::Open);
/// let id = t.invoices()[0].id.clone();
/// t.pay::<Shop>(&id).unwrap();
/// assert_eq!(t.invoices()[0].status, InvoiceStatus::Paid);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceStatus {
    /// Waiting to be paid.
    Open,
    /// Paid ([`super::Harness::pay`]).
    Paid,
    /// Cancelled by the app.
    Cancelled,
    /// Not paid before [`Invoice::expires_at`] (the clock moved past it
    /// with [`super::Harness::advance`]).
    Expired,
}

impl InvoiceStatus {
    /// `open`, `paid`, `cancelled` or `expired`, as the host writes it.
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::testing::InvoiceStatus::Paid.as_str(), "paid");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Cancelled => "cancelled",
            InvoiceStatus::Expired => "expired",
        }
    }
}

/// Money the app paid out of its balance.
///
/// ```
/// let mut t = miniapp_sdk::testing::Harness::new().grant("payments.payout").install("chat-1", &["alice", "bob"]);
/// t.credit(1_000);
/// t.run(Some("chat-1"), Some("alice"), || Ok(miniapp_sdk::payments::transfer("bob", 300, "prize")?)).unwrap();
/// let payout = &t.payouts()[0];
/// assert_eq!((payout.user.as_str(), payout.amount), ("bob", 300));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// A refund or a transfer.
    pub kind: PayoutKind,
    /// The refunded invoice.
    pub invoice: Option<String>,
    /// Who got it.
    pub user: String,
    /// Minor units.
    pub amount: u64,
    /// Its idempotency key.
    pub key: String,
}

/// What a payout was.
///
/// ```
/// let mut t = miniapp_sdk::testing::Harness::new().grant("payments.payout").install("chat-1", &["alice", "bob"]);
/// t.credit(1_000);
/// t.run(Some("chat-1"), Some("alice"), || Ok(miniapp_sdk::payments::transfer("bob", 300, "prize")?)).unwrap();
/// assert_eq!(t.payouts()[0].kind, miniapp_sdk::testing::PayoutKind::Transfer);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutKind {
    /// [`crate::payments::refund`].
    Refund,
    /// [`crate::payments::transfer`].
    Transfer,
}

/// A signature request the app made.
///
/// ```
/// let mut t = miniapp_sdk::testing::Harness::new().grant("identity.sign");
/// t.run(Some("chat-1"), Some("alice"), || Ok(miniapp_sdk::identity::request_signature("Deal", b"I agree")?)).unwrap();
/// let request = &t.signature_requests()[0];
/// assert_eq!((request.user.as_str(), request.title.as_str()), ("alice", "Deal"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRequest {
    /// Its id.
    pub id: String,
    /// Who is asked to sign.
    pub user: String,
    /// The chat it was made in.
    pub chat: Option<String>,
    /// Its title.
    pub title: String,
    /// The document (empty for a file).
    pub document: Vec<u8>,
    /// The hex sha256 of the document or file.
    pub document_sha256: String,
    /// The file to sign, for [`crate::identity::request_file_signature`].
    pub file: Option<String>,
    /// Whether it was answered.
    pub status: SignatureState,
}

/// Where a signature request stands.
///
/// ```
/// let mut t = miniapp_sdk::testing::Harness::new().grant("identity.sign");
/// t.run(Some("chat-1"), Some("alice"), || Ok(miniapp_sdk::identity::request_signature("Deal", b"I agree")?)).unwrap();
/// assert_eq!(t.signature_requests()[0].status, miniapp_sdk::testing::SignatureState::Pending);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureState {
    /// Not answered yet.
    Pending,
    /// Signed.
    Signed,
    /// Declined.
    Declined,
}

/// A file in a chat: one a user sent with a message, or one the app made.
///
/// ```
/// let mut t = miniapp_sdk::testing::Harness::new().grant("files");
/// t.run(Some("chat-1"), Some("alice"), || Ok(miniapp_sdk::files::create("chat-1", "a.txt", b"hi")?)).unwrap();
/// let file = &t.files()[0];
/// assert_eq!((file.info.name.as_str(), file.bytes.as_slice(), file.made_by_app), ("a.txt", &b"hi"[..], true));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// What messages and the app see of it.
    pub info: FileInfo,
    /// Its chat.
    pub chat: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Whether the app made it ([`crate::files::create`]).
    pub made_by_app: bool,
    /// The message carrying it, once sent.
    pub message: Option<String>,
}

/// A live-page publish ([`crate::pages::publish`]).
///
/// ```
/// let mut t = miniapp_sdk::testing::Harness::new().grant("pages");
/// t.run(Some("chat-1"), Some("alice"), || Ok(miniapp_sdk::pages::publish("chat-1", "{}")?)).unwrap();
/// assert_eq!(t.publishes()[0].data, "{}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The chat whose pages get it.
    pub chat: String,
    /// What was published.
    pub data: String,
}

/// A line of the app's log: its own ([`crate::log`]), a denial, a refusal
/// (`send refused (rate-limited): …`), or a failed invocation's
/// `handler returned an error: …` / `guest trapped: …`.
///
/// ```
/// let mut t = miniapp_sdk::testing::Harness::new();
/// t.run(None, None, || { miniapp_sdk::log::warn("low on tea"); Ok(()) }).unwrap();
/// assert_eq!((t.logs()[0].level, t.logs()[0].message.as_str()), ("warn", "low on tea"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The text.
    pub message: String,
}

impl LogLine {
    pub(crate) fn new(level: &'static str, message: String) -> LogLine {
        LogLine { level, message }
    }
}

/// The limits the harness applies: the host's defaults
/// ([`crate::limits`]); the per-app ones are those an operator may change.
///
/// ```
/// use miniapp_sdk::testing::{Harness, Limits};
///
/// let t = Harness::new().limits(Limits { storage_keys: 3, ..Limits::default() });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// [`crate::limits::MAX_MESSAGE_BYTES`].
    pub max_message_bytes: usize,
    /// [`crate::limits::MAX_BUTTONS`].
    pub max_buttons: usize,
    /// [`crate::limits::MAX_BUTTON_LABEL_BYTES`].
    pub max_button_label_bytes: usize,
    /// [`crate::limits::MAX_BUTTON_DATA_BYTES`].
    pub max_button_data_bytes: usize,
    /// [`crate::limits::MAX_KEY_BYTES`].
    pub max_key_bytes: usize,
    /// [`crate::limits::MAX_VALUE_BYTES`].
    pub max_value_bytes: usize,
    /// [`crate::limits::MESSAGES_PER_INVOCATION`] (per app).
    pub messages_per_invocation: u32,
    /// [`crate::limits::MESSAGES_PER_CHAT_PER_MINUTE`] (per app).
    pub messages_per_chat_per_minute: u32,
    /// [`crate::limits::STORAGE_KEYS`] (per app).
    pub storage_keys: u64,
    /// [`crate::limits::STORAGE_BYTES`] (per app).
    pub storage_bytes: u64,
    /// [`crate::limits::PENDING_TIMERS`] (per app).
    pub pending_timers: u32,
    /// [`crate::limits::NOTIFICATIONS_PER_USER_PER_HOUR`] (per app).
    pub notifications_per_user_per_hour: u32,
    /// [`crate::limits::SIGNATURES_PER_INVOCATION`].
    pub signatures_per_invocation: u32,
    /// [`crate::limits::PENDING_SIGNATURES_PER_USER`].
    pub pending_signatures_per_user: u32,
    /// [`crate::limits::HOST_CALLS_PER_INVOCATION`].
    pub host_calls_per_invocation: u32,
    /// [`crate::limits::MAX_FILE_BYTES`].
    pub max_file_bytes: u64,
    /// Bytes of files the app may keep: 1 GiB (`--app-files-mib`).
    pub app_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        use crate::limits::*;
        Limits {
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_buttons: MAX_BUTTONS,
            max_button_label_bytes: MAX_BUTTON_LABEL_BYTES,
            max_button_data_bytes: MAX_BUTTON_DATA_BYTES,
            max_key_bytes: MAX_KEY_BYTES,
            max_value_bytes: MAX_VALUE_BYTES,
            messages_per_invocation: MESSAGES_PER_INVOCATION,
            messages_per_chat_per_minute: MESSAGES_PER_CHAT_PER_MINUTE,
            storage_keys: STORAGE_KEYS,
            storage_bytes: STORAGE_BYTES,
            pending_timers: PENDING_TIMERS,
            notifications_per_user_per_hour: NOTIFICATIONS_PER_USER_PER_HOUR,
            signatures_per_invocation: SIGNATURES_PER_INVOCATION,
            pending_signatures_per_user: PENDING_SIGNATURES_PER_USER,
            host_calls_per_invocation: HOST_CALLS_PER_INVOCATION,
            max_file_bytes: MAX_FILE_BYTES,
            app_file_bytes: 1 << 30,
        }
    }
}

/// A storage bucket as a test names it (the app names only its own
/// user's and chat's: [`crate::storage::user`], [`crate::storage::chat`]).
///
/// ```
/// use miniapp_sdk::testing::{Bucket, Harness};
/// let mut t = Harness::new().grant("storage");
/// t.run(Some("chat-1"), Some("alice"), || Ok(miniapp_sdk::storage::user().set("lang", b"en")?)).unwrap();
/// assert_eq!(t.storage(Bucket::user("alice")).get_str("lang").as_deref(), Some("en"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bucket {
    /// The app's bucket.
    App,
    /// This user's bucket.
    User(String),
    /// This chat's bucket.
    Chat(String),
}

impl Bucket {
    /// The bucket of chat `chat`.
    ///
    /// ```
    /// use miniapp_sdk::testing::Bucket;
    /// assert_eq!(Bucket::chat("c1"), Bucket::Chat("c1".into()));
    /// ```
    pub fn chat(chat: &str) -> Bucket {
        Bucket::Chat(chat.to_string())
    }

    /// The bucket of user `user`.
    ///
    /// ```
    /// use miniapp_sdk::testing::Bucket;
    /// assert_eq!(Bucket::user("alice"), Bucket::User("alice".into()));
    /// ```
    pub fn user(user: &str) -> Bucket {
        Bucket::User(user.to_string())
    }

    pub(crate) fn prefix(&self) -> String {
        match self {
            Bucket::App => "app".into(),
            Bucket::User(u) => format!("user:{u}"),
            Bucket::Chat(c) => format!("chat:{c}"),
        }
    }
}

/// One bucket of the harness's committed storage
/// ([`super::Harness::storage`]): read it, or seed it before an event.
///
/// ```
/// use miniapp_sdk::testing::{Bucket, Harness};
///
/// let mut t = Harness::new();
/// t.storage(Bucket::App).set("greeting", "hi");
/// assert_eq!(t.storage(Bucket::App).get_str("greeting").as_deref(), Some("hi"));
/// assert_eq!(t.storage(Bucket::App).keys(), ["greeting"]);
/// ```
#[derive(Debug)]
pub struct StorageView<'a> {
    pub(crate) world: &'a mut World,
    pub(crate) prefix: String,
}

impl StorageView<'_> {
    fn live(&self, key: &str) -> Option<&Stored> {
        let now = self.world.now_ms;
        self.world
            .state
            .kv
            .get(&(self.prefix.clone(), key.to_string()))
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
    }

    /// The value under `key` (expired values are gone).
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new();
    /// assert_eq!(t.storage(miniapp_sdk::testing::Bucket::App).get("missing"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.live(key).map(|s| s.value.clone())
    }

    /// The value under `key` as UTF-8 text.
    ///
    /// ```
    /// # use miniapp_sdk::testing::{Bucket, Harness};
    /// # let mut t = Harness::new();
    /// t.storage(Bucket::user("alice")).set("lang", "en");
    /// assert_eq!(t.storage(Bucket::user("alice")).get_str("lang").as_deref(), Some("en"));
    /// ```
    pub fn get_str(&self, key: &str) -> Option<String> {
        self.get(key).map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    /// When the value under `key` expires (unix ms), if it has a TTL.
    ///
    /// ```
    /// # use miniapp_sdk::testing::{Bucket, Harness};
    /// # let mut t = Harness::new();
    /// t.storage(Bucket::App).set("k", "v");
    /// assert_eq!(t.storage(Bucket::App).expires_at("k"), None);
    /// ```
    pub fn expires_at(&self, key: &str) -> Option<u64> {
        self.live(key).and_then(|s| s.expires_at)
    }

    /// The bucket's keys, ascending.
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new();
    /// assert!(t.storage(miniapp_sdk::testing::Bucket::App).keys().is_empty());
    /// ```
    pub fn keys(&self) -> Vec<String> {
        let now = self.world.now_ms;
        self.world
            .state
            .kv
            .iter()
            .filter(|((p, _), s)| *p == self.prefix && s.expires_at.is_none_or(|at| at > now))
            .map(|((_, k), _)| k.clone())
            .collect()
    }

    /// Stores `value` under `key`, as if an earlier invocation had.
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new();
    /// t.storage(miniapp_sdk::testing::Bucket::chat("chat-1")).set("count", "41");
    /// ```
    pub fn set(&mut self, key: &str, value: impl AsRef<[u8]>) {
        self.world.state.kv.insert(
            (self.prefix.clone(), key.to_string()),
            Stored {
                value: value.as_ref().to_vec(),
                expires_at: None,
            },
        );
    }
}
