//! `echo-bot`: replies to `/echo <text>` with exactly `<text>` (to `/echo`
//! alone with a usage line), and to `/count` with how many messages it has
//! seen in this chat; says "Welcome!" to each new member of a chat it is
//! in.

use miniapp_sdk::{Bot, Error, MemberJoined, Message, messaging, storage};

struct EchoBot;

/// The answer to `/echo` with nothing to echo.
const ECHO_USAGE: &str = "usage: /echo <text>";

impl Bot for EchoBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        let key = format!("seen:{}", msg.chat);
        let app = storage::app();
        // Count every message, commands included; a denied or failing
        // storage call must not stop the echo from working.
        let seen = match app.get_u64(&key) {
            Ok(n) => Ok(n + 1),
            Err(miniapp_sdk::Error::NotFound) => Ok(1),
            Err(e) => Err(e),
        };
        let counted = seen.clone().and_then(|n| app.set_u64(&key, n).map(|()| n));

        if let Some(text) = msg.command("/echo") {
            let echoed = (!text.trim().is_empty()).then(|| messaging::send(&msg.chat, text));
            match echoed {
                Some(Ok(_)) => {}
                // Nothing to echo, or nothing the host would show (it
                // answers `invalid`): failing would only be retried in vain.
                None | Some(Err(Error::Invalid(_))) => {
                    messaging::send(&msg.chat, ECHO_USAGE)?;
                }
                Some(Err(e)) => return Err(e.into()),
            }
        } else if msg.command("/count").is_some() {
            let reply = match counted {
                Ok(n) => n.to_string(),
                Err(e) => format!("cannot count: {}", e.code()),
            };
            messaging::send(&msg.chat, &reply)?;
        }
        Ok(())
    }

    fn on_member_joined(joined: MemberJoined) -> miniapp_sdk::Result {
        messaging::send(&joined.chat, "Welcome!")?;
        Ok(())
    }
}

miniapp_sdk::bot!(EchoBot);

#[cfg(test)]
mod tests {
    use super::EchoBot;
    use miniapp_sdk::testing::{Bucket, Harness};
    use miniapp_sdk::{Error, limits};

    /// The grants of `miniapp.toml`.
    fn host() -> Harness {
        Harness::new()
            .named("echo-bot")
            .grant("messaging.send")
            .grant("messaging.read")
            .grant("storage")
    }

    #[test]
    fn echo_replies_with_exactly_the_text() {
        let mut t = host();
        t.message::<EchoBot>("chat-1", "alice", "/echo hello  world").unwrap();
        let sent = t.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].chat.as_str(), sent[0].text.as_str()),
            ("chat-1", "hello  world")
        );
        assert!(sent[0].buttons.is_empty());
    }

    #[test]
    fn echo_with_nothing_to_echo_answers_a_usage_line() {
        let mut t = host();
        for text in ["/echo", "/echo ", "/echo    ", "/echo \u{200B}", "/echo@echo-bot"] {
            t.message::<EchoBot>("chat-1", "alice", text).unwrap();
            assert_eq!(t.last_sent().unwrap().text, "usage: /echo <text>", "{text:?}");
        }
        assert_eq!(t.sent().len(), 5);
    }

    #[test]
    fn the_addressed_form_echoes_too() {
        let mut t = host();
        t.message::<EchoBot>("chat-1", "alice", "/echo@echo-bot hi there")
            .unwrap();
        assert_eq!(t.last_sent().unwrap().text, "hi there");
    }

    #[test]
    fn count_counts_every_message_of_the_chat_only() {
        let mut t = host();
        t.message::<EchoBot>("chat-1", "alice", "good morning").unwrap();
        t.message::<EchoBot>("chat-1", "bob", "/echo hi").unwrap();
        t.message::<EchoBot>("chat-2", "carol", "elsewhere").unwrap();
        t.message::<EchoBot>("chat-1", "alice", "/count").unwrap();
        assert_eq!(t.last_sent().unwrap().text, "3");
        assert_eq!(t.storage(Bucket::App).get_str("seen:chat-2").as_deref(), Some("1"));
    }

    #[test]
    fn new_members_are_welcomed() {
        let mut t = host().install("chat-1", &["alice"]);
        t.member_joined::<EchoBot>("chat-1", "bob", Some("alice")).unwrap();
        assert_eq!(t.sent_in("chat-1")[0].text, "Welcome!");
    }

    #[test]
    fn without_storage_echo_still_works_and_count_says_why_not() {
        let mut t = Harness::new().grant("messaging.send");
        t.message::<EchoBot>("chat-1", "alice", "/echo still here").unwrap();
        t.message::<EchoBot>("chat-1", "alice", "/count").unwrap();
        let texts: Vec<String> = t.sent().into_iter().map(|m| m.text).collect();
        assert_eq!(texts, ["still here", "cannot count: denied"]);
        assert!(t.logs().iter().any(|l| l.message == "denied: storage (not granted)"));
    }

    #[test]
    fn an_echo_too_long_fails_and_stores_nothing() {
        let mut t = host();
        let long = "x".repeat(limits::MAX_MESSAGE_BYTES + 1);
        let err = t
            .message::<EchoBot>("chat-1", "alice", &format!("/echo {long}"))
            .unwrap_err();
        assert!(matches!(err.error(), Some(Error::TooLarge(_))));
        assert!(err.to_string().contains("the limit is 16384"), "{err}");
        // One transaction: the count written before the failed send is gone too.
        assert!(t.sent().is_empty());
        assert_eq!(t.storage(Bucket::App).get("seen:chat-1"), None);
    }
}
