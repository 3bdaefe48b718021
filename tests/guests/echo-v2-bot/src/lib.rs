//! A second version of `echo-bot` (same app name, its own behaviour):
//! replies to `/echo <text>` with `v2: <text>`, so a test can tell which
//! version is running.

use miniapp_sdk::{Bot, Message, messaging};

struct EchoV2;

impl Bot for EchoV2 {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        if let Some(text) = msg.command("/echo") {
            messaging::send(&msg.chat, &format!("v2: {text}"))?;
        }
        Ok(())
    }
}

miniapp_sdk::bot!(EchoV2);
