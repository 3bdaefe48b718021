//! Events as services describe them, turned into the WIT types here (with
//! platform account ids replaced by app-scoped ids).

use crate::capabilities::bindings::exports::miniapp::platform::handler as wit;

/// An event for a bot. Stored as JSON in the job queue
/// (`{"kind":"message",...}`), so its serialized form is part of the schema.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BotEvent {
    /// A message in a chat where the app is installed.
    Message {
        /// The chat.
        chat: String,
        /// The message id.
        message: String,
        /// Its text.
        text: String,
    },
    /// A press on one of the app's inline buttons.
    Button {
        /// The chat.
        chat: String,
        /// The message the button is under.
        message: String,
        /// The button's data.
        data: String,
        /// The presser's platform account.
        account: String,
    },
    /// An invoice of the app was paid.
    Payment {
        /// The payment event's id (apps de-duplicate on it).
        id: String,
        /// The invoice.
        invoice: String,
        /// The chat.
        chat: String,
        /// Minor units.
        amount: u64,
        /// ISO code.
        currency: String,
    },
    /// A user answered a signature request.
    Signature {
        /// The request id.
        id: String,
        /// The chat it was requested in.
        chat: String,
        /// The signer's platform account.
        account: String,
        /// Signed (true) or declined.
        signed: bool,
    },
    /// A timer of the app fell due (see [`crate::store::timers`]).
    Timer {
        /// The timer's id, or the manifest schedule's name.
        id: String,
        /// Its chat; `None` for a manifest schedule.
        chat: Option<String>,
        /// The platform account it was set for, if any.
        account: Option<String>,
        /// The payload it was set with.
        payload: String,
        /// When it was due, unix ms.
        scheduled_at: i64,
        /// Whether it fires again.
        recurring: bool,
    },
}

impl BotEvent {
    /// Its kind: `message`, `button`, `payment`, `signature` or `timer`.
    pub fn kind(&self) -> &'static str {
        match self {
            BotEvent::Message { .. } => "message",
            BotEvent::Button { .. } => "button",
            BotEvent::Payment { .. } => "payment",
            BotEvent::Signature { .. } => "signature",
            BotEvent::Timer { .. } => "timer",
        }
    }

    /// The message text, for message events.
    pub fn text(&self) -> Option<&str> {
        match self {
            BotEvent::Message { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The WIT event, with platform accounts replaced by `scoped(account)`
    /// (the id the app knows the person by).
    pub(super) fn into_wit(self, scoped: impl Fn(&str) -> String) -> wit::Event {
        match self {
            BotEvent::Message { chat, message, text } => wit::Event::Message(wit::MessageEvent { chat, message, text }),
            BotEvent::Button {
                chat,
                message,
                data,
                account,
            } => wit::Event::Button(wit::ButtonEvent {
                chat,
                message,
                user: scoped(&account),
                data,
            }),
            BotEvent::Payment {
                id,
                invoice,
                chat,
                amount,
                currency,
            } => wit::Event::Payment(wit::PaymentEvent {
                id,
                invoice,
                chat,
                amount,
                currency,
            }),
            BotEvent::Signature {
                id,
                chat,
                account,
                signed,
            } => wit::Event::Signature(wit::SignatureEvent {
                id,
                chat,
                user: scoped(&account),
                status: if signed {
                    wit::SignatureStatus::Signed
                } else {
                    wit::SignatureStatus::Declined
                },
            }),
            BotEvent::Timer {
                id,
                chat,
                account,
                payload,
                scheduled_at,
                recurring,
            } => wit::Event::Timer(wit::TimerEvent {
                id,
                chat,
                user: account.as_deref().map(&scoped),
                payload,
                scheduled_at: u64::try_from(scheduled_at).unwrap_or(0),
                recurring,
            }),
        }
    }
}
