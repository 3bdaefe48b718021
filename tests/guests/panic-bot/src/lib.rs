//! Panics on every message.

use miniapp_sdk::{Bot, Message};

struct PanicBot;

impl Bot for PanicBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        panic!("deliberate panic while handling {:?}", msg.text);
    }
}

miniapp_sdk::bot!(PanicBot);
