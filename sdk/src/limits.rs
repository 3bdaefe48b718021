//! The host's limits an app meets, with their default values. Each names
//! where the host sets it (paths under `runtime/src/` of the miniapp
//! repository) and the error past it. Limits marked *per app* are the
//! defaults an operator may change for one app (`PUT /v1/apps/{app}/limits`);
//! the others are host-wide.
//!
//! Check against them before calling to give users a better message than
//! the host's error:
//!
//! ```
//! use miniapp_sdk::limits;
//!
//! fn shorten(text: &str) -> &str {
//!     if text.len() <= limits::MAX_MESSAGE_BYTES {
//!         return text;
//!     }
//!     let mut end = limits::MAX_MESSAGE_BYTES;
//!     while !text.is_char_boundary(end) {
//!         end -= 1;
//!     }
//!     &text[..end]
//! }
//! assert_eq!(shorten("hi"), "hi");
//! assert_eq!(shorten(&"x".repeat(20_000)).len(), limits::MAX_MESSAGE_BYTES);
//! ```

/// Bytes of a message's text (and a file message's caption): 16 KiB.
/// `too-large` past it. `config.rs`: `Limits::max_message_bytes`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_MESSAGE_BYTES, 16384);
/// ```
pub const MAX_MESSAGE_BYTES: usize = 16 << 10;

/// Inline buttons under one message, all rows together: 100. `too-large`
/// past it. The host sets no limit per row (empty rows are dropped), so
/// [`MAX_BUTTONS_PER_ROW`] is the same number. `config.rs`:
/// `Limits::max_buttons`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_BUTTONS, 100);
/// ```
pub const MAX_BUTTONS: usize = 100;

/// Buttons in one row: the host counts only the message's total
/// ([`MAX_BUTTONS`]); clients show rows of more than a few buttons badly.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_BUTTONS_PER_ROW, 100);
/// ```
pub const MAX_BUTTONS_PER_ROW: usize = MAX_BUTTONS;

/// Bytes of a button's label: 64. `too-large` past it; a label must also
/// be one line of visible text (`invalid`). `config.rs`:
/// `Limits::max_button_label_bytes`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_BUTTON_LABEL_BYTES, 64);
/// ```
pub const MAX_BUTTON_LABEL_BYTES: usize = 64;

/// Bytes of a button's data: 256. `too-large` past it. `config.rs`:
/// `Limits::max_button_data_bytes`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_BUTTON_DATA_BYTES, 256);
/// ```
pub const MAX_BUTTON_DATA_BYTES: usize = 256;

/// Messages one invocation may send (sends, direct messages, notifications,
/// file messages and invoices together): 20, *per app*. `rate-limited`
/// past it. `config.rs`: `AppLimits::messages_per_invocation`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MESSAGES_PER_INVOCATION, 20);
/// ```
pub const MESSAGES_PER_INVOCATION: u32 = 20;

/// Messages the app may send into one chat per minute: 60, *per app*.
/// `rate-limited` past it. `config.rs`:
/// `AppLimits::messages_per_chat_per_minute`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MESSAGES_PER_CHAT_PER_MINUTE, 60);
/// ```
pub const MESSAGES_PER_CHAT_PER_MINUTE: u32 = 60;

/// Most messages [`crate::messaging::history`] returns: 100.
/// `capabilities/messaging/mod.rs`: `HISTORY_LIMIT`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::HISTORY_LIMIT, 100);
/// ```
pub const HISTORY_LIMIT: u32 = 100;

/// Bytes of a storage key: 256; keys must also be non-empty and hold no
/// NUL (`invalid`). `too-large` past it. `config.rs`: `Limits::max_key_bytes`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_KEY_BYTES, 256);
/// ```
pub const MAX_KEY_BYTES: usize = 256;

/// Bytes of a storage value: 64 KiB. `too-large` past it. `config.rs`:
/// `Limits::max_value_bytes`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_VALUE_BYTES, 65536);
/// ```
pub const MAX_VALUE_BYTES: usize = 64 << 10;

/// Keys the app may keep in storage, all buckets together: 10,000, *per
/// app*. `quota-exceeded` past it. `config.rs`: `AppLimits::storage_keys`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::STORAGE_KEYS, 10000);
/// ```
pub const STORAGE_KEYS: u64 = 10_000;

/// Bytes (keys and values) the app may keep in storage: 10 MiB, *per app*.
/// `quota-exceeded` past it. `config.rs`: `AppLimits::storage_bytes`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::STORAGE_BYTES, 10485760);
/// ```
pub const STORAGE_BYTES: u64 = 10 << 20;

