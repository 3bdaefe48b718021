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
    /// A signed request reached one of the app's webhooks.
    Webhook {
        /// The webhook's name.
        name: String,
        /// The HTTP method.
        method: String,
        /// The path after `/hooks/{app}/{name}`, with the query.
        path: String,
        /// The headers handed on (lower-case names).
        headers: Vec<(String, String)>,
        /// The body, base64 (standard alphabet) in the stored JSON.
        #[serde(with = "base64_body")]
        body: Vec<u8>,
        /// When it was accepted, unix ms.
        received_at: i64,
    },
}

/// A webhook body as base64 text in the job's JSON (a byte array would be
/// four times its size there).
mod base64_body {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(body))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

impl BotEvent {
    /// Its kind: `message`, `button`, `payment`, `signature`, `timer` or `webhook`.
    pub fn kind(&self) -> &'static str {
        match self {
            BotEvent::Message { .. } => "message",
            BotEvent::Button { .. } => "button",
            BotEvent::Payment { .. } => "payment",
            BotEvent::Signature { .. } => "signature",
            BotEvent::Timer { .. } => "timer",
            BotEvent::Webhook { .. } => "webhook",
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
            BotEvent::Webhook {
                name,
                method,
                path,
                headers,
                body,
                received_at,
            } => wit::Event::Webhook(wit::WebhookEvent {
                name,
                method,
                path,
                headers,
                body,
                received_at: u64::try_from(received_at).unwrap_or(0),
            }),
        }
    }
}
