//! `echo-bot`: replies to `/echo <text>` with exactly `<text>`, and to
//! `/count` with how many messages it has seen in this chat; says
//! "Welcome!" to each new member of a chat it is in.

use miniapp_sdk::{Bot, MemberJoined, Message, messaging, storage};

struct EchoBot;

impl Bot for EchoBot {
    fn on_message(msg: Message) -> Result<(), String> {
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
            messaging::send(&msg.chat, text).map_err(|e| e.code().to_string())?;
        } else if msg.command("/count").is_some() {
            let reply = match counted {
                Ok(n) => n.to_string(),
                Err(e) => format!("cannot count: {}", e.code()),
            };
            messaging::send(&msg.chat, &reply).map_err(|e| e.code().to_string())?;
        }
        Ok(())
    }

    fn on_member_joined(joined: MemberJoined) -> Result<(), String> {
        messaging::send(&joined.chat, "Welcome!").map_err(|e| e.code().to_string())?;
        Ok(())
    }
}

miniapp_sdk::bot!(EchoBot);