/// Keys in one `get_many`, `set_many` or `delete_many`: 100. `too-large`
/// past it. `capabilities/storage/mod.rs`: `MAX_BATCH`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_BATCH, 100);
/// ```
pub const MAX_BATCH: usize = 100;

/// Keys in one [`crate::storage::Bucket::list_keys`] page: 100.
/// `capabilities/storage/mod.rs`: `PAGE_SIZE`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::LIST_PAGE_SIZE, 100);
/// ```
pub const LIST_PAGE_SIZE: usize = 100;

/// Longest storage time-to-live, in milliseconds (about ten years);
/// `invalid` past it, and for 0. `capabilities/storage/mod.rs`: `MAX_TTL_MS`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_TTL_MS, 316224000000);
/// ```
pub const MAX_TTL_MS: u64 = 10 * 366 * 24 * 60 * 60 * 1000;

/// Bytes of a document to sign: 256 KiB. `too-large` past it.
/// `capabilities/identity/mod.rs`: `MAX_DOCUMENT_BYTES`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_DOCUMENT_BYTES, 262144);
/// ```
pub const MAX_DOCUMENT_BYTES: usize = 256 << 10;

/// Bytes of a signature request's or an invoice's title: 200. `too-large`
/// past it; one line of visible text (`invalid`).
/// `capabilities/identity/mod.rs`: `MAX_TITLE_BYTES`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_TITLE_BYTES, 200);
/// ```
pub const MAX_TITLE_BYTES: usize = 200;

/// Signature requests one invocation may make: 5. `rate-limited` past it.
/// `config.rs`: `Limits::signatures_per_invocation`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::SIGNATURES_PER_INVOCATION, 5);
/// ```
pub const SIGNATURES_PER_INVOCATION: u32 = 5;

/// Unanswered signature requests of the app per user: 20. `rate-limited`
/// past it. `config.rs`: `Limits::pending_signatures_per_user`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::PENDING_SIGNATURES_PER_USER, 20);
/// ```
pub const PENDING_SIGNATURES_PER_USER: u32 = 20;

/// Bytes of an idempotency, refund or transfer key: 128 (non-empty).
/// `too-large` past it. `capabilities/payments/mod.rs`: `MAX_KEY_BYTES`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_PAYMENT_KEY_BYTES, 128);
/// ```
pub const MAX_PAYMENT_KEY_BYTES: usize = 128;

/// Largest amount of one invoice, refund or transfer, in minor units.
/// `invalid` past it (and for 0). `store/ledger.rs`: `MAX_AMOUNT`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_AMOUNT, 1000000000000);
/// ```
pub const MAX_AMOUNT: u64 = 1_000_000_000_000;

/// Bytes of a timer's payload: 4 KiB. `too-large` past it.
/// `capabilities/schedule/mod.rs`: `MAX_PAYLOAD_BYTES`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_TIMER_PAYLOAD_BYTES, 4096);
/// ```
pub const MAX_TIMER_PAYLOAD_BYTES: usize = 4 << 10;

/// How far ahead a timer may be set, in milliseconds (a year, 366 days).
/// `invalid` past it. `capabilities/schedule/mod.rs`: `MAX_AHEAD_MS`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_TIMER_AHEAD_MS, 31622400000);
/// ```
pub const MAX_TIMER_AHEAD_MS: u64 = 366 * 24 * 60 * 60 * 1000;

/// Timers one invocation may set: 100. `rate-limited` past it.
/// `capabilities/schedule/mod.rs`: `MAX_SETS_PER_INVOCATION`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::TIMERS_PER_INVOCATION, 100);
/// ```
pub const TIMERS_PER_INVOCATION: usize = 100;

/// Timers the app may have pending, all chats together: 1,000, *per app*.
/// `quota-exceeded` past it. `config.rs`: `AppLimits::pending_timers`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::PENDING_TIMERS, 1000);
/// ```
pub const PENDING_TIMERS: u32 = 1_000;

/// `notify` messages to one user per hour: 10, *per app*. `rate-limited`
/// past it. `config.rs`: `AppLimits::notifications_per_user_per_hour`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::NOTIFICATIONS_PER_USER_PER_HOUR, 10);
/// ```
pub const NOTIFICATIONS_PER_USER_PER_HOUR: u32 = 10;

/// Bytes of one live-page publish: 16 KiB. `too-large` past it.
/// `capabilities/pages/mod.rs`: `MAX_DATA_BYTES`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_PAGE_DATA_BYTES, 16384);
/// ```
pub const MAX_PAGE_DATA_BYTES: usize = 16 << 10;

