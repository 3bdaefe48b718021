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
        /// Its text (the caption, when it carries files).
        text: String,
        /// Its files, in order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<crate::store::files::Attachment>,
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
    /// Someone became a member of a chat where the app is installed.
    MemberJoined {
        /// The chat.
        chat: String,
        /// The new member's platform account.
        account: String,
        /// The member who added or invited them.
        by: Option<String>,
    },
    /// A member left, or was removed from, a chat where the app is installed.
    MemberLeft {
        /// The chat.
        chat: String,
        /// The former member's platform account.
        account: String,
        /// The member who removed them; `None` when they left.
        by: Option<String>,
    },
    /// An app (this one, or another) was installed in a chat where the app is.
    AppInstalled {
        /// The chat.
        chat: String,
        /// The installed app.
        app: String,
        /// The member who installed it.
        by: String,
    },
    /// Another app was uninstalled from a chat where the app is installed.
    AppRemoved {
        /// The chat.
        chat: String,
        /// The uninstalled app.
        app: String,
        /// The member who uninstalled it.
        by: String,
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
    /// Its kind: `message`, `button`, `payment`, `signature`, `timer`,
    /// `webhook`, `member_joined`, `member_left`, `app_installed` or
    /// `app_removed` (the `kind` column of the job queue, and the JSON tag).
    pub fn kind(&self) -> &'static str {
        match self {
            BotEvent::Message { .. } => "message",
            BotEvent::Button { .. } => "button",
            BotEvent::Payment { .. } => "payment",
            BotEvent::Signature { .. } => "signature",
            BotEvent::Timer { .. } => "timer",
            BotEvent::Webhook { .. } => "webhook",
            BotEvent::MemberJoined { .. } => "member_joined",
            BotEvent::MemberLeft { .. } => "member_left",
            BotEvent::AppInstalled { .. } => "app_installed",
            BotEvent::AppRemoved { .. } => "app_removed",
        }
    }

    /// Whether the app is owed this event whatever becomes of it in the
    /// chat: a payment or a signature decision (the money has moved, the
    /// decision is made), or a webhook delivery (its sender was told 202).
    /// Everything else is chat traffic — timers included — which an app
    /// misses while it is suspended and loses when it is uninstalled from
    /// the chat. The store's list of such kinds is [`OWED_KINDS`].
    pub fn is_owed(&self) -> bool {
        match self {
            BotEvent::Payment { .. } | BotEvent::Signature { .. } | BotEvent::Webhook { .. } => true,
            BotEvent::Message { .. }
            | BotEvent::Button { .. }
            | BotEvent::Timer { .. }
            | BotEvent::MemberJoined { .. }
            | BotEvent::MemberLeft { .. }
            | BotEvent::AppInstalled { .. }
            | BotEvent::AppRemoved { .. } => false,
        }
    }

    /// The message text, for message events.
    pub fn text(&self) -> Option<&str> {
        match self {
            BotEvent::Message { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The WIT event for the app `me`, with platform accounts replaced by
    /// `scoped(account)` (the id the app knows the person by).
    pub(super) fn into_wit(self, me: &str, scoped: impl Fn(&str) -> String) -> wit::Event {
        match self {
            BotEvent::Message {
                chat,
                message,
                text,
                files,
            } => wit::Event::Message(wit::MessageEvent {
                chat,
                message,
                text,
                files: files.iter().map(crate::capabilities::files::file_info).collect(),
            }),
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
            BotEvent::MemberJoined { chat, account, by } => wit::Event::MemberJoined(wit::MemberEvent {
                chat,
                user: scoped(&account),
                by: by.as_deref().map(&scoped),
            }),
            BotEvent::MemberLeft { chat, account, by } => wit::Event::MemberLeft(wit::MemberEvent {
                chat,
                user: scoped(&account),
                by: by.as_deref().map(&scoped),
            }),
            BotEvent::AppInstalled { chat, app, by } => wit::Event::AppInstalled(wit::AppEvent {
                chat,
                this_app: app == me,
                app,
                by: scoped(&by),
            }),
            BotEvent::AppRemoved { chat, app, by } => wit::Event::AppRemoved(wit::AppEvent {
                chat,
                this_app: app == me,
                app,
                by: scoped(&by),
            }),
        }
    }
}

/// The kinds of [`BotEvent::is_owed`] events, as the job queue stores them.
pub const OWED_KINDS: [&str; 3] = ["payment", "signature", "webhook"];

#[cfg(test)]
mod tests {
    use super::{BotEvent, OWED_KINDS};
    use crate::capabilities::bindings::exports::miniapp::platform::handler as wit;

    fn every_kind() -> Vec<BotEvent> {
        let s = |v: &str| v.to_string();
        vec![
            BotEvent::Message {
                chat: s("c"),
                message: s("m"),
                text: s("t"),
                files: Vec::new(),
            },
            BotEvent::Button {
                chat: s("c"),
                message: s("m"),
                data: s("d"),
                account: s("acct-1"),
            },
            BotEvent::Payment {
                id: s("p"),
                invoice: s("i"),
                chat: s("c"),
                amount: 1,
                currency: s("RUB"),
            },
            BotEvent::Signature {
                id: s("s"),
                chat: s("c"),
                account: s("acct-1"),
                signed: true,
            },
            BotEvent::Timer {
                id: s("t"),
                chat: Some(s("c")),
                account: Some(s("acct-1")),
                payload: s("p"),
                scheduled_at: 5,
                recurring: true,
            },
            BotEvent::Webhook {
                name: s("carrier"),
                method: s("POST"),
                path: s("/v2?x=1"),
                headers: vec![(s("content-type"), s("application/json"))],
                body: vec![0, 159, 146, 150, b'{'],
                received_at: 7,
            },
            BotEvent::MemberJoined {
                chat: s("c"),
                account: s("acct-1"),
                by: Some(s("acct-2")),
            },
            BotEvent::MemberLeft {
                chat: s("c"),
                account: s("acct-1"),
                by: None,
            },
            BotEvent::AppInstalled {
                chat: s("c"),
                app: s("app-1"),
                by: s("acct-2"),
            },
            BotEvent::AppRemoved {
                chat: s("c"),
                app: s("app-1"),
                by: s("acct-2"),
            },
        ]
    }

    #[test]
    fn every_kind_is_stored_under_its_kind_and_read_back_the_same() {
        for event in every_kind() {
            let json = serde_json::to_value(&event).expect("serializes");
            assert_eq!(json["kind"], event.kind(), "{json}");
            let back: BotEvent = serde_json::from_value(json).expect("reads back");
            assert_eq!(back, event);
            assert_eq!(
                OWED_KINDS.contains(&event.kind()),
                event.is_owed(),
                "OWED_KINDS lists exactly the owed kinds: {}",
                event.kind()
            );
        }
    }

    #[test]
    fn lifecycle_events_reach_the_app_with_app_scoped_ids_only() {
        let scoped = |account: &str| format!("scoped({account})");
        let joined = BotEvent::MemberJoined {
            chat: "c".into(),
            account: "acct-1".into(),
            by: Some("acct-2".into()),
        };
        match joined.into_wit("app-9", scoped) {
            wit::Event::MemberJoined(e) => {
                assert_eq!(
                    (e.user.as_str(), e.by.as_deref()),
                    ("scoped(acct-1)", Some("scoped(acct-2)"))
                );
            }
            _ => panic!("a member-joined event"),
        }
        let left = BotEvent::MemberLeft {
            chat: "c".into(),
            account: "acct-1".into(),
            by: None,
        };
        match left.into_wit("app-9", scoped) {
            wit::Event::MemberLeft(e) => assert_eq!((e.user.as_str(), e.by), ("scoped(acct-1)", None)),
            _ => panic!("a member-left event"),
        }
        let installed = BotEvent::AppInstalled {
            chat: "c".into(),
            app: "app-1".into(),
            by: "acct-2".into(),
        };
        match installed.clone().into_wit("app-9", scoped) {
            wit::Event::AppInstalled(e) => {
                assert_eq!(
                    (e.app.as_str(), e.by.as_str(), e.this_app),
                    ("app-1", "scoped(acct-2)", false)
                );
            }
            _ => panic!("an app-installed event"),
        }
        match installed.into_wit("app-1", scoped) {
            wit::Event::AppInstalled(e) => assert!(e.this_app, "the installed app learns it is about itself"),
            _ => panic!("an app-installed event"),
        }
        let removed = BotEvent::AppRemoved {
            chat: "c".into(),
            app: "app-1".into(),
            by: "acct-2".into(),
        };
        match removed.into_wit("app-9", scoped) {
            wit::Event::AppRemoved(e) => {
                assert_eq!(
                    (e.app.as_str(), e.by.as_str(), e.this_app),
                    ("app-1", "scoped(acct-2)", false)
                );
            }
            _ => panic!("an app-removed event"),
        }
    }
}