/// Publishes one invocation may make: 20. `rate-limited` past it.
/// `capabilities/pages/mod.rs`: `MAX_PER_INVOCATION`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::PAGE_PUBLISHES_PER_INVOCATION, 20);
/// ```
pub const PAGE_PUBLISHES_PER_INVOCATION: usize = 20;

/// Publishes per chat per minute: 300. `rate-limited` past it.
/// `capabilities/pages/mod.rs`: `MAX_PER_CHAT_PER_MINUTE`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::PAGE_PUBLISHES_PER_CHAT_PER_MINUTE, 300);
/// ```
pub const PAGE_PUBLISHES_PER_CHAT_PER_MINUTE: u32 = 300;

/// Largest chunk one [`crate::files::read`] returns: 1 MiB. `too-large`
/// past it. `capabilities/files/mod.rs`: `MAX_READ_BYTES`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_FILE_READ_BYTES, 1048576);
/// ```
pub const MAX_FILE_READ_BYTES: u32 = 1 << 20;

/// Files one invocation may make: 10. `rate-limited` past it.
/// `capabilities/files/mod.rs`: `MAX_CREATED_PER_INVOCATION`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::FILES_PER_INVOCATION, 10);
/// ```
pub const FILES_PER_INVOCATION: usize = 10;

/// Files one message carries: 10. `too-large` past it.
/// `store/files.rs`: `MAX_PER_MESSAGE`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::FILES_PER_MESSAGE, 10);
/// ```
pub const FILES_PER_MESSAGE: usize = 10;

/// Bytes of a file's name: 255. `too-large` past it.
/// `media/intake.rs`: `MAX_NAME_BYTES`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_FILE_NAME_BYTES, 255);
/// ```
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Bytes of one file: 20 MiB (`--max-file-mib`). `too-large` past it.
/// `config.rs`: `FileLimits::max_file_bytes`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_FILE_BYTES, 20971520);
/// ```
pub const MAX_FILE_BYTES: u64 = 20 << 20;

/// Bytes the guest may pass the host in one call: 1 MiB. Past it the
/// invocation ends (a trap, not an error), so a file an app makes is at
/// most about this size. `config.rs`: `Limits::hostcall_fuel_bytes`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_HOST_CALL_BYTES, 1048576);
/// ```
pub const MAX_HOST_CALL_BYTES: usize = 1 << 20;

/// Host calls one invocation may make: 1,000 (`--max-host-calls`). Past
/// it the invocation ends. `config.rs`: `Limits::max_host_calls_per_invocation`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::HOST_CALLS_PER_INVOCATION, 1000);
/// ```
pub const HOST_CALLS_PER_INVOCATION: u32 = 1_000;

/// Bytes of one log line: 4 KiB; longer lines are cut (`… [cut]`).
/// `config.rs`: `Limits::max_log_line_bytes`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_LOG_LINE_BYTES, 4096);
/// ```
pub const MAX_LOG_LINE_BYTES: usize = 4 << 10;

/// Log bytes per invocation: 64 KiB; later lines are dropped, with one
/// warning. `config.rs`: `Limits::log_bytes_per_invocation`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::LOG_BYTES_PER_INVOCATION, 65536);
/// ```
pub const LOG_BYTES_PER_INVOCATION: usize = 64 << 10;

/// Bytes of a config key: 256. `capabilities/config.rs`: `MAX_KEY_BYTES`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_CONFIG_KEY_BYTES, 256);
/// ```
pub const MAX_CONFIG_KEY_BYTES: usize = 256;

/// Bytes of an outbound HTTP response body the host lets through: 1 MiB
/// (`HTTP-response-body-size` past it).
/// `capabilities/http/mod.rs`: `MAX_RESPONSE_BYTES`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::MAX_HTTP_RESPONSE_BYTES, 1048576);
/// ```
pub const MAX_HTTP_RESPONSE_BYTES: usize = 1 << 20;

/// How long an invoice stays payable on a host with default settings, in
/// milliseconds: 24 hours (the operator's `--invoice-ttl-secs`). Past it an
/// unpaid invoice is `expired`: it can be neither paid, cancelled nor
/// refunded (`invalid`). `config.rs`: `Limits::invoice_ttl`.
///
/// ```
/// assert_eq!(miniapp_sdk::limits::INVOICE_TTL_MS, 24 * 60 * 60 * 1000);
/// ```
pub const INVOICE_TTL_MS: u64 = 24 * 60 * 60 * 1000;
